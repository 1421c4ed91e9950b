package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testkeys"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// jsonValues encodes record input; the tests only pass strings.
func jsonValues(m map[string]any) records.Values {
	out := records.Values{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// TestChangeFeedConcurrentWriters pages the feed while several writers
// create, update and delete records: every change is seen exactly once,
// in sequence order with no gap, and applying the items converges on the
// server's records.
func TestChangeFeedConcurrentWriters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		res := newTenant(t, db, "feed")
		ctx := context.Background()
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
		feed := records.NewFeed(db, svc)
		admin := adminActor(res)
		// The head before any write: the reader starts there.
		cursor, err := feed.Head(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		base, err := records.ParseChangeCursor(res.Tenant.ID, cursor)
		if err != nil {
			t.Fatal(err)
		}
		const writers, perWriter = 4, 12
		var writes sync.WaitGroup
		var mu sync.Mutex
		var wrote int64
		errs := make(chan error, writers)
		for w := range writers {
			writes.Go(func() {
				for i := range perWriter {
					obj := []string{"account", "contact"}[i%2]
					r, err := svc.Create(ctx, admin, obj, "", jsonValues(map[string]any{"name": fmt.Sprintf("写入者%d-%d", w, i)}))
					if err != nil {
						errs <- err
						return
					}
					n := int64(1)
					if i%3 != 0 {
						if r, err = svc.Update(ctx, admin, obj, r.ID, r.Version, "", jsonValues(map[string]any{"name": fmt.Sprintf("改%d-%d", w, i)})); err != nil {
							errs <- err
							return
						}
						n++
					}
					if i%4 == 0 {
						if err := svc.Delete(ctx, admin, obj, r.ID, r.Version); err != nil {
							errs <- err
							return
						}
						n++
					}
					mu.Lock()
					wrote += n
					mu.Unlock()
				}
			})
		}
		done := make(chan struct{})
		go func() { writes.Wait(); close(done) }()

		mirror := map[string]map[string]any{} // object/id -> fields
		var seqs []int64

		finished := false
		for {
			items, next, more, err := feed.Changes(ctx, admin, cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				seqs = append(seqs, it.Seq)
				key := it.Object + "/" + it.RecordID
				if it.Record == nil {
					delete(mirror, key)
				} else {
					mirror[key] = it.Record.Fields
				}
			}
			cursor = next
			if more {
				continue
			}
			if finished {
				break
			}
			select {
			case <-done:
				finished = true // one more pass after the last write
			default:
			}
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i, s := range seqs {
			if s != base+int64(i+1) {
				t.Fatalf("change %d has seq %d: the feed skipped or repeated (seqs %v)", i, s, seqs)
			}
		}
		if int64(len(seqs)) != wrote {
			head, _ := feed.Head(ctx, admin)
			t.Fatalf("saw %d changes, wrote %d (head now %s, reader at %s)", len(seqs), wrote, head, cursor)
		}
		want := map[string]map[string]any{}
		for _, obj := range []string{"account", "contact"} {
			list, _, err := svc.List(ctx, admin, obj, records.ListQuery{Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range list {
				want[obj+"/"+r.ID] = r.Fields
			}
		}
		if !reflect.DeepEqual(mirror, want) {
			t.Fatalf("applying the feed gave %d records, the server has %d:\n%v\n%v", len(mirror), len(want), mirror, want)
		}
		// A quiet feed answers no items and the same cursor.
		items, next, more, err := feed.Changes(ctx, admin, cursor, 100)
		if err != nil || len(items) != 0 || next != cursor || more {
			t.Fatalf("quiet feed: %d items, %q (was %q), more %v, %v", len(items), next, cursor, more, err)
		}
	})
}

// TestChangeCursorValidation refuses anything but a cursor the tenant's
// own feed handed out.
func TestChangeCursorValidation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		a := newTenant(t, db, "cur-a")
		b := newTenant(t, db, "cur-b")
		ctx := context.Background()
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
		feed := records.NewFeed(db, svc)
		admin := adminActor(a)
		if _, err := svc.Create(ctx, admin, "account", "", jsonValues(map[string]any{"name": "甲"})); err != nil {
			t.Fatal(err)
		}
		items, next, _, err := feed.Changes(ctx, admin, "", 0)
		if err != nil || len(items) != 1 || items[0].Seq != 1 || items[0].Op != records.ChangeCreate || items[0].Record == nil ||
			items[0].Record.Fields["name"] != "甲" {
			t.Fatalf("first page: %+v %v", items, err)
		}
		if next != records.EncodeChangeCursor(a.Tenant.ID, 1) {
			t.Fatalf("next cursor %q", next)
		}
		tag := strings.TrimPrefix(next, "c1.1")
		bHead, err := feed.Head(ctx, adminActor(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"garbage", "c1.", "c1.1", "c1.-1" + tag, "c1.+1" + tag, "c1.01" + tag, "c1. 1" + tag,
			"c1.99999999999999999999" + tag, "c1.2" + tag /* ahead of the head */, bHead, "c1.1" + tag + "x", strings.Repeat("9", 100)} {
			_, _, _, err := feed.Changes(ctx, admin, bad, 10)
			if !apperr.Is(err, apperr.KindInvalid) {
				t.Errorf("cursor %q: want invalid, got %v", bad, err)
			}
		}
		for _, limit := range []int{-1, 1001} {
			if _, _, _, err := feed.Changes(ctx, admin, "", limit); !apperr.Is(err, apperr.KindInvalid) {
				t.Errorf("limit %d: want invalid, got %v", limit, err)
			}
		}
		// Tenant B's feed does not show tenant A's change.
		items, _, _, err = feed.Changes(ctx, adminActor(b), "", 100)
		if err != nil || len(items) != 0 {
			t.Fatalf("tenant B sees %d changes, %v", len(items), err)
		}
	})
}

// TestChangeFeedPermissions: only readers of every record of an object
// read the feed, and values masked for them stay masked.
func TestChangeFeedPermissions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		res := newTenant(t, db, "perm")
		ctx := context.Background()
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
		feed := records.NewFeed(db, svc)
		admin := adminActor(res)
		c, err := svc.Create(ctx, admin, "contact", "", jsonValues(map[string]any{"name": "李四", "mobile": "13812345678"}))
		if err != nil {
			t.Fatal(err)
		}
		sales := tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: tenant.NewID(), Role: access.RoleSales}
		if _, _, _, err := feed.Changes(ctx, sales, "", 10); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("sales user reads the feed: %v", err)
		}
		if _, err := feed.Head(ctx, sales); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("sales user reads the head: %v", err)
		}
		// Managers see the mobile masked once the admin says so.
		pol := access.SensitivePolicy(access.MaskMobile, true)
		pol.Levels[access.RoleManager] = access.FieldMasked
		if _, _, err := svc.SetProtection(ctx, admin, "contact", "mobile", records.Protection{Encrypted: true, Searchable: true, Policy: pol}); err != nil {
			t.Fatal(err)
		}
		manager := tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: tenant.NewID(), Role: access.RoleManager}
		items, _, _, err := feed.Changes(ctx, manager, "", 10)
		if err != nil || len(items) != 1 || items[0].Record == nil {
			t.Fatalf("manager feed: %+v %v", items, err)
		}
		got, err := svc.Get(ctx, manager, "contact", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m := items[0].Record.Fields["mobile"]; m != got.Fields["mobile"] || m == "13812345678" || !strings.Contains(fmt.Sprint(m), "*") {
			t.Fatalf("manager sees mobile %v in the feed, %v through GET", m, got.Fields["mobile"])
		}
		if !reflect.DeepEqual(*items[0].Record, got) {
			t.Fatalf("feed record differs from GET:\n%+v\n%+v", *items[0].Record, got)
		}
		// The admin sees it in clear.
		items, _, _, err = feed.Changes(ctx, admin, "", 10)
		if err != nil || items[0].Record.Fields["mobile"] != "13812345678" {
			t.Fatalf("admin feed: %+v %v", items, err)
		}
		// A deleted record's earlier create carries no record.
		if err := svc.Delete(ctx, admin, "contact", c.ID, 0); err != nil {
			t.Fatal(err)
		}
		items, _, _, err = feed.Changes(ctx, admin, "", 10)
		if err != nil || len(items) != 2 || items[0].Record != nil || items[1].Op != records.ChangeDelete || items[1].RecordID != c.ID {
			t.Fatalf("after delete: %+v %v", items, err)
		}
	})
}

// TestChangeFeedOwnerTransfer: records handed to another user when their
// owner leaves show as updates carrying the new owner.
func TestChangeFeedOwnerTransfer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		res := newTenant(t, db, "handover")
		ctx := context.Background()
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
		feed := records.NewFeed(db, svc)
		admin := adminActor(res)
		r, err := svc.Create(ctx, admin, "account", "", jsonValues(map[string]any{"name": "交接客户"}))
		if err != nil {
			t.Fatal(err)
		}
		heir := tenant.NewID()
		if _, err := db.TransferRecords(ctx, res.Tenant.ID, admin.UserID, heir, admin.UserID, time.Now()); err != nil {
			t.Fatal(err)
		}
		items, _, _, err := feed.Changes(ctx, admin, "", 10)
		if err != nil || len(items) != 2 || items[1].Op != records.ChangeUpdate || items[1].RecordID != r.ID ||
			items[1].Record == nil || items[1].Record.OwnerID != heir || items[1].Record.Version != 2 {
			t.Fatalf("after transfer: %+v %v", items, err)
		}
	})
}

// TestChangeTablesRowLevelSecurity: on PostgreSQL a query without a
// tenant predicate sees only its own tenant's changes and head.
func TestChangeTablesRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	a := newTenant(t, db, "rls-a")
	b := newTenant(t, db, "rls-b")
	ctx := context.Background()
	svc := records.NewService(db, testkeys.Keyring(t, db, nil), nil)
	for _, res := range []provision.Result{a, b} {
		if _, err := svc.Create(ctx, adminActor(res), "account", "", jsonValues(map[string]any{"name": "客户"})); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"record_changes", "change_heads"} {
		var tenants, rows int
		err := db.ReadTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
			return store.RawQueryRow(ctx, "SELECT COUNT(DISTINCT tenant_id), COUNT(*) FROM "+table).Scan(&tenants, &rows)
		})
		if err != nil {
			t.Fatal(err)
		}
		if tenants != 1 || rows != 1 {
			t.Fatalf("%s: a query without tenant predicate saw %d tenants, %d rows", table, tenants, rows)
		}
	}
	// The application cannot rewrite history.
	err := db.WriteTx(ctx, a.Tenant.ID, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, "UPDATE record_changes SET op = 'delete'")
		return err
	})
	if err == nil {
		t.Fatal("the application role updated a change event")
	}
}
