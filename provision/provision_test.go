package provision_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type env struct {
	db   *store.DB
	ids  *identity.Service
	prov *provision.Provisioner
}

func setup(t *testing.T, db *store.DB) env {
	t.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, clock)
	return env{db: db, ids: ids, prov: provision.New(db, records.NewService(db, nil, clock), ids, clock)}
}

func valid() provision.Input {
	end := now.Add(365 * 24 * time.Hour)
	return provision.Input{Slug: "acme", Name: "Acme Ltd", AdminEmail: "admin@acme.example.com", AdminName: "Ada", ContractEnd: &end}
}

func (e env) tenants(t *testing.T) []tenant.Tenant {
	t.Helper()
	ts, err := e.db.Tenants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		in := valid()
		in.Slug, in.Name = "  ACME ", "  Acme Ltd  "
		res, err := e.prov.CreateTenant(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		tn := res.Tenant
		if tn.Slug != "acme" || tn.Name != "Acme Ltd" || tn.Status != tenant.StatusActive || !tenant.ValidID(string(tn.ID)) ||
			!tn.ContractStart.Equal(now) || !tn.CreatedAt.Equal(now) || tn.ContractEnd == nil || !tn.ContractEnd.Equal(*in.ContractEnd) {
			t.Fatalf("tenant %+v", tn)
		}
		stored, err := db.TenantBySlug(ctx, "acme")
		if err != nil || stored.ID != tn.ID || stored.ContractEnd == nil || !stored.ContractEnd.Equal(*in.ContractEnd) {
			t.Fatalf("stored %+v %v", stored, err)
		}
		// The first admin: must change the one-time password, which works.
		adm := res.Admin
		if adm.Role != access.RoleAdmin || adm.Email != "admin@acme.example.com" || adm.Name != "Ada" || !adm.MustChangePassword || adm.Status != identity.StatusActive {
			t.Fatalf("admin %+v", adm)
		}
		if len(res.OneTimePassword) != 16 || strings.Contains(adm.PasswordHash, res.OneTimePassword) {
			t.Fatalf("one-time password %q", res.OneTimePassword)
		}
		lr, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: "acme", Login: "admin@acme.example.com", Password: res.OneTimePassword})
		if err != nil || !lr.MustChangePassword || lr.User.ID != adm.ID {
			t.Fatalf("login with one-time password: %+v %v", lr, err)
		}
		// Exactly one user: no hidden accounts.
		users, _ := db.Users(ctx, tn.ID, "", 100)
		if len(users) != 1 || users[0].ID != adm.ID {
			t.Fatalf("users %+v", users)
		}
		// The audit trail starts with the tenant, then its admin, by the system.
		evs, _ := db.QueryAudit(ctx, tn.ID, audit.Filter{Limit: 100})
		var created []audit.Event
		for _, ev := range evs {
			if ev.Action != audit.ActionLoginSucceeded {
				created = append(created, ev)
			}
		}
		if len(created) != 2 || created[1].Action != audit.ActionTenantCreated || created[1].Seq != 1 ||
			created[0].Action != audit.ActionUserCreated || created[0].Seq != 2 || created[0].ObjectID != adm.ID {
			t.Fatalf("events %+v", created)
		}
		for _, ev := range created {
			if ev.ActorType != string(tenant.ActorSystem) || ev.ActorID != "" || !ev.At.Equal(now) {
				t.Fatalf("event %+v", ev)
			}
		}
		if created[1].Changes["slug"].After != "acme" {
			t.Fatalf("tenant event changes %+v", created[1].Changes)
		}
	})
}

func TestStandardObjectsSeeded(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		res, err := e.prov.CreateTenant(context.Background(), valid())
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Objects(context.Background(), res.Tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := records.StandardObjects()
		if len(got) != len(want) {
			t.Fatalf("%d objects", len(got))
		}
		for i, w := range want {
			g := got[i]
			if g.Name != w.Name || g.Label != w.Label || g.LabelZH != w.LabelZH || g.NameField != w.NameField || !g.Standard {
				t.Fatalf("object %d: %+v want %+v", i, g, w)
			}
			if len(g.Fields) != len(w.Fields) {
				t.Fatalf("%s: %d fields, want %d", w.Name, len(g.Fields), len(w.Fields))
			}
			for j, wf := range w.Fields {
				gf := g.Fields[j]
				if gf.Name != wf.Name || gf.Label != wf.Label || gf.LabelZH != wf.LabelZH || gf.Type != wf.Type ||
					gf.Required != wf.Required || gf.Custom || gf.LookupObject != wf.LookupObject || gf.MaxLength != wf.MaxLength ||
					gf.Position != j || strings.Join(gf.Options, ",") != strings.Join(wf.Options, ",") {
					t.Fatalf("%s.%s: %+v want %+v", w.Name, wf.Name, gf, wf)
				}
			}
		}
	})
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		past := now.Add(-time.Hour)
		cases := []struct {
			name  string
			mod   func(*provision.Input)
			field string
		}{
			{"empty slug", func(in *provision.Input) { in.Slug = "" }, "slug"},
			{"slug with underscore", func(in *provision.Input) { in.Slug = "ac_me" }, "slug"},
			{"slug leading hyphen", func(in *provision.Input) { in.Slug = "-acme" }, "slug"},
			{"slug too long", func(in *provision.Input) { in.Slug = strings.Repeat("a", 64) }, "slug"},
			{"slug unicode", func(in *provision.Input) { in.Slug = "ácme" }, "slug"},
			{"slug path", func(in *provision.Input) { in.Slug = "../acme" }, "slug"},
			{"empty name", func(in *provision.Input) { in.Name = "   " }, "name"},
			{"long name", func(in *provision.Input) { in.Name = strings.Repeat("名", 201) }, "name"},
			{"no admin", func(in *provision.Input) { in.AdminEmail, in.AdminPhone = "", "" }, "admin_email"},
			{"contract ended", func(in *provision.Input) { in.ContractEnd = &past }, "contract_end"},
			{"contract ends now", func(in *provision.Input) { n := now; in.ContractEnd = &n }, "contract_end"},
			// Admin details are validated by identity inside the transaction.
			{"bad admin e-mail", func(in *provision.Input) { in.AdminEmail = "not-an-email" }, "email"},
			{"bad admin phone", func(in *provision.Input) { in.AdminEmail, in.AdminPhone = "", "12" }, "phone"},
			{"long admin name", func(in *provision.Input) { in.AdminName = strings.Repeat("n", 101) }, "name"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := valid()
				c.mod(&in)
				_, err := e.prov.CreateTenant(context.Background(), in)
				ae, ok := apperr.As(err)
				if !ok || ae.Kind != apperr.KindInvalid {
					t.Fatalf("want invalid, got %v", err)
				}
				fields, _ := ae.Details["fields"].(map[string]string)
				if fields[c.field] == "" {
					t.Fatalf("fields %v lack %s", fields, c.field)
				}
				if n := len(e.tenants(t)); n != 0 {
					t.Fatalf("%d tenants left behind", n)
				}
			})
		}
		// A phone-only admin and an open-ended contract are fine; the
		// admin name defaults.
		in := valid()
		in.AdminEmail, in.AdminPhone, in.AdminName, in.ContractEnd = "", "+86 138 0013 8000", "", nil
		res, err := e.prov.CreateTenant(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Admin.Phone != "+8613800138000" || res.Admin.Name != "Administrator" || res.Tenant.ContractEnd != nil {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestDuplicateSlugLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		first, err := e.prov.CreateTenant(ctx, valid())
		if err != nil {
			t.Fatal(err)
		}
		for _, slug := range []string{"acme", "ACME", " acme "} {
			in := valid()
			in.Slug, in.Name, in.AdminEmail = slug, "Impostor", "evil@example.com"
			id := tenant.ID(tenant.NewID())
			in.ID = id
			_, err := e.prov.CreateTenant(ctx, in)
			if !apperr.Is(err, apperr.KindConflict) {
				t.Fatalf("slug %q: %v", slug, err)
			}
			if ae, _ := apperr.As(err); strings.Contains(strings.ToLower(ae.Message), "unique") || strings.Contains(ae.Message, "duplicate key") {
				t.Fatalf("driver text leaked: %q", ae.Message)
			}
			// Nothing of the attempt remains under its ID.
			if _, err := db.Tenant(ctx, id); !apperr.Is(err, apperr.KindNotFound) {
				t.Fatalf("tenant row left behind: %v", err)
			}
			if objs, _ := db.Objects(ctx, id); len(objs) != 0 {
				t.Fatalf("%d objects left behind", len(objs))
			}
			if users, _ := db.Users(ctx, id, "", 10); len(users) != 0 {
				t.Fatalf("users left behind")
			}
			if evs, _ := db.QueryAudit(ctx, id, audit.Filter{Limit: 10}); len(evs) != 0 {
				t.Fatalf("audit events left behind")
			}
		}
		ts := e.tenants(t)
		if len(ts) != 1 || ts[0].ID != first.Tenant.ID || ts[0].Name != "Acme Ltd" {
			t.Fatalf("tenants %+v", ts)
		}
		// The impostor's admin cannot sign in to the original tenant.
		if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: "acme", Login: "evil@example.com", Password: "whatever-it-was"}); !apperr.Is(err, apperr.KindUnauthenticated) {
			t.Fatalf("impostor login: %v", err)
		}
		users, _ := db.Users(ctx, first.Tenant.ID, "", 10)
		if len(users) != 1 {
			t.Fatalf("%d users in the original tenant", len(users))
		}
	})
}

func TestDuplicateTenantID(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		first, err := e.prov.CreateTenant(ctx, valid())
		if err != nil {
			t.Fatal(err)
		}
		in := valid()
		in.ID, in.Slug, in.AdminEmail = first.Tenant.ID, "other", "x@other.example.com"
		if _, err := e.prov.CreateTenant(ctx, in); !apperr.Is(err, apperr.KindConflict) {
			t.Fatalf("reused tenant id: %v", err)
		}
		users, _ := db.Users(ctx, first.Tenant.ID, "", 10)
		if len(users) != 1 {
			t.Fatalf("%d users: a second admin was slipped into the existing tenant", len(users))
		}
		if len(e.tenants(t)) != 1 {
			t.Fatal("tenant count changed")
		}
	})
}

func TestTwoTenantsSameAdminEmail(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		a, err := e.prov.CreateTenant(ctx, valid())
		if err != nil {
			t.Fatal(err)
		}
		in := valid()
		in.Slug = "globex"
		b, err := e.prov.CreateTenant(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if a.Admin.ID == b.Admin.ID || a.Tenant.ID == b.Tenant.ID {
			t.Fatal("shared identity across tenants")
		}
		// Each one-time password opens only its own tenant.
		if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: "globex", Login: "admin@acme.example.com", Password: a.OneTimePassword}); err == nil {
			t.Fatal("tenant A's password opened tenant B")
		}
		if _, err := e.ids.Login(ctx, identity.LoginInput{TenantSlug: "globex", Login: "admin@acme.example.com", Password: b.OneTimePassword}); err != nil {
			t.Fatal(err)
		}
	})
}
