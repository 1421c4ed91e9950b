package audit_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/havencrm/haven/internal/testkeys"
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
	"github.com/havencrm/haven/tenant"
)

var tenants atomic.Int64

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestDiff(t *testing.T) {
	before := map[string]any{"same": "x", "num": 1.0, "changed": "old", "removed": true, "type": 1.0}
	after := map[string]any{"same": "x", "num": 1.0, "changed": "new", "added": "here", "type": "1"}
	d := audit.Diff(before, after)
	want := map[string]audit.Change{
		"changed": {Before: "old", After: "new"},
		"removed": {Before: true, After: nil},
		"added":   {Before: nil, After: "here"},
		"type":    {Before: 1.0, After: "1"},
	}
	if len(d) != len(want) {
		t.Fatalf("diff %v", d)
	}
	for k, w := range want {
		if d[k] != w {
			t.Fatalf("%s: %+v want %+v", k, d[k], w)
		}
	}
	if _, ok := d["same"]; ok {
		t.Fatal("unchanged field reported")
	}
	if len(audit.Diff(nil, nil)) != 0 || len(audit.Diff(before, before)) != 0 {
		t.Fatal("diff of equal maps not empty")
	}
	// Lists and objects compare by content: an untouched multi-select
	// or sealed value is no change, an edited one is.
	sealed := func(env string) map[string]any { return map[string]any{"$sealed": env} }
	lists := audit.Diff(map[string]any{"tags": []any{"a", "b"}, "mobile": sealed("hv1:x"), "m": sealed("hv1:y")},
		map[string]any{"tags": []any{"a", "b"}, "mobile": sealed("hv1:x"), "m": sealed("hv1:z")})
	if _, ok := lists["tags"]; ok || len(lists) != 1 || lists["m"].After == nil {
		t.Fatalf("diff of lists and objects %v", lists)
	}
	if d := audit.Diff(map[string]any{"tags": []any{"a"}}, map[string]any{"tags": "a"}); len(d) != 1 {
		t.Fatalf("a list becoming a string is a change: %v", d)
	}
	created := audit.Diff(nil, map[string]any{"a": 1.0})
	if created["a"] != (audit.Change{After: 1.0}) {
		t.Fatalf("create diff %v", created)
	}
	deleted := audit.Diff(map[string]any{"a": 1.0}, nil)
	if deleted["a"] != (audit.Change{Before: 1.0}) {
		t.Fatalf("delete diff %v", deleted)
	}
	// A present nil is not absent-equal to a missing key's nil: the key
	// appears, so the trail shows it was set.
	if _, ok := audit.Diff(map[string]any{}, map[string]any{"k": nil})["k"]; !ok {
		t.Fatal("added nil value not reported")
	}
	// Values that cannot be compared with == do not panic.
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Diff panicked: %v", r)
			}
		}()
		audit.Diff(map[string]any{"l": []any{"a"}, "m": map[string]any{"x": 1}}, map[string]any{"l": []any{"a"}, "m": map[string]any{"x": 1}})
		audit.Diff(map[string]any{"l": "a"}, map[string]any{"l": []any{"a"}})
		audit.Diff(map[string]any{"l": []any{"a"}}, map[string]any{"l": "a"})
	}()
}

func TestNewEvent(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	a := tenant.Actor{Kind: tenant.ActorUser, TenantID: "t1", UserID: "u1", Name: "Ann", Role: "admin", IP: "192.0.2.1", UserAgent: "ua", RequestID: "r1"}
	at := time.Date(2026, 3, 1, 17, 0, 0, 0, shanghai)
	ev := audit.New(a, at, audit.ActionRecordCreated, "account", "id1", "Acme")
	if ev.At.Location() != time.UTC || !ev.At.Equal(at) {
		t.Fatalf("at %v", ev.At)
	}
	if ev.TenantID != "t1" || ev.ActorType != "user" || ev.ActorID != "u1" || ev.ActorName != "Ann" || ev.IP != "192.0.2.1" ||
		ev.UserAgent != "ua" || ev.RequestID != "r1" || ev.Action != audit.ActionRecordCreated || ev.ObjectType != "account" ||
		ev.ObjectID != "id1" || ev.ObjectName != "Acme" || ev.Seq != 0 {
		t.Fatalf("event %+v", ev)
	}
	sys := audit.New(tenant.System("t1", "r2"), at, audit.ActionTenantCreated, "tenant", "t1", "x")
	if sys.ActorType != "system" || sys.ActorID != "" {
		t.Fatalf("system event %+v", sys)
	}
}

type fixture struct {
	db    *store.DB
	tid   tenant.ID
	admin tenant.Actor
}

func newTenant(t *testing.T, db *store.DB, slug string) fixture {
	t.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, now)
	p := provision.New(db, records.NewService(db, testkeys.Keyring(t, db, now), now), ids, now)
	// Cases share a database: every tenant gets a slug of its own.
	unique := slug + "-" + strconv.FormatInt(tenants.Add(1), 10)
	res, err := p.CreateTenant(context.Background(), provision.Input{Slug: unique, Name: slug, AdminEmail: "admin@" + slug + ".example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, tid: res.Tenant.ID,
		admin: tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: res.Admin.Name, Role: access.RoleAdmin}}
}

func (f fixture) append(t *testing.T, ev audit.Event) {
	t.Helper()
	if err := f.db.WriteTx(context.Background(), f.tid, func(ctx context.Context) error { return f.db.AppendAudit(ctx, ev) }); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) all(t *testing.T) []audit.Event {
	t.Helper()
	evs, err := f.db.QueryAudit(context.Background(), f.tid, audit.Filter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkGapFree verifies the events (newest first) carry 1..n.
func checkGapFree(t *testing.T, evs []audit.Event, n int) {
	t.Helper()
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	for i, ev := range evs {
		if ev.Seq != int64(n-i) {
			t.Fatalf("event %d has seq %d, want %d", i, ev.Seq, n-i)
		}
	}
}

func testSequencesPerTenantGapFree(t *testing.T, db *store.DB) {
	a := newTenant(t, db, "acme")
	b := newTenant(t, db, "globex")
	base := len(a.all(t)) // tenant.create and user.create
	if base != 2 || len(b.all(t)) != 2 {
		t.Fatalf("provisioning events: %d %d", base, len(b.all(t)))
	}
	for i := 0; i < 5; i++ {
		a.append(t, audit.New(a.admin, t0, "test.a", "x", fmt.Sprint(i), ""))
	}
	b.append(t, audit.New(b.admin, t0, "test.b", "x", "0", ""))
	// A rolled-back append uses no number.
	err := db.WriteTx(context.Background(), a.tid, func(ctx context.Context) error {
		if err := db.AppendAudit(ctx, audit.New(a.admin, t0, "test.rolledback", "x", "", "")); err != nil {
			return err
		}
		return errors.New("abort")
	})
	if err == nil {
		t.Fatal("abort ignored")
	}
	a.append(t, audit.New(a.admin, t0, "test.a", "x", "last", ""))
	checkGapFree(t, a.all(t), base+6)
	checkGapFree(t, b.all(t), 3)
	for _, ev := range a.all(t) {
		if ev.Action == "test.rolledback" {
			t.Fatal("rolled-back event persisted")
		}
	}
}

func testConcurrentAppendsStayGapFree(t *testing.T, db *store.DB) {
	tenants := []fixture{newTenant(t, db, "acme"), newTenant(t, db, "globex")}
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, len(tenants)*workers*each)
	for _, f := range tenants {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					ev := audit.New(f.admin, t0, "test.concurrent", "x", fmt.Sprintf("%d-%d", w, i), "")
					err := db.WriteTx(context.Background(), f.tid, func(ctx context.Context) error {
						if err := db.AppendAudit(ctx, ev); err != nil {
							return err
						}
						if i%5 == 4 {
							return errors.New("abort") // interleave rollbacks
						}
						return nil
					})
					if err != nil && err.Error() != "abort" {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	committed := workers * (each - each/5)
	for _, f := range tenants {
		evs := f.all(t)
		checkGapFree(t, evs, committed+2)
		seen := map[string]bool{}
		for _, ev := range evs {
			if ev.Action == "test.concurrent" {
				if seen[ev.ObjectID] {
					t.Fatalf("event %s twice", ev.ObjectID)
				}
				seen[ev.ObjectID] = true
			}
		}
		if len(seen) != committed {
			t.Fatalf("%d distinct events, want %d", len(seen), committed)
		}
	}
}

func testAppendFailureRollsBackTheChange(t *testing.T, db *store.DB) {
	a := newTenant(t, db, "acme")
	b := newTenant(t, db, "globex")
	ctx := context.Background()
	rec := func() records.Record {
		return records.Record{ID: tenant.NewID(), Object: "account", Version: 1, OwnerID: a.admin.UserID, Name: "ghost",
			Fields: map[string]any{"name": "ghost"}, CreatedAt: t0, UpdatedAt: t0, CreatedBy: a.admin.UserID, UpdatedBy: a.admin.UserID}
	}
	// The change, then an error: nothing stays.
	r1 := rec()
	err := db.WriteTx(ctx, a.tid, func(ctx context.Context) error {
		if err := db.InsertRecord(ctx, a.tid, r1); err != nil {
			return err
		}
		if err := db.AppendAudit(ctx, audit.New(a.admin, t0, audit.ActionRecordCreated, "account", r1.ID, "ghost")); err != nil {
			return err
		}
		return errors.New("later step failed")
	})
	if err == nil {
		t.Fatal("error swallowed")
	}
	// The change, then an audit append that fails (an event filed under
	// another tenant): the change does not stay either.
	r2 := rec()
	err = db.WriteTx(ctx, a.tid, func(ctx context.Context) error {
		if err := db.InsertRecord(ctx, a.tid, r2); err != nil {
			return err
		}
		return db.AppendAudit(ctx, audit.New(b.admin, t0, audit.ActionRecordCreated, "account", r2.ID, "ghost"))
	})
	if err == nil {
		t.Fatal("audit append for another tenant succeeded")
	}
	for _, id := range []string{r1.ID, r2.ID} {
		if _, err := db.Record(ctx, a.tid, "account", id); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("record %s persisted: %v", id, err)
		}
	}
	checkGapFree(t, a.all(t), 2)
	checkGapFree(t, b.all(t), 2)
}

func testQueryFiltersAndPaging(t *testing.T, db *store.DB) {
	f := newTenant(t, db, "acme")
	other := newTenant(t, db, "globex")
	ctx := context.Background()
	bob := f.admin
	bob.UserID, bob.Name = tenant.NewID(), "Bob"
	// Provisioning wrote seq 1, 2 at t0. Add 20 events, one a minute.
	for i := 0; i < 20; i++ {
		actor := f.admin
		if i%2 == 1 {
			actor = bob
		}
		action := audit.ActionRecordUpdated
		if i%4 == 0 {
			action = audit.ActionRecordCreated
		}
		objType, objID := "account", fmt.Sprint("a", i%3)
		if i%5 == 0 {
			objType = "contact"
		}
		f.append(t, audit.New(actor, t0.Add(time.Duration(i+1)*time.Minute), action, objType, objID, ""))
	}
	other.append(t, audit.New(other.admin, t0.Add(5*time.Minute), audit.ActionRecordUpdated, "account", "a0", ""))
	svc := audit.NewService(db)
	all := f.all(t)
	check := func(name string, flt audit.Filter, pred func(audit.Event) bool) {
		t.Helper()
		var want []int64
		for _, ev := range all {
			if pred(ev) {
				want = append(want, ev.Seq)
			}
		}
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("%s: filter selects %d of %d; the case proves nothing", name, len(want), len(all))
		}
		// Page through with a small limit.
		var got []int64
		flt.Limit = 3
		for pages := 0; ; pages++ {
			evs, next, err := svc.Query(ctx, f.admin, flt)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, ev := range evs {
				if ev.TenantID != f.tid {
					t.Fatalf("%s: foreign event", name)
				}
				got = append(got, ev.Seq)
			}
			if next == 0 {
				break
			}
			if pages > 50 {
				t.Fatal("paging does not end")
			}
			flt.BeforeSeq = next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v want %v", name, got, want)
		}
	}
	from, to := t0.Add(5*time.Minute), t0.Add(12*time.Minute)
	check("from", audit.Filter{From: from}, func(e audit.Event) bool { return !e.At.Before(from) })
	check("to", audit.Filter{To: to}, func(e audit.Event) bool { return e.At.Before(to) })
	check("from-to", audit.Filter{From: from, To: to}, func(e audit.Event) bool { return !e.At.Before(from) && e.At.Before(to) })
	check("actor", audit.Filter{ActorID: bob.UserID}, func(e audit.Event) bool { return e.ActorID == bob.UserID })
	check("action", audit.Filter{Action: audit.ActionRecordCreated}, func(e audit.Event) bool { return e.Action == audit.ActionRecordCreated })
	check("object type", audit.Filter{ObjectType: "contact"}, func(e audit.Event) bool { return e.ObjectType == "contact" })
	check("object id", audit.Filter{ObjectID: "a1"}, func(e audit.Event) bool { return e.ObjectID == "a1" })
	check("object", audit.Filter{ObjectType: "account", ObjectID: "a2"}, func(e audit.Event) bool { return e.ObjectType == "account" && e.ObjectID == "a2" })
	check("combined", audit.Filter{ActorID: f.admin.UserID, Action: audit.ActionRecordUpdated, From: from},
		func(e audit.Event) bool {
			return e.ActorID == f.admin.UserID && e.Action == audit.ActionRecordUpdated && !e.At.Before(from)
		})
	check("before seq", audit.Filter{BeforeSeq: 10}, func(e audit.Event) bool { return e.Seq < 10 })

	// No filter: newest first, default and maximum page sizes.
	evs, next, err := svc.Query(ctx, f.admin, audit.Filter{})
	if err != nil || len(evs) != 22 || next != 0 || evs[0].Seq != 22 {
		t.Fatalf("unfiltered: %d next %d %v", len(evs), next, err)
	}
	evs, next, err = svc.Query(ctx, f.admin, audit.Filter{Limit: 5})
	if err != nil || len(evs) != 5 || next != 18 {
		t.Fatalf("limit 5: %d next %d %v", len(evs), next, err)
	}
	if _, _, err := svc.Query(ctx, f.admin, audit.Filter{From: to, To: from}); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("to before from: %v", err)
	}
	// Only admins read the trail.
	for _, a := range []tenant.Actor{
		{Kind: tenant.ActorUser, TenantID: f.tid, UserID: bob.UserID, Role: access.RoleManager},
		{Kind: tenant.ActorUser, TenantID: f.tid, UserID: bob.UserID, Role: access.RoleSales},
		tenant.System(f.tid, ""),
	} {
		if _, _, err := svc.Query(ctx, a, audit.Filter{}); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("%+v: %v", a, err)
		}
	}
	// An admin of another tenant reads only their own tenant's trail.
	evs, _, _ = svc.Query(ctx, other.admin, audit.Filter{})
	if len(evs) != 3 {
		t.Fatalf("other tenant sees %d events", len(evs))
	}
}

func testEventRoundTrip(t *testing.T, db *store.DB) {
	f := newTenant(t, db, "acme")
	at := time.Date(2026, 3, 1, 17, 4, 5, 123456789, time.FixedZone("CST", 8*3600))
	a := f.admin
	a.IP, a.UserAgent, a.RequestID = "2001:db8::1", "Mozilla/5.0 浏览器", "req-9"
	ev := audit.New(a, at, audit.ActionRecordUpdated, "account", "id-1", "名字 'quoted' \"x\"")
	ev.Changes = map[string]audit.Change{"n": {Before: 1.5, After: nil}, "s": {Before: nil, After: "x"}, "b": {Before: true, After: false}}
	f.append(t, ev)
	got := f.all(t)[0]
	if got.Seq != 3 || !got.At.Equal(at.Truncate(time.Microsecond)) || got.At.Location() != time.UTC {
		t.Fatalf("seq %d at %v", got.Seq, got.At)
	}
	if got.IP != a.IP || got.UserAgent != a.UserAgent || got.RequestID != "req-9" || got.ObjectName != ev.ObjectName ||
		got.ActorID != a.UserID || got.ActorName != a.Name || got.ActorType != "user" {
		t.Fatalf("event %+v", got)
	}
	if len(got.Changes) != 3 || got.Changes["n"].Before != 1.5 || got.Changes["s"].After != "x" || got.Changes["b"].After != false {
		t.Fatalf("changes %+v", got.Changes)
	}
}

// TestOnDatabase runs the database cases on one database per engine; each
// case works in tenants of its own, in parallel.
func TestOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"SequencesPerTenantGapFree", testSequencesPerTenantGapFree},
		{"ConcurrentAppendsStayGapFree", testConcurrentAppendsStayGapFree},
		{"AppendFailureRollsBackTheChange", testAppendFailureRollsBackTheChange},
		{"QueryFiltersAndPaging", testQueryFiltersAndPaging},
		{"EventRoundTrip", testEventRoundTrip},
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
