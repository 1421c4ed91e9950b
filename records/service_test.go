package records_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/havencrm/haven/internal/testkeys"
	"github.com/havencrm/haven/keyring"
	"strconv"
	"strings"
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
	"github.com/havencrm/haven/tenant"
)

// clock is a fake clock tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	keys  *keyring.Keyring
	db    *store.DB
	clk   *clock
	recs  *records.Service
	ids   *identity.Service
	prov  *provision.Provisioner
	tid   tenant.ID
	admin tenant.Actor
	mgr   tenant.Actor
	sales tenant.Actor
	sale2 tenant.Actor
}

var tenants atomic.Int64

var cheap = identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}

func setup(t testing.TB, db *store.DB) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	hasher, err := identity.NewHasher(cheap)
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, clk.Now)
	keys := testkeys.Keyring(t, db, clk.Now)
	recs := records.NewService(db, keys, clk.Now)
	prov := provision.New(db, recs, ids, clk.Now)
	prov.SetKeyIssuer(keys)
	f := &fixture{db: db, clk: clk, recs: recs, ids: ids, prov: prov, keys: keys}
	f.tid, f.admin = f.newTenant(t, "acme")
	f.mgr = f.addUser(t, f.admin, "mgr@acme.example.com", access.RoleManager)
	f.sales = f.addUser(t, f.admin, "sam@acme.example.com", access.RoleSales)
	f.sale2 = f.addUser(t, f.admin, "sue@acme.example.com", access.RoleSales)
	return f
}

func (f *fixture) newTenant(t testing.TB, slug string) (tenant.ID, tenant.Actor) {
	t.Helper()
	// Cases share a database: every tenant gets a slug of its own.
	unique := slug + "-" + strconv.FormatInt(tenants.Add(1), 10)
	res, err := f.prov.CreateTenant(context.Background(), provision.Input{Slug: unique, Name: slug, AdminEmail: "admin@" + slug + ".example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Tenant.ID, tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: res.Admin.Name, Role: res.Admin.Role}
}

func (f *fixture) addUser(t testing.TB, admin tenant.Actor, email, role string) tenant.Actor {
	t.Helper()
	name := strings.Split(email, "@")[0]
	nu, err := f.ids.CreateUser(context.Background(), admin, identity.UserInput{Email: &email, Name: &name, Role: &role})
	if err != nil {
		t.Fatal(err)
	}
	return tenant.Actor{Kind: tenant.ActorUser, TenantID: admin.TenantID, UserID: nu.User.ID, Name: name, Role: role}
}

// vals turns Go values into API input; json.RawMessage values are passed
// through as they are.
func vals(kv map[string]any) records.Values {
	out := records.Values{}
	for k, v := range kv {
		if r, ok := v.(json.RawMessage); ok {
			out[k] = r
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out[k] = b
	}
	return out
}

func (f *fixture) create(t *testing.T, actor tenant.Actor, object string, kv map[string]any) records.Record {
	t.Helper()
	r, err := f.recs.Create(context.Background(), actor, object, "", vals(kv))
	if err != nil {
		t.Fatalf("create %s %v: %v", object, kv, err)
	}
	return r
}

func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindInvalid {
		t.Fatalf("want invalid, got %v", err)
	}
	fields, _ := ae.Details["fields"].(map[string]string)
	return fields
}

func wantKind(t *testing.T, err error, kind apperr.Kind) {
	t.Helper()
	if !apperr.Is(err, kind) {
		t.Fatalf("want %v, got %v", kind, err)
	}
}

func (f *fixture) audit(t *testing.T, flt audit.Filter) []audit.Event {
	t.Helper()
	if flt.Limit == 0 {
		flt.Limit = 10000
	}
	evs, err := f.db.QueryAudit(context.Background(), f.tid, flt)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func testRequiredFields(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	for _, kv := range []map[string]any{
		{},
		{"name": nil},
		{"name": ""},
		{"name": "   "},
		{"city": "Shanghai"},
	} {
		_, err := f.recs.Create(ctx, f.admin, "account", "", vals(kv))
		if fe := fieldErrors(t, err); fe["name"] != "is required" {
			t.Fatalf("create %v: fields %v", kv, fe)
		}
	}
	_, err := f.recs.Create(ctx, f.admin, "opportunity", "", vals(map[string]any{"name": "Deal"}))
	if fe := fieldErrors(t, err); fe["stage"] == "" || fe["name"] != "" {
		t.Fatalf("opportunity without stage: %v", fe)
	}
	if n := len(f.audit(t, audit.Filter{Action: audit.ActionRecordCreated})); n != 0 {
		t.Fatalf("%d records created", n)
	}

	r := f.create(t, f.admin, "account", map[string]any{"name": "Acme", "city": "Beijing"})
	for _, kv := range []map[string]any{{"name": nil}, {"name": ""}, {"name": " \t "}} {
		_, err := f.recs.Update(ctx, f.admin, "account", r.ID, r.Version, "", vals(kv))
		if fe := fieldErrors(t, err); fe["name"] != "is required" {
			t.Fatalf("update %v: fields %v", kv, fe)
		}
	}
	got, _ := f.recs.Get(ctx, f.admin, "account", r.ID)
	if got.Version != 1 || got.Fields["name"] != "Acme" {
		t.Fatalf("record changed by rejected updates: %+v", got)
	}
	// An update that leaves the required field alone keeps it; clearing
	// an optional field removes it.
	u, err := f.recs.Update(ctx, f.admin, "account", r.ID, 1, "", vals(map[string]any{"city": nil}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Fields["city"]; ok || u.Fields["name"] != "Acme" || u.Version != 2 {
		t.Fatalf("after clearing city: %+v", u)
	}
}

func testUnknownAndSystemFieldsRejected(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	for _, name := range []string{"nmae", "owner_id", "id", "version", "tenant_id", "created_by", "updated_at", "stage", "Name", "name ", "fields"} {
		_, err := f.recs.Create(ctx, f.sales, "account", "", vals(map[string]any{"name": "A", name: "x"}))
		if fe := fieldErrors(t, err); fe[name] != "unknown field" {
			t.Fatalf("%q: fields %v", name, fe)
		}
	}
	r := f.create(t, f.sales, "account", map[string]any{"name": "A"})
	_, err := f.recs.Update(ctx, f.sales, "account", r.ID, 1, "", vals(map[string]any{"owner_id": f.sale2.UserID}))
	if fe := fieldErrors(t, err); fe["owner_id"] != "unknown field" {
		t.Fatalf("owner_id through fields: %v", fe)
	}
	_, err = f.recs.Create(ctx, f.admin, "no_such_object", "", vals(map[string]any{"name": "A"}))
	wantKind(t, err, apperr.KindNotFound)
}

func testOptimisticConcurrency(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.admin, "account", map[string]any{"name": "Acme"})
	if r.Version != 1 {
		t.Fatalf("version %d", r.Version)
	}
	r2, err := f.recs.Update(ctx, f.admin, "account", r.ID, 1, "", vals(map[string]any{"city": "Hangzhou"}))
	if err != nil || r2.Version != 2 {
		t.Fatalf("update: %v %+v", err, r2)
	}
	for _, stale := range []int64{1, 3, 99} {
		_, err = f.recs.Update(ctx, f.mgr, "account", r.ID, stale, "", vals(map[string]any{"city": "Stale"}))
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.KindConflict {
			t.Fatalf("stale version %d: %v", stale, err)
		}
		if ae.Details["current_version"] != int64(2) {
			t.Fatalf("details %v", ae.Details)
		}
	}
	_, err = f.recs.Update(ctx, f.admin, "account", r.ID, 0, "", vals(map[string]any{"city": "X"}))
	if fe := fieldErrors(t, err); fe["version"] == "" {
		t.Fatalf("version 0: %v", fe)
	}
	err = f.recs.Delete(ctx, f.admin, "account", r.ID, 1)
	wantKind(t, err, apperr.KindConflict)
	got, _ := f.recs.Get(ctx, f.admin, "account", r.ID)
	if got.Fields["city"] != "Hangzhou" || got.Version != 2 {
		t.Fatalf("record %+v", got)
	}
	// An update that changes nothing keeps the version and adds no event.
	n := len(f.audit(t, audit.Filter{ObjectID: r.ID}))
	same, err := f.recs.Update(ctx, f.admin, "account", r.ID, 2, "", vals(map[string]any{"city": "Hangzhou"}))
	if err != nil || same.Version != 2 || len(f.audit(t, audit.Filter{ObjectID: r.ID})) != n {
		t.Fatalf("no-op update: %v version %d", err, same.Version)
	}
}

func testConcurrentUpdatersOneWinsPerVersion(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.admin, "account", map[string]any{"name": "Acme", "employees": 0})
	const n = 6
	for version := int64(1); version <= 3; version++ {
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = f.recs.Update(ctx, f.admin, "account", r.ID, version, "", vals(map[string]any{"employees": int(version)*100 + i}))
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case apperr.Is(err, apperr.KindConflict):
			default:
				t.Fatalf("version %d: unexpected error %v", version, err)
			}
		}
		if wins != 1 {
			t.Fatalf("version %d: %d updaters won (%v)", version, wins, errs)
		}
		got, _ := f.recs.Get(ctx, f.admin, "account", r.ID)
		if got.Version != version+1 {
			t.Fatalf("version after round: %d", got.Version)
		}
	}
	// One audit event per successful update, no more.
	if evs := f.audit(t, audit.Filter{Action: audit.ActionRecordUpdated, ObjectID: r.ID}); len(evs) != 3 {
		t.Fatalf("%d update events", len(evs))
	}
}

func testSalesSeesOnlyOwnRecords(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	mine1 := f.create(t, f.sales, "account", map[string]any{"name": "sam one"})
	mine2 := f.create(t, f.sales, "account", map[string]any{"name": "sam two"})
	adm := f.create(t, f.admin, "account", map[string]any{"name": "boss account"})
	sue := f.create(t, f.sale2, "account", map[string]any{"name": "sue account"})
	if mine1.OwnerID != f.sales.UserID || mine1.CreatedBy != f.sales.UserID {
		t.Fatalf("owner %q", mine1.OwnerID)
	}

	list := func(a tenant.Actor, q records.ListQuery) []string {
		t.Helper()
		var ids []string
		for {
			rs, next, err := f.recs.List(ctx, a, "account", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			if next == "" {
				return ids
			}
			q.Cursor = next
		}
	}
	got := list(f.sales, records.ListQuery{Limit: 1})
	if len(got) != 2 || !sameSet(got, mine1.ID, mine2.ID) {
		t.Fatalf("sales list %v", got)
	}
	// Trying to widen the list: filter by another owner, search their names.
	if got := list(f.sales, records.ListQuery{Filters: map[string]string{"owner_id": f.admin.UserID}}); len(got) != 0 {
		t.Fatalf("owner filter widened the list: %v", got)
	}
	if got := list(f.sales, records.ListQuery{Q: "account"}); len(got) != 0 {
		t.Fatalf("search reached others' records: %v", got)
	}
	if got := list(f.sales, records.ListQuery{Filters: map[string]string{"owner_id": f.sales.UserID}}); len(got) != 2 {
		t.Fatalf("own owner filter: %v", got)
	}
	if got := list(f.mgr, records.ListQuery{}); len(got) != 4 {
		t.Fatalf("manager sees %d", len(got))
	}
	if got := list(f.admin, records.ListQuery{Filters: map[string]string{"owner_id": f.sale2.UserID}}); len(got) != 1 || got[0] != sue.ID {
		t.Fatalf("admin owner filter %v", got)
	}

	for _, other := range []records.Record{adm, sue} {
		_, err := f.recs.Get(ctx, f.sales, "account", other.ID)
		wantKind(t, err, apperr.KindNotFound)
		_, err = f.recs.Update(ctx, f.sales, "account", other.ID, 1, "", vals(map[string]any{"name": "mine now"}))
		wantKind(t, err, apperr.KindNotFound)
		_, err = f.recs.Update(ctx, f.sales, "account", other.ID, 1, f.sales.UserID, nil)
		wantKind(t, err, apperr.KindNotFound)
		wantKind(t, f.recs.Delete(ctx, f.sales, "account", other.ID, 0), apperr.KindNotFound)
		_, _, err = f.recs.History(ctx, f.sales, "account", other.ID, 0, 10)
		wantKind(t, err, apperr.KindNotFound)
		if names := f.recs.Names(ctx, f.sales, "account", []string{other.ID}); len(names) != 0 {
			t.Fatalf("Names revealed %v", names)
		}
		got, _ := f.recs.Get(ctx, f.admin, "account", other.ID)
		if got.Version != 1 || got.OwnerID != other.OwnerID {
			t.Fatalf("record changed: %+v", got)
		}
	}
	// Missing and foreign records answer alike.
	_, errMissing := f.recs.Get(ctx, f.sales, "account", tenant.NewID())
	_, errForeign := f.recs.Get(ctx, f.sales, "account", adm.ID)
	if errMissing.Error() != errForeign.Error() {
		t.Fatalf("missing %q vs foreign %q", errMissing, errForeign)
	}

	// Sales users cannot give records away or create them for others.
	_, err := f.recs.Create(ctx, f.sales, "account", f.sale2.UserID, vals(map[string]any{"name": "gift"}))
	wantKind(t, err, apperr.KindForbidden)
	_, err = f.recs.Update(ctx, f.sales, "account", mine1.ID, 1, f.sale2.UserID, vals(map[string]any{"city": "X"}))
	wantKind(t, err, apperr.KindForbidden)
	if got, _ := f.recs.Get(ctx, f.sales, "account", mine1.ID); got.Version != 1 || got.OwnerID != f.sales.UserID {
		t.Fatalf("refused reassignment changed the record: %+v", got)
	}
	// Managers may assign, and the new owner then sees the record.
	given, err := f.recs.Create(ctx, f.mgr, "account", f.sales.UserID, vals(map[string]any{"name": "assigned"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.recs.Get(ctx, f.sales, "account", given.ID); err != nil {
		t.Fatalf("assigned record: %v", err)
	}
	moved, err := f.recs.Update(ctx, f.mgr, "account", mine2.ID, 1, f.sale2.UserID, nil)
	if err != nil || moved.OwnerID != f.sale2.UserID {
		t.Fatalf("reassign: %v", err)
	}
	_, err = f.recs.Get(ctx, f.sales, "account", mine2.ID)
	wantKind(t, err, apperr.KindNotFound)
	evs := f.audit(t, audit.Filter{ObjectID: mine2.ID, Action: audit.ActionRecordUpdated})
	if len(evs) != 1 || evs[0].Changes["owner_id"].Before != f.sales.UserID || evs[0].Changes["owner_id"].After != f.sale2.UserID {
		t.Fatalf("reassignment audit %+v", evs)
	}
}

// Assigning a record to someone who is not a user of the tenant makes it
// an orphan nobody owns (and lets a foreign user ID into the tenant).
func testOwnerMustBeAUserOfTheTenant(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	_, otherAdmin := f.newTenant(t, "globex")
	gone := f.addUser(t, f.admin, "gone@acme.example.com", access.RoleSales)
	if _, err := f.ids.Deactivate(ctx, f.admin, gone.UserID); err != nil {
		t.Fatal(err)
	}
	mine := f.create(t, f.mgr, "account", map[string]any{"name": "kept"})
	nonUsers := map[string]string{
		"unknown id":               tenant.NewID(),
		"another tenant's admin":   otherAdmin.UserID,
		"deactivated user":         gone.UserID,
		"not an id":                "not-a-user",
		"sql":                      "' OR '1'='1",
		"upper-cased real user id": strings.ToUpper(f.sales.UserID),
	}
	for name, owner := range nonUsers {
		r, err := f.recs.Create(ctx, f.mgr, "account", owner, vals(map[string]any{"name": "orphan"}))
		if err == nil {
			t.Errorf("create for %s: record assigned to %q", name, r.OwnerID)
			continue
		}
		if fe := fieldErrors(t, err); fe["owner_id"] == "" {
			t.Errorf("create for %s: fields %v", name, fe)
		}
		_, err = f.recs.Update(ctx, f.mgr, "account", mine.ID, 1, owner, nil)
		if err == nil {
			t.Errorf("update for %s: record reassigned", name)
			continue
		}
		if fe := fieldErrors(t, err); fe["owner_id"] == "" {
			t.Errorf("update for %s: fields %v", name, fe)
		}
	}
	got, _ := f.recs.Get(ctx, f.admin, "account", mine.ID)
	if got.OwnerID != f.mgr.UserID || got.Version != 1 {
		t.Fatalf("record changed: %+v", got)
	}
	// Assigning to an active user of the tenant works.
	if _, err := f.recs.Create(ctx, f.mgr, "account", f.sales.UserID, vals(map[string]any{"name": "given"})); err != nil {
		t.Fatal(err)
	}
}

func testCrossTenantIsolation(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	otherTID, other := f.newTenant(t, "globex")
	mine := f.create(t, f.admin, "account", map[string]any{"name": "acme secret"})
	theirs, err := f.recs.Create(ctx, other, "account", "", vals(map[string]any{"name": "globex secret"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.recs.Get(ctx, other, "account", mine.ID)
	wantKind(t, err, apperr.KindNotFound)
	_, err = f.recs.Update(ctx, other, "account", mine.ID, 1, "", vals(map[string]any{"name": "pwned"}))
	wantKind(t, err, apperr.KindNotFound)
	wantKind(t, f.recs.Delete(ctx, other, "account", mine.ID, 0), apperr.KindNotFound)
	// A lookup to another tenant's record is refused.
	_, err = f.recs.Create(ctx, f.admin, "contact", "", vals(map[string]any{"name": "c", "account_id": theirs.ID}))
	if fe := fieldErrors(t, err); fe["account_id"] == "" {
		t.Fatalf("cross-tenant lookup: %v", fe)
	}
	rs, _, err := f.recs.List(ctx, other, "account", records.ListQuery{Q: "secret"})
	if err != nil || len(rs) != 1 || rs[0].ID != theirs.ID {
		t.Fatalf("other tenant list %v %v", rs, err)
	}
	// A schema change in one tenant stays there.
	if _, err := f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "tier", Label: "Tier", Type: records.TypeText}); err != nil {
		t.Fatal(err)
	}
	o, _ := f.recs.Object(ctx, other, "account")
	if _, ok := o.Field("tier__c"); ok {
		t.Fatal("custom field leaked into another tenant")
	}
	if got, _ := f.recs.Get(ctx, f.admin, "account", mine.ID); got.Name != "acme secret" {
		t.Fatalf("record changed: %+v", got)
	}
	if evs, _ := db.QueryAudit(ctx, otherTID, audit.Filter{ObjectID: mine.ID, Limit: 10}); len(evs) != 0 {
		t.Fatalf("foreign audit events: %+v", evs)
	}
}

func testNonUsersGetNothing(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.admin, "account", map[string]any{"name": "A"})
	sys := tenant.System(f.tid, "")
	odd := tenant.Actor{Kind: tenant.ActorUser, TenantID: f.tid, UserID: f.admin.UserID, Role: "auditor"}
	for _, a := range []tenant.Actor{sys, odd} {
		_, err := f.recs.Create(ctx, a, "account", "", vals(map[string]any{"name": "B"}))
		wantKind(t, err, apperr.KindNotFound)
		_, _, err = f.recs.List(ctx, a, "account", records.ListQuery{})
		wantKind(t, err, apperr.KindNotFound)
		_, err = f.recs.Get(ctx, a, "account", r.ID)
		wantKind(t, err, apperr.KindNotFound)
		_, err = f.recs.Update(ctx, a, "account", r.ID, 1, "", vals(map[string]any{"name": "C"}))
		wantKind(t, err, apperr.KindNotFound)
		objs, err := f.recs.Objects(ctx, a)
		if err != nil || len(objs) != 0 {
			t.Fatalf("objects for %+v: %d %v", a, len(objs), err)
		}
		_, err = f.recs.Object(ctx, a, "account")
		wantKind(t, err, apperr.KindNotFound)
	}
	objs, _ := f.recs.Objects(ctx, f.sales)
	if len(objs) != len(records.StandardObjectNames) {
		t.Fatalf("sales sees %d objects", len(objs))
	}
}

func testDeleteKeepsBeforeValuesInAudit(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.sales, "account", map[string]any{"name": "Gone Ltd", "city": "Xi'an", "employees": 42, "industry": "retail"})
	wantKind(t, f.recs.Delete(ctx, f.sales, "account", r.ID, 7), apperr.KindConflict)
	f.clk.Advance(time.Minute)
	if err := f.recs.Delete(ctx, f.sales, "account", r.ID, 1); err != nil {
		t.Fatal(err)
	}
	_, err := f.recs.Get(ctx, f.admin, "account", r.ID)
	wantKind(t, err, apperr.KindNotFound)
	wantKind(t, f.recs.Delete(ctx, f.sales, "account", r.ID, 0), apperr.KindNotFound)
	rs, _, _ := f.recs.List(ctx, f.admin, "account", records.ListQuery{})
	if len(rs) != 0 {
		t.Fatalf("deleted record listed: %v", rs)
	}
	evs := f.audit(t, audit.Filter{Action: audit.ActionRecordDeleted, ObjectID: r.ID})
	if len(evs) != 1 {
		t.Fatalf("%d delete events", len(evs))
	}
	ev := evs[0]
	if ev.ActorID != f.sales.UserID || ev.ObjectName != "Gone Ltd" || !ev.At.Equal(f.clk.Now()) {
		t.Fatalf("event %+v", ev)
	}
	want := map[string]any{"name": "Gone Ltd", "city": "Xi'an", "employees": float64(42), "industry": "retail", "owner_id": f.sales.UserID}
	for k, v := range want {
		c, ok := ev.Changes[k]
		if !ok || c.Before != v || c.After != nil {
			t.Fatalf("change %s = %+v, want before %v after nil", k, c, v)
		}
	}
	if len(ev.Changes) != len(want) {
		t.Fatalf("changes %v", ev.Changes)
	}
}

func testHistoryNewestFirst(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.sales, "account", map[string]any{"name": "v1"})
	other := f.create(t, f.sales, "account", map[string]any{"name": "other"})
	for i := 2; i <= 4; i++ {
		f.clk.Advance(time.Minute)
		if _, err := f.recs.Update(ctx, f.sales, "account", r.ID, int64(i-1), "", vals(map[string]any{"name": fmt.Sprintf("v%d", i)})); err != nil {
			t.Fatal(err)
		}
		if _, err := f.recs.Update(ctx, f.sales, "account", other.ID, int64(i-1), "", vals(map[string]any{"city": fmt.Sprint(i)})); err != nil {
			t.Fatal(err)
		}
	}
	evs, next, err := f.recs.History(ctx, f.sales, "account", r.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || next != 0 {
		t.Fatalf("%d events, next %d", len(evs), next)
	}
	wantActions := []string{audit.ActionRecordUpdated, audit.ActionRecordUpdated, audit.ActionRecordUpdated, audit.ActionRecordCreated}
	for i, ev := range evs {
		if ev.ObjectID != r.ID || ev.Action != wantActions[i] {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if i > 0 && (ev.Seq >= evs[i-1].Seq || ev.At.After(evs[i-1].At)) {
			t.Fatal("not newest first")
		}
	}
	if evs[0].Changes["name"].Before != "v3" || evs[0].Changes["name"].After != "v4" {
		t.Fatalf("latest change %+v", evs[0].Changes)
	}
	// Paging.
	var paged []int64
	before := int64(0)
	for {
		page, nx, err := f.recs.History(ctx, f.sales, "account", r.ID, before, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			paged = append(paged, ev.Seq)
		}
		if nx == 0 {
			break
		}
		before = nx
	}
	if len(paged) != 4 || paged[0] != evs[0].Seq || paged[3] != evs[3].Seq {
		t.Fatalf("paged %v", paged)
	}
}

func testAddField(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	fl, err := f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "tier", Label: " Tier ", LabelZH: "等级", Type: records.TypePicklist, Options: []string{"gold", "silver"}})
	if err != nil {
		t.Fatal(err)
	}
	if fl.Name != "tier__c" || !fl.Custom || fl.Label != "Tier" || fl.Position != 11 {
		t.Fatalf("field %+v", fl)
	}
	o, _ := f.recs.Object(ctx, f.admin, "account")
	stored, ok := o.Field("tier__c")
	if !ok || stored.Type != records.TypePicklist || len(stored.Options) != 2 || !stored.Custom {
		t.Fatalf("stored %+v", stored)
	}
	evs := f.audit(t, audit.Filter{Action: audit.ActionFieldCreated})
	if len(evs) != 1 || evs[0].ObjectID != "account.tier__c" {
		t.Fatalf("events %+v", evs)
	}
	// The new field validates values.
	if _, err := f.recs.Create(ctx, f.admin, "account", "", vals(map[string]any{"name": "A", "tier__c": "gold"})); err != nil {
		t.Fatal(err)
	}
	_, err = f.recs.Create(ctx, f.admin, "account", "", vals(map[string]any{"name": "A", "tier__c": "platinum"}))
	if fe := fieldErrors(t, err); fe["tier__c"] == "" {
		t.Fatal(fe)
	}
	// Name given with the suffix is kept; a second field of that name conflicts.
	_, err = f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "tier__c", Label: "Tier again", Type: records.TypeText})
	wantKind(t, err, apperr.KindConflict)
	_, err = f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "tier", Label: "Tier again", Type: records.TypeText})
	wantKind(t, err, apperr.KindConflict)
	// A custom field can never shadow a standard one.
	nf, err := f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "name", Label: "Other name", Type: records.TypeText})
	if err != nil || nf.Name != "name__c" {
		t.Fatalf("custom 'name': %+v %v", nf, err)
	}
	// Lookups must point to an existing object.
	lf, err := f.recs.AddField(ctx, f.admin, "lead", records.Field{Name: "parent", Label: "Parent", Type: records.TypeLookup, LookupObject: "account"})
	if err != nil || lf.LookupObject != "account" {
		t.Fatalf("lookup field: %+v %v", lf, err)
	}
	// Custom max length applies.
	if _, err := f.recs.AddField(ctx, f.admin, "lead", records.Field{Name: "code", Label: "Code", Type: records.TypeText, MaxLength: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.recs.Create(ctx, f.admin, "lead", "", vals(map[string]any{"name": "L", "code__c": "abcde"})); err != nil {
		t.Fatal(err)
	}
	_, err = f.recs.Create(ctx, f.admin, "lead", "", vals(map[string]any{"name": "L", "code__c": "abcdef"}))
	if fe := fieldErrors(t, err); !strings.Contains(fe["code__c"], "5") {
		t.Fatal(fe)
	}
	// A required custom field is enforced on create.
	if _, err := f.recs.AddField(ctx, f.admin, "contact", records.Field{Name: "region", Label: "Region", Type: records.TypeText, Required: true}); err != nil {
		t.Fatal(err)
	}
	_, err = f.recs.Create(ctx, f.admin, "contact", "", vals(map[string]any{"name": "C"}))
	if fe := fieldErrors(t, err); fe["region__c"] != "is required" {
		t.Fatal(fe)
	}
}

func testAddFieldValidation(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	opts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("o", i)
		}
		return out
	}
	cases := []struct {
		name string
		fl   records.Field
		bad  string
	}{
		{"upper-case name", records.Field{Name: "Tier", Label: "T", Type: "text"}, "name"},
		{"leading digit", records.Field{Name: "1tier", Label: "T", Type: "text"}, "name"},
		{"hyphen", records.Field{Name: "ti-er", Label: "T", Type: "text"}, "name"},
		{"empty name", records.Field{Name: "", Label: "T", Type: "text"}, "name"},
		{"suffix only", records.Field{Name: "__c", Label: "T", Type: "text"}, "name"},
		{"sql in name", records.Field{Name: "x; drop table records", Label: "T", Type: "text"}, "name"},
		{"json path in name", records.Field{Name: `x"."y`, Label: "T", Type: "text"}, "name"},
		{"too long", records.Field{Name: strings.Repeat("a", 42), Label: "T", Type: "text"}, "name"},
		{"unicode name", records.Field{Name: "等级", Label: "T", Type: "text"}, "name"},
		{"empty label", records.Field{Name: "x", Label: "  ", Type: "text"}, "label"},
		{"long label", records.Field{Name: "x", Label: strings.Repeat("l", 81), Type: "text"}, "label"},
		{"long zh label", records.Field{Name: "x", Label: "X", LabelZH: strings.Repeat("字", 81), Type: "text"}, "label_zh"},
		{"unknown type", records.Field{Name: "x", Label: "X", Type: "blob"}, "type"},
		{"empty type", records.Field{Name: "x", Label: "X"}, "type"},
		{"picklist without options", records.Field{Name: "x", Label: "X", Type: "picklist"}, "options"},
		{"duplicate options", records.Field{Name: "x", Label: "X", Type: "picklist", Options: []string{"a", "a"}}, "options"},
		{"empty option", records.Field{Name: "x", Label: "X", Type: "picklist", Options: []string{"a", ""}}, "options"},
		{"padded option", records.Field{Name: "x", Label: "X", Type: "picklist", Options: []string{" a"}}, "options"},
		{"too many options", records.Field{Name: "x", Label: "X", Type: "picklist", Options: opts(201)}, "options"},
		{"long option", records.Field{Name: "x", Label: "X", Type: "picklist", Options: []string{strings.Repeat("o", 101)}}, "options"},
		{"options on text", records.Field{Name: "x", Label: "X", Type: "text", Options: []string{"a"}}, "options"},
		{"negative max length", records.Field{Name: "x", Label: "X", Type: "text", MaxLength: -1}, "max_length"},
		{"huge max length", records.Field{Name: "x", Label: "X", Type: "text", MaxLength: 32001}, "max_length"},
		{"lookup without object", records.Field{Name: "x", Label: "X", Type: "lookup"}, "lookup_object"},
		{"lookup to missing object", records.Field{Name: "x", Label: "X", Type: "lookup", LookupObject: "planet"}, "lookup_object"},
		{"lookup object on text", records.Field{Name: "x", Label: "X", Type: "text", LookupObject: "account"}, "lookup_object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.recs.AddField(ctx, f.admin, "account", c.fl)
			if fe := fieldErrors(t, err); fe[c.bad] == "" {
				t.Fatalf("fields %v lack %s", fe, c.bad)
			}
		})
	}
	// 200 options is the maximum that is allowed.
	if _, err := f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "many", Label: "Many", Type: "picklist", Options: opts(200)}); err != nil {
		t.Fatal(err)
	}
	o, _ := f.recs.Object(ctx, f.admin, "account")
	if len(o.Fields) != 12 {
		t.Fatalf("%d fields after one valid addition", len(o.Fields))
	}
	_, err := f.recs.AddField(ctx, f.admin, "planet", records.Field{Name: "x", Label: "X", Type: "text"})
	wantKind(t, err, apperr.KindNotFound)
	for _, a := range []tenant.Actor{f.mgr, f.sales, tenant.System(f.tid, "")} {
		_, err := f.recs.AddField(ctx, a, "account", records.Field{Name: "y", Label: "Y", Type: "text"})
		wantKind(t, err, apperr.KindForbidden)
	}
	o, _ = f.recs.Object(ctx, f.admin, "account")
	if _, ok := o.Field("y__c"); ok {
		t.Fatal("forbidden field added")
	}
}

func testCreateRecordsAudit(t *testing.T, db *store.DB) {
	f := setup(t, db)
	r := f.create(t, f.sales, "account", map[string]any{"name": "Audited", "employees": 5})
	evs := f.audit(t, audit.Filter{ObjectID: r.ID})
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if ev.Action != audit.ActionRecordCreated || ev.ObjectType != "account" || ev.ActorID != f.sales.UserID ||
		ev.Changes["name"].After != "Audited" || ev.Changes["name"].Before != nil || ev.Changes["employees"].After != float64(5) ||
		ev.Changes["owner_id"].After != f.sales.UserID {
		t.Fatalf("event %+v", ev)
	}
	if !r.CreatedAt.Equal(f.clk.Now()) || r.CreatedAt.Location() != time.UTC {
		t.Fatalf("created %v", r.CreatedAt)
	}
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	m := map[string]int{}
	for _, g := range got {
		m[g]++
	}
	for _, w := range want {
		if m[w] != 1 {
			return false
		}
	}
	return true
}

// TestServiceOnDatabase runs the database cases on one database per
// engine; each case works in tenants of its own, in parallel.
func TestServiceOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"RequiredFields", testRequiredFields},
		{"UnknownAndSystemFieldsRejected", testUnknownAndSystemFieldsRejected},
		{"FieldValidation", testFieldValidation},
		{"OptimisticConcurrency", testOptimisticConcurrency},
		{"ConcurrentUpdatersOneWinsPerVersion", testConcurrentUpdatersOneWinsPerVersion},
		{"SalesSeesOnlyOwnRecords", testSalesSeesOnlyOwnRecords},
		{"OwnerMustBeAUserOfTheTenant", testOwnerMustBeAUserOfTheTenant},
		{"CrossTenantIsolation", testCrossTenantIsolation},
		{"NonUsersGetNothing", testNonUsersGetNothing},
		{"DeleteKeepsBeforeValuesInAudit", testDeleteKeepsBeforeValuesInAudit},
		{"HistoryNewestFirst", testHistoryNewestFirst},
		{"AddField", testAddField},
		{"AddFieldValidation", testAddFieldValidation},
		{"CreateRecordsAudit", testCreateRecordsAudit},
		{"ListKeysetPaginationEverySort", testListKeysetPaginationEverySort},
		{"ListFilters", testListFilters},
		{"ListSearchTreatsWildcardsLiterally", testListSearchTreatsWildcardsLiterally},
		{"ListCursorsAndLimits", testListCursorsAndLimits},
	}
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.fn(t, db)
			})
		}
	})
}
