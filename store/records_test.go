package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

func testRecord(owner string, name string) records.Record {
	at := time.Date(2026, 3, 1, 17, 4, 5, 987654321, cst)
	return records.Record{ID: tenant.NewID(), Object: "account", Version: 1, OwnerID: owner, Name: name,
		Fields: map[string]any{"name": name, "employees": 12.5, "do": true, "city": "上海"}, CreatedAt: at, UpdatedAt: at, CreatedBy: owner, UpdatedBy: owner}
}

func testRecordRoundTripAndVersionGuard(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	other := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	tid := res.Tenant.ID
	r := testRecord(res.Admin.ID, "Acme")
	if err := db.InsertRecord(ctx, tid, r); err != nil {
		t.Fatal(err)
	}
	got, err := db.Record(ctx, tid, "account", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.OwnerID != r.OwnerID || got.Name != "Acme" || got.Fields["employees"] != 12.5 ||
		got.Fields["do"] != true || got.Fields["city"] != "上海" {
		t.Fatalf("record %+v", got)
	}
	if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(r.CreatedAt.Truncate(time.Microsecond)) {
		t.Fatalf("created %v", got.CreatedAt)
	}
	// Not found under another object or tenant.
	if _, err := db.Record(ctx, tid, "contact", r.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("other object: %v", err)
	}
	if _, err := db.Record(ctx, other.Tenant.ID, "account", r.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("other tenant: %v", err)
	}
	// Duplicate ID is a conflict.
	if err := db.InsertRecord(ctx, tid, r); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("duplicate record: %v", err)
	}
	// A record of an object the tenant does not have is refused.
	bad := testRecord(res.Admin.ID, "x")
	bad.Object = "planet"
	if err := db.InsertRecord(ctx, tid, bad); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("record of missing object: %v", err)
	}
	// Updates need the previous version.
	next := got
	next.Version, next.Name = 3, "skipped"
	if err := db.UpdateRecord(ctx, tid, next); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("update skipping a version: %v", err)
	}
	next.Version, next.Name = 2, "v2"
	if err := db.UpdateRecord(ctx, tid, next); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateRecord(ctx, tid, next); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("replayed update: %v", err)
	}
	// Another tenant cannot update or delete it even with the right version.
	next.Version = 3
	if err := db.UpdateRecord(ctx, other.Tenant.ID, next); err == nil {
		t.Fatal("cross-tenant update")
	}
	if err := db.DeleteRecord(ctx, other.Tenant.ID, "account", r.ID, 2); err == nil {
		t.Fatal("cross-tenant delete")
	}
	if err := db.DeleteRecord(ctx, tid, "account", r.ID, 1); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("delete of a stale version: %v", err)
	}
	if err := db.DeleteRecord(ctx, tid, "account", r.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Record(ctx, tid, "account", r.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func testObjectsAndFields(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	ctx := context.Background()
	tid := res.Tenant.ID
	objs, err := db.Objects(ctx, tid)
	if err != nil || len(objs) != len(records.StandardObjectNames) {
		t.Fatalf("%d objects: %v", len(objs), err)
	}
	for i, o := range objs {
		if o.Name != records.StandardObjectNames[i] {
			t.Fatalf("order: %d is %s", i, o.Name)
		}
	}
	dup := records.Object{Name: "account", Label: "A", NameField: "name"}
	if err := db.InsertObject(ctx, tid, dup); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("duplicate object: %v", err)
	}
	if err := db.InsertField(ctx, tid, "account", records.Field{Name: "name", Label: "x", Type: "text"}); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("duplicate field: %v", err)
	}
	if err := db.InsertField(ctx, tid, "planet", records.Field{Name: "x__c", Label: "x", Type: "text"}); !apperr.Is(err, apperr.KindInvalid) {
		t.Fatalf("field of a missing object: %v", err)
	}
	if _, err := db.Object(ctx, tid, "planet"); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	// A custom object sorts after the standard ones.
	custom := records.Object{Name: "aardvark", Label: "Aardvarks", NameField: "name",
		Fields: []records.Field{{Name: "name", Label: "Name", Type: "text", Required: true}}}
	if err := db.InsertObject(ctx, tid, custom); err != nil {
		t.Fatal(err)
	}
	objs, _ = db.Objects(ctx, tid)
	if objs[len(objs)-1].Name != "aardvark" || len(objs[len(objs)-1].Fields) != 1 {
		t.Fatalf("custom object placement: %s", objs[len(objs)-1].Name)
	}
}

// Object("") must not answer with some object: callers pass names that
// came from metadata (a lookup field's target) and treat success as
// "exists".
func testObjectWithEmptyNameIsNotFound(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	o, err := db.Object(context.Background(), res.Tenant.ID, "")
	if !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("Object(\"\") = %q, %v; want not found", o.Name, err)
	}
}

func testListRecordsAtStoreLevel(t *testing.T, db *store.DB) {
	res := uniqueTenant(t, db, "acme")
	other := uniqueTenant(t, db, "globex")
	ctx := context.Background()
	tid := res.Tenant.ID
	names := []string{`50% off`, `a_b`, `axb`, `back\slash`, `Plain`}
	for _, n := range names {
		if err := db.InsertRecord(ctx, tid, testRecord(res.Admin.ID, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.InsertRecord(ctx, other.Tenant.ID, testRecord(other.Admin.ID, "50% off")); err != nil {
		t.Fatal(err)
	}
	list := func(spec records.ListSpec) []records.Listed {
		t.Helper()
		spec.Object, spec.SortColumn, spec.Limit = "account", records.SortName, 100
		rs, err := db.ListRecords(ctx, tid, spec)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	for q, want := range map[string]int{"%": 1, "_": 1, `\`: 1, "plain": 1, "PLAIN": 1, "": 5, "x": 1} {
		if got := len(list(records.ListSpec{Q: q})); got != want {
			t.Errorf("q %q: %d rows, want %d", q, got, want)
		}
	}
	if got := len(list(records.ListSpec{OwnerID: other.Admin.ID})); got != 0 {
		t.Fatalf("owner filter with a foreign owner: %d", got)
	}
	// Sort values come back with the types cursors expect.
	rs := list(records.ListSpec{})
	if _, ok := rs[0].SortValue.(string); !ok {
		t.Fatalf("name sort value %T", rs[0].SortValue)
	}
	num, err := db.ListRecords(ctx, tid, records.ListSpec{Object: "account", SortField: "employees", SortKind: records.KindNumber, Limit: 10})
	if err != nil || len(num) != 5 {
		t.Fatal(err)
	}
	if v, ok := num[0].SortValue.(float64); !ok || v != 12.5 {
		t.Fatalf("number sort value %T %v", num[0].SortValue, num[0].SortValue)
	}
	bl, err := db.ListRecords(ctx, tid, records.ListSpec{Object: "account", SortField: "do", SortKind: records.KindBool, Limit: 10,
		Filters: []records.FieldFilter{{Field: "do", Kind: records.KindBool, Value: int64(1)}}})
	if err != nil || len(bl) != 5 {
		t.Fatalf("bool filter: %d %v", len(bl), err)
	}
	if v, ok := bl[0].SortValue.(int64); !ok || v != 1 {
		t.Fatalf("bool sort value %T %v", bl[0].SortValue, bl[0].SortValue)
	}
	ca, err := db.ListRecords(ctx, tid, records.ListSpec{Object: "account", SortColumn: records.SortCreatedAt, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := ca[0].SortValue.(int64); !ok || v != ca[0].Record.CreatedAt.UnixMicro() {
		t.Fatalf("created_at sort value %T %v", ca[0].SortValue, ca[0].SortValue)
	}
	if _, err := db.ListRecords(ctx, tid, records.ListSpec{Object: "account", SortColumn: "tenant_id", Limit: 10}); err == nil {
		t.Fatal("unknown sort column accepted")
	}
}

func TestAuditTrailIsAppendOnlyOnPostgres(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "postgres")
	res := uniqueTenant(t, db, "acme")
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE audit_events SET action = 'forged'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
	} {
		err := db.WriteTx(ctx, res.Tenant.ID, func(ctx context.Context) error {
			_, err := store.RawExec(ctx, q)
			return err
		})
		if err == nil {
			t.Fatalf("%q was allowed", q)
		}
	}
	evs, err := db.QueryAudit(ctx, res.Tenant.ID, audit.Filter{Limit: 10})
	if err != nil || len(evs) != 2 || evs[1].Action != audit.ActionTenantCreated {
		t.Fatalf("trail changed: %+v %v", evs, err)
	}
}

func testAuditAppendNeedsTheTenantsHead(t *testing.T, db *store.DB) {
	ghost := tenant.ID(tenant.NewID())
	ev := audit.New(tenant.System(ghost, ""), time.Now(), "test", "x", "", "")
	err := db.WriteTx(context.Background(), ghost, func(ctx context.Context) error { return db.AppendAudit(ctx, ev) })
	if err == nil {
		t.Fatal("audit event appended for a tenant that does not exist")
	}
}
