package supportaccess_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
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
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var tenants atomic.Int64

type env struct {
	db  *store.DB
	clk *clock
	svc *supportaccess.Service
	ids *identity.Service
	p   *provision.Provisioner
}

func setup(t *testing.T, db *store.DB) *env {
	clk := &clock{t: time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)}
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, clk.Now)
	recs := records.NewService(db, nil, clk.Now)
	objects := func(ctx context.Context, tid tenant.ID) ([]string, error) {
		objs, err := db.Objects(ctx, tid)
		var out []string
		for _, o := range objs {
			out = append(out, o.Name)
		}
		return out, err
	}
	return &env{db: db, clk: clk, svc: supportaccess.New(db, objects, clk.Now), ids: ids, p: provision.New(db, recs, ids, clk.Now)}
}

func (e *env) tenant(t *testing.T) (tenant.ID, tenant.Actor, tenant.Actor) {
	t.Helper()
	slug := "sa-" + strconv.FormatInt(tenants.Add(1), 10)
	res, err := e.p.CreateTenant(context.Background(), provision.Input{Slug: slug, Name: slug, AdminEmail: "admin@" + slug + ".example.com"})
	if err != nil {
		t.Fatal(err)
	}
	admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: "Ada", Role: access.RoleAdmin, IP: "198.51.100.7"}
	email, name, role := "second@"+slug+".example.com", "Bob", access.RoleAdmin
	nu, err := e.ids.CreateUser(context.Background(), admin, identity.UserInput{Email: &email, Name: &name, Role: &role})
	if err != nil {
		t.Fatal(err)
	}
	second := tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: nu.User.ID, Name: name, Role: access.RoleAdmin, IP: "198.51.100.8"}
	return res.Tenant.ID, admin, second
}

var op = supportaccess.Operator{ID: "op-1", Name: "Olga Operator", IP: "203.0.113.5"}

func testLifecycle(t *testing.T, db *store.DB) {
	e := setup(t, db)
	ctx := context.Background()
	tid, admin, _ := e.tenant(t)
	otherTID, otherAdmin, _ := e.tenant(t)
	g, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "the contact list shows no phone numbers", "SUP-77",
		supportaccess.Scope{Objects: []string{"contact", "account"}}, 48*time.Hour)
	if err != nil || g.State != supportaccess.Pending {
		t.Fatalf("request: %+v %v", g, err)
	}
	// Nothing before approval; nothing from another tenant's admin.
	if _, err := e.svc.Authorize(ctx, op.ID, tid, g.ID, "contact", false); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("pending grant authorized: %v", err)
	}
	if _, err := e.svc.Approve(ctx, otherAdmin, g.ID, "I approve", nil, 0); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("another tenant's admin approved: %v", err)
	}
	sales := admin
	sales.Role = access.RoleSales
	if _, err := e.svc.Approve(ctx, sales, g.ID, "I approve", nil, 0); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("a sales user approved: %v", err)
	}
	if _, err := e.svc.Approve(ctx, admin, g.ID, "  ", nil, 0); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("approval without a statement: %v", err)
	}
	narrow := supportaccess.Scope{Objects: []string{"contact"}}
	g, err = e.svc.Approve(ctx, admin, g.ID, "I, Ada, authorize read access to contacts for SUP-77.", &narrow, 4*time.Hour)
	if err != nil || g.State != supportaccess.Active || g.ExpiresAt == nil || !g.ExpiresAt.Equal(e.clk.Now().Add(4*time.Hour)) {
		t.Fatalf("approve: %+v %v", g, err)
	}
	if g.Approvals[0].IP != "198.51.100.7" || g.Approvals[0].AdminID != admin.UserID {
		t.Fatalf("approval record: %+v", g.Approvals[0])
	}
	if _, err := e.svc.Authorize(ctx, op.ID, tid, g.ID, "contact", false); err != nil {
		t.Fatalf("active grant refused: %v", err)
	}
	if found, err := e.svc.ActiveGrant(ctx, op.ID, tid, "contact", false); err != nil || found.ID != g.ID {
		t.Fatalf("active grant lookup: %+v %v", found, err)
	}
	for _, obj := range []string{"account", "lead"} {
		if _, err := e.svc.ActiveGrant(ctx, op.ID, tid, obj, false); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("active grant for %s: %v", obj, err)
		}
	}
	if _, err := e.svc.ActiveGrant(ctx, "op-2", tid, "contact", false); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("another operator's grant found: %v", err)
	}
	if err := e.svc.RecordUse(ctx, op, tid, g, "read", "contact", []string{"r1", "r2"}); err != nil {
		t.Fatal(err)
	}
	used, err := db.QueryAudit(ctx, tid, audit.Filter{Action: supportaccess.ActionUsed, Limit: 5})
	if err != nil || len(used) != 1 || used[0].ActorType != "operator" || used[0].Via != "grant:"+g.ID || used[0].Changes["ids"].After != "r1,r2" {
		t.Fatalf("use event: %+v %v", used, err)
	}
	for name, try := range map[string]func() error{
		"other operator": func() error { _, err := e.svc.Authorize(ctx, "op-2", tid, g.ID, "contact", false); return err },
		"narrowed away":  func() error { _, err := e.svc.Authorize(ctx, op.ID, tid, g.ID, "account", false); return err },
		"write":          func() error { _, err := e.svc.Authorize(ctx, op.ID, tid, g.ID, "contact", true); return err },
		"other tenant":   func() error { _, err := e.svc.Authorize(ctx, op.ID, otherTID, g.ID, "contact", false); return err },
		"unknown grant":  func() error { _, err := e.svc.Authorize(ctx, op.ID, tid, "nope", "contact", false); return err },
	} {
		if err := try(); !apperr.Is(err, apperr.KindForbidden) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Revocation stops the very next request.
	if _, err := e.svc.Revoke(ctx, admin, g.ID, "done, thank you"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authorize(ctx, op.ID, tid, g.ID, "contact", false); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("revoked grant authorized: %v", err)
	}
	if _, err := e.svc.Revoke(ctx, admin, g.ID, "again"); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("second revocation: %v", err)
	}
	// Expiry without anyone acting.
	g2, _ := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "again", "SUP-78", narrow, time.Hour)
	if _, err := e.svc.Approve(ctx, admin, g2.ID, "ok for an hour", nil, 0); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Hour)
	if _, err := e.svc.Authorize(ctx, op.ID, tid, g2.ID, "contact", false); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("expired grant authorized: %v", err)
	}
	list, err := e.svc.List(ctx, admin)
	if err != nil || len(list) != 2 || list[0].State != supportaccess.Expired || list[1].State != supportaccess.Revoked {
		t.Fatalf("list: %+v %v", list, err)
	}
	evs, err := db.QueryAudit(ctx, tid, audit.Filter{ObjectType: "support_access", Limit: 20})
	if err != nil || len(evs) != 5 {
		t.Fatalf("%d support events (%v)", len(evs), err)
	}
	if last := evs[len(evs)-1]; last.ActorType != "operator" || last.ActorID != op.ID || last.Via != "grant:"+g.ID {
		t.Fatalf("request event: %+v", last)
	}
}

func testTwoAdmins(t *testing.T, db *store.DB) {
	e := setup(t, db)
	ctx := context.Background()
	tid, admin, second := e.tenant(t)
	if err := e.svc.SetRequiredApprovals(ctx, admin, 3); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("three approvals: %v", err)
	}
	if err := e.svc.SetRequiredApprovals(ctx, admin, 2); err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "T-1", supportaccess.Scope{Objects: []string{"lead"}}, time.Hour)
	if err != nil || g.RequiredApprovals != 2 {
		t.Fatalf("request: %+v %v", g, err)
	}
	g, err = e.svc.Approve(ctx, admin, g.ID, "first", nil, 0)
	if err != nil || g.State != supportaccess.Pending {
		t.Fatalf("first approval: %+v %v", g, err)
	}
	if _, err := e.svc.Approve(ctx, admin, g.ID, "first again", nil, 0); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("same admin twice: %v", err)
	}
	if _, err := e.svc.Authorize(ctx, op.ID, tid, g.ID, "lead", false); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("one of two approvals authorized: %v", err)
	}
	g, err = e.svc.Approve(ctx, second, g.ID, "second", nil, 0)
	if err != nil || g.State != supportaccess.Active {
		t.Fatalf("second approval: %+v %v", g, err)
	}
}

func testConcurrentDecisions(t *testing.T, db *store.DB) {
	e := setup(t, db)
	ctx := context.Background()
	tid, admin, second := e.tenant(t)
	g, _ := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "T-2", supportaccess.Scope{Objects: []string{"lead"}}, time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, a := range []tenant.Actor{admin, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				_, errs[i] = e.svc.Approve(ctx, a, g.ID, "approve", nil, 0)
			} else {
				_, errs[i] = e.svc.Deny(ctx, a, g.ID, "deny")
			}
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("both or neither decision won: %v", errs)
	}
}

func TestServiceOnDatabase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, db) })
		t.Run("TwoAdmins", func(t *testing.T) { testTwoAdmins(t, db) })
		t.Run("ConcurrentDecisions", func(t *testing.T) { testConcurrentDecisions(t, db) })
	})
}
