package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/audit/auditkey"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testkeys"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// retentionBase is when the retention tests' tenant is created.
var retentionBase = time.Date(2020, 1, 1, 9, 0, 0, 0, time.UTC)

type retentionClock struct{ t time.Time }

func (c *retentionClock) now() time.Time { return c.t }

// day moves the clock to a day after retentionBase.
func (c *retentionClock) day(n int) { c.t = retentionBase.AddDate(0, 0, n) }

type retentionFixture struct {
	db    *store.DB
	keys  *auditkey.Keys
	clock *retentionClock
	recs  *records.Service
	tid   tenant.ID
	admin tenant.Actor
}

// newRetentionFixture makes a tenant on a database whose appends sign a
// checkpoint every 3 events, everything on an injected clock.
func newRetentionFixture(t *testing.T, db *store.DB) retentionFixture {
	t.Helper()
	keys, err := auditkey.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keys.Close)
	db.SetAuditCheckpointer(audit.CheckpointPolicy{Every: 3, Interval: 1 << 62, Signer: keys})
	c := &retentionClock{t: retentionBase}
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, c.now)
	recs := records.NewService(db, testkeys.Keyring(t, db, c.now), c.now)
	res, err := provision.New(db, recs, ids, c.now).CreateTenant(context.Background(),
		provision.Input{Slug: "keeper", Name: "Keeper", AdminEmail: "admin@keeper.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return retentionFixture{db: db, keys: keys, clock: c, recs: recs, tid: res.Tenant.ID,
		admin: tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: res.Admin.Name, Role: access.RoleAdmin}}
}

func (f retentionFixture) events(t *testing.T, tid tenant.ID) []audit.Event {
	t.Helper()
	evs, err := f.db.QueryAudit(context.Background(), tid, audit.Filter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f retentionFixture) checkpoints(t *testing.T, tid tenant.ID) []audit.Checkpoint {
	t.Helper()
	cps, err := f.db.AuditCheckpoints(context.Background(), tid, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

func (f retentionFixture) verify(t *testing.T, tid tenant.ID) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), f.db, tid, f.keys.KeySet(), audit.VerifyOptions{MaxGap: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("trail %q does not verify: %+v", tid, rep.Problem)
	}
	return rep
}

// rawDelete runs a DELETE past the store, as an intruder with the
// application's database role would.
func (f retentionFixture) rawDelete(tid tenant.ID, query string, args ...any) error {
	return f.db.WriteTx(context.Background(), tid, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, store.Rebind(f.db, query), args...)
		return err
	})
}

func (f retentionFixture) record(t *testing.T, name string) records.Record {
	t.Helper()
	r, err := f.recs.Create(context.Background(), f.admin, "account", "", records.Values{"name": json.RawMessage(`"` + name + `"`)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuditRetentionPurge(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRetentionFixture(t, db)
		retention := audit.DefaultRetentionDays * audit.Day

		// Day 0: the tenant. Days 1, 2, 10: old record work. Day 400:
		// the old record is deleted. Days 500, 501: a record made and
		// deleted within retention.
		f.clock.day(1)
		old := f.record(t, "Old Account")
		f.clock.day(2)
		old, err := f.recs.Update(ctx, f.admin, "account", old.ID, old.Version, "", records.Values{"city": json.RawMessage(`"Hangzhou"`)})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.day(10)
		f.record(t, "Other Account")
		f.clock.day(400)
		if err := f.recs.Delete(ctx, f.admin, "account", old.ID, old.Version); err != nil {
			t.Fatal(err)
		}
		f.clock.day(500)
		gone := f.record(t, "Short-lived")
		f.clock.day(501)
		if err := f.recs.Delete(ctx, f.admin, "account", gone.ID, gone.Version); err != nil {
			t.Fatal(err)
		}
		// Events survive the deletion of the record they describe.
		if _, err := f.recs.Get(ctx, f.admin, "account", gone.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("deleted record: %v", err)
		}
		goneEvents, err := db.QueryAudit(ctx, f.tid, audit.Filter{ObjectID: gone.ID, Limit: 10})
		if err != nil || len(goneEvents) != 2 || goneEvents[0].Action != audit.ActionRecordDeleted || goneEvents[1].Action != audit.ActionRecordCreated {
			t.Fatalf("events of the deleted record: %+v %v", goneEvents, err)
		}

		// Nothing is behind an anchor yet: the database refuses to delete
		// any event or checkpoint.
		if err := f.rawDelete(f.tid, `DELETE FROM audit_events WHERE tenant_id = ? AND seq = 1`, string(f.tid)); err == nil {
			t.Fatal("deleted an event that no anchor covers")
		}
		if err := f.rawDelete(f.tid, `DELETE FROM audit_checkpoints WHERE tenant_id = ?`, string(f.tid)); err == nil {
			t.Fatal("deleted checkpoints that no anchor covers")
		}

		before := f.events(t, f.tid)
		// Purge as of day 1295: the cutoff is day 200.
		now := retentionBase.AddDate(0, 0, audit.DefaultRetentionDays+200)
		cutoff := now.Add(-retention)
		var wantGone int64
		var lastOld int64
		for _, e := range before {
			if e.At.Before(cutoff) {
				wantGone++
				lastOld = max(lastOld, e.Seq)
			}
		}
		if wantGone < 5 || int(wantGone) == len(before) {
			t.Fatalf("fixture: %d of %d events are old", wantGone, len(before))
		}
		var cpsBefore int
		for _, c := range f.checkpoints(t, f.tid) {
			if c.Seq > lastOld {
				cpsBefore++
			}
		}
		if cpsBefore == 0 {
			t.Fatal("fixture: no checkpoint after the cutoff")
		}
		res, err := audit.Purge(ctx, db, f.keys, f.tid, now, retention)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != wantGone || res.Anchor == nil || res.Anchor.Seq != lastOld || !res.Cutoff.Equal(cutoff) {
			t.Fatalf("purge: %+v, want %d events through %d", res, wantGone, lastOld)
		}

		// Old events are gone, newer ones stay, and the purge is recorded
		// right after the anchor's events.
		after := f.events(t, f.tid)
		if len(after) != len(before)-int(wantGone)+1 {
			t.Fatalf("%d events left of %d, %d purged", len(after), len(before), wantGone)
		}
		for _, e := range after {
			if e.At.Before(cutoff) || e.Seq <= lastOld {
				t.Errorf("event %d (%s at %s) outlived the purge", e.Seq, e.Action, e.At)
			}
		}
		purge := after[0]
		if purge.Action != audit.ActionAuditPurged || purge.Seq != before[0].Seq+1 || purge.ActorType != "system" || !purge.At.Equal(now) ||
			purge.Changes["events"].After != float64(wantGone) || purge.Changes["through_seq"].After != float64(lastOld) ||
			purge.Changes["cutoff"].After != cutoff.Format(time.RFC3339) || purge.Changes["retention_days"].After != float64(audit.DefaultRetentionDays) {
			t.Errorf("purge event %+v", purge)
		}
		// The old record's deletion is newer than the cutoff: it stays,
		// though its creation is gone.
		oldEvents, _ := db.QueryAudit(ctx, f.tid, audit.Filter{ObjectID: old.ID, Limit: 10})
		if len(oldEvents) != 1 || oldEvents[0].Action != audit.ActionRecordDeleted {
			t.Errorf("events of the old record: %+v", oldEvents)
		}
		if evs, _ := db.QueryAudit(ctx, f.tid, audit.Filter{ObjectID: gone.ID, Limit: 10}); len(evs) != 2 {
			t.Errorf("the short-lived record's events: %d", len(evs))
		}

		// Checkpoints at or before the anchor went with their events;
		// later ones stayed; the anchor is stored.
		var anchors, cpsAfter int
		for _, c := range f.checkpoints(t, f.tid) {
			switch {
			case c.Kind == audit.KindAnchor:
				anchors++
				if c.Seq != lastOld || c.Hash != res.Anchor.Hash {
					t.Errorf("stored anchor %+v", c)
				}
			case c.Seq <= lastOld:
				t.Errorf("checkpoint %d outlived the purge", c.Seq)
			default:
				cpsAfter++
			}
		}
		if anchors != 1 || cpsAfter < cpsBefore {
			t.Errorf("%d anchors, %d of %d later checkpoints", anchors, cpsAfter, cpsBefore)
		}

		// The rest of the chain verifies from the anchor.
		rep := f.verify(t, f.tid)
		if !rep.Anchored || rep.FirstSeq != lastOld+1 || rep.LastSeq != purge.Seq || rep.Events != int64(len(after)) {
			t.Errorf("report %+v", rep)
		}

		// Nothing more to purge: nothing changes, nothing is recorded.
		again, err := audit.Purge(ctx, db, f.keys, f.tid, now, retention)
		if err != nil || again.Events != 0 || again.Anchor != nil {
			t.Fatalf("second purge: %+v %v", again, err)
		}
		if n := len(f.events(t, f.tid)); n != len(after) {
			t.Errorf("a purge with nothing to purge changed the trail: %d events, want %d", n, len(after))
		}
		// The same anchor again (a concurrent instance) deletes nothing.
		if n, err := db.PurgeAudit(ctx, f.tid, *res.Anchor); err != nil || n != 0 {
			t.Errorf("replayed anchor: %d %v", n, err)
		}

		// Events and checkpoints after the anchor stay append-only, and
		// the anchor itself can never be deleted.
		if err := f.rawDelete(f.tid, `DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, string(f.tid), lastOld+1); err == nil {
			t.Error("deleted an event after the anchor")
		}
		if err := f.rawDelete(f.tid, `DELETE FROM audit_checkpoints WHERE tenant_id = ? AND kind = 'checkpoint'`, string(f.tid)); err == nil {
			t.Error("deleted checkpoints after the anchor")
		}
		if err := f.rawDelete(f.tid, `DELETE FROM audit_checkpoints WHERE tenant_id = ? AND kind = 'anchor'`, string(f.tid)); err == nil {
			t.Error("deleted the anchor")
		}
		f.verify(t, f.tid)

		// A later purge moves the anchor on; the first anchor stays and
		// the trail verifies from the newest.
		later := retentionBase.AddDate(0, 0, audit.DefaultRetentionDays+450)
		res2, err := audit.Purge(ctx, db, f.keys, f.tid, later, retention)
		if err != nil || res2.Events != 1 || res2.Anchor.Seq <= lastOld {
			t.Fatalf("later purge: %+v %v", res2, err)
		}
		anchors = 0
		for _, c := range f.checkpoints(t, f.tid) {
			if c.Kind == audit.KindAnchor {
				anchors++
			}
		}
		if anchors != 2 {
			t.Errorf("%d anchors after two purges", anchors)
		}
		if rep := f.verify(t, f.tid); rep.FirstSeq != res2.Anchor.Seq+1 || !rep.Anchored {
			t.Errorf("report after the second purge %+v", rep)
		}
	})
}

// TestAuditPurgeAnchorMustMatch: an anchor whose hash is not the stored
// event's (the event changed after verification) purges nothing.
func TestAuditPurgeAnchorMustMatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRetentionFixture(t, db)
		evs := f.events(t, f.tid)
		last := evs[0]
		bad, err := f.keys.Sign(audit.Checkpoint{TenantID: f.tid, Kind: audit.KindAnchor, Seq: last.Seq, Hash: evs[1].Hash, At: last.At})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PurgeAudit(ctx, f.tid, bad); err == nil {
			t.Fatal("purged behind an anchor that does not match its event")
		}
		unsigned := audit.Checkpoint{TenantID: f.tid, Kind: audit.KindAnchor, Seq: last.Seq, Hash: last.Hash, At: last.At}
		if _, err := db.PurgeAudit(ctx, f.tid, unsigned); err == nil {
			t.Fatal("purged behind an unsigned anchor")
		}
		if len(f.events(t, f.tid)) != len(evs) {
			t.Fatal("a refused purge removed events")
		}
		for _, c := range f.checkpoints(t, f.tid) {
			if c.Kind == audit.KindAnchor {
				t.Fatal("a refused purge left an anchor")
			}
		}
		f.verify(t, f.tid)
	})
}

// TestPlatformTrailRetention: the platform's trail (tenant "") purges and
// verifies like a tenant's.
func TestPlatformTrailRetention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRetentionFixture(t, db)
		pl := audit.NewPlatformLog(db, f.clock.now)
		op := audit.SystemActor("haven tenant create", "cli user test")
		for i := range 4 {
			f.clock.day(i)
			if err := pl.KeyOperation(ctx, op, audit.ActionKEKVersionCreated, "", "", map[string]audit.Change{"kek": {After: "v2"}}); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.day(300)
		if err := pl.TenantCreated(ctx, op, tenant.Tenant{ID: f.tid, Slug: "keeper", Name: "Keeper"}); err != nil {
			t.Fatal(err)
		}
		res, err := audit.Purge(ctx, db, f.keys, audit.PlatformTrail, retentionBase.AddDate(0, 0, audit.DefaultRetentionDays+100), audit.DefaultRetentionDays*audit.Day)
		if err != nil || res.Events != 4 {
			t.Fatalf("platform purge: %+v %v", res, err)
		}
		evs := f.events(t, audit.PlatformTrail)
		if len(evs) != 2 || evs[1].Action != audit.ActionTenantCreated || evs[0].Action != audit.ActionAuditPurged || evs[0].TenantID != "" {
			t.Fatalf("platform events after the purge: %+v", evs)
		}
		if rep := f.verify(t, audit.PlatformTrail); !rep.Anchored || rep.Events != 2 {
			t.Errorf("platform report %+v", rep)
		}
		// The tenant's own trail was not touched.
		if rep := f.verify(t, f.tid); rep.Anchored || rep.FirstSeq != 1 {
			t.Errorf("tenant report %+v", rep)
		}
	})
}

// TestAuditRetentionSettings: the period is stored per tenant; nobody,
// not even a buggy caller of the store, can go below the minimum.
func TestAuditRetentionSettings(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newRetentionFixture(t, db)
		other := newRetentionFixtureTenant(t, db, f, "other")
		s := audit.NewRetentionSettings(db, f.clock.now)
		if d, err := s.Get(ctx, f.admin); err != nil || d != audit.DefaultRetentionDays {
			t.Fatalf("default: %d %v", d, err)
		}
		if _, err := s.Put(ctx, f.admin, audit.MinRetentionDays-1); !apperr.Is(err, apperr.KindInvalid) {
			t.Fatalf("179 days: %v", err)
		}
		if d, err := s.Put(ctx, f.admin, 2000); err != nil || d != 2000 {
			t.Fatalf("put 2000: %d %v", d, err)
		}
		if d, err := s.Put(ctx, f.admin, audit.MinRetentionDays); err != nil || d != audit.MinRetentionDays {
			t.Fatalf("put 180: %d %v", d, err)
		}
		if err := db.PutAuditRetentionDays(ctx, f.tid, 100, f.clock.now()); err == nil {
			t.Fatal("the database stored 100 days")
		}
		if err := db.PutAuditRetentionDays(ctx, f.tid, audit.MaxRetentionDays+1, f.clock.now()); err == nil {
			t.Fatal("the database stored more than the maximum")
		}
		if d, _ := s.Days(ctx, f.tid); d != audit.MinRetentionDays {
			t.Errorf("in force: %d", d)
		}
		// Per tenant.
		if d, _ := s.Days(ctx, other); d != audit.DefaultRetentionDays {
			t.Errorf("the other tenant keeps %d days", d)
		}
		evs, _ := db.QueryAudit(ctx, f.tid, audit.Filter{Action: audit.ActionSettingsUpdated, ObjectID: audit.SettingsObjectAudit, Limit: 10})
		if len(evs) != 2 || evs[0].Changes["retention_days"].Before != float64(2000) || evs[0].Changes["retention_days"].After != float64(180) ||
			evs[1].Changes["retention_days"].Before != float64(audit.DefaultRetentionDays) {
			t.Errorf("settings events %+v", evs)
		}
	})
}

// newRetentionFixtureTenant adds another tenant to the fixture's database.
func newRetentionFixtureTenant(t *testing.T, db *store.DB, f retentionFixture, slug string) tenant.ID {
	t.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, f.clock.now)
	res, err := provision.New(db, f.recs, ids, f.clock.now).CreateTenant(context.Background(),
		provision.Input{Slug: slug, Name: slug, AdminEmail: "admin@" + slug + ".example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Tenant.ID
}
