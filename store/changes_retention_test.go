package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testkeys"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// TestChangeRetention purges changes older than a cutoff: newer ones
// stay, a cursor before the purged ones is refused as expired, and a
// cursor exactly at the boundary reads on with nothing lost or repeated.
func TestChangeRetention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		res := newTenant(t, db, "retain")
		ctx := context.Background()
		t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := t0
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), now)
		feed := records.NewFeed(db, svc)
		admin := adminActor(res)
		tid := res.Tenant.ID

		start, err := feed.Head(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		var cursors []string // the head after each old write
		for i := range 3 {
			if _, err := svc.Create(ctx, admin, "account", "", jsonValues(map[string]any{"name": fmt.Sprintf("旧%d", i)})); err != nil {
				t.Fatal(err)
			}
			c, err := feed.Head(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			cursors = append(cursors, c)
		}
		mu.Lock()
		clock = t0.Add(10 * 24 * time.Hour)
		mu.Unlock()
		r, err := svc.Create(ctx, admin, "contact", "", jsonValues(map[string]any{"name": "新"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, admin, "contact", r.ID, r.Version); err != nil {
			t.Fatal(err)
		}
		boundary := cursors[2]
		bseq, _ := records.ParseChangeCursor(tid, boundary)

		// One step of at most one change: the boundary moves with it, and
		// a cursor right at it still reads on.
		sseq := mustSeq(t, tid, start)
		n, more, err := db.PurgeChangesStep(ctx, tid, t0.Add(5*24*time.Hour), 1)
		if err != nil || n != 1 || !more {
			t.Fatalf("one purge step: removed %d, more %v, %v", n, more, err)
		}
		if _, purged, err := db.ChangeBounds(ctx, tid); err != nil || purged != sseq+1 {
			t.Fatalf("after one step purged through %d, want %d (%v)", purged, sseq+1, err)
		}
		if items, _, _, err := feed.Changes(ctx, admin, records.EncodeChangeCursor(tid, sseq+1), 100); err != nil || len(items) == 0 || items[0].Seq != sseq+2 {
			t.Fatalf("cursor at the step's boundary: %v, %v", items, err)
		}
		n, err = db.PurgeChanges(ctx, tid, t0.Add(5*24*time.Hour))
		if err != nil || n != bseq-sseq-1 {
			t.Fatalf("purge removed %d (want %d), %v", n, bseq-sseq-1, err)
		}
		head, purged, err := db.ChangeBounds(ctx, tid)
		if err != nil || purged != bseq || head != bseq+2 {
			t.Fatalf("bounds after purge: head %d purged %d (want %d, %d), %v", head, purged, bseq+2, bseq, err)
		}
		// Older cursors: refused with the distinct error, never a silent skip.
		for _, c := range []string{start, cursors[0], cursors[1]} {
			_, _, _, err := feed.Changes(ctx, admin, c, 10)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.KindGone || e.Code != apperr.CodeCursorExpired {
				t.Fatalf("cursor %s after the purge: %v, want cursor_expired", c, err)
			}
		}
		// The boundary cursor reads exactly the two newer changes.
		items, next, more, err := feed.Changes(ctx, admin, boundary, 10)
		if err != nil || more || len(items) != 2 || items[0].Seq != bseq+1 || items[1].Seq != bseq+2 ||
			items[0].Op != records.ChangeCreate || items[1].Op != records.ChangeDelete {
			t.Fatalf("boundary cursor: %+v, more %v, %v", items, more, err)
		}
		if again, _, _, err := feed.Changes(ctx, admin, next, 10); err != nil || len(again) != 0 {
			t.Fatalf("after the boundary page: %d items, %v", len(again), err)
		}
		// Nothing older is left: a second purge removes nothing.
		if n, err := db.PurgeChanges(ctx, tid, t0.Add(5*24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("second purge removed %d, %v", n, err)
		}
		// Purging everything leaves the head cursor valid.
		if _, err := db.PurgeChanges(ctx, tid, t0.Add(365*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if items, _, _, err := feed.Changes(ctx, admin, next, 10); err != nil || len(items) != 0 {
			t.Fatalf("head cursor after purging everything: %d items, %v", len(items), err)
		}
		if _, _, _, err := feed.Changes(ctx, admin, boundary, 10); !apperr.Is(err, apperr.KindGone) {
			t.Fatalf("boundary cursor after purging past it: %v", err)
		}
		// Another tenant's feed is untouched.
		other := newTenant(t, db, "retain-other")
		if _, err := svc.Create(ctx, adminActor(other), "account", "", jsonValues(map[string]any{"name": "别家"})); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PurgeChanges(ctx, tid, t0.Add(365*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if items, _, _, err := feed.Changes(ctx, adminActor(other), "", 10); err != nil || len(items) != 1 {
			t.Fatalf("other tenant's feed: %d items, %v", len(items), err)
		}
	})
}

func mustSeq(t *testing.T, tid tenant.ID, c string) int64 {
	t.Helper()
	seq, err := records.ParseChangeCursor(tid, c)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestChangePurgeConcurrentWriters purges repeatedly while writers add
// changes and a reader follows the feed: every change is either still in
// the feed or behind the purge boundary, the feed stays one unbroken run
// up to the head, and the reader sees no gap: each page continues its
// cursor, or the cursor is refused as expired because the purge really
// passed it.
func TestChangePurgeConcurrentWriters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		res := newTenant(t, db, "retain-race")
		ctx := context.Background()
		old := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		// Every change is stamped old, so each purge removes whatever is
		// committed when it takes the head.
		svc := records.NewService(db, testkeys.Keyring(t, db, nil), func() time.Time { return old })
		feed := records.NewFeed(db, svc)
		admin := adminActor(res)
		tid := res.Tenant.ID
		head0, _, err := db.ChangeBounds(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}

		const writers, perWriter = 3, 15
		var writes sync.WaitGroup
		errs := make(chan error, writers+2)
		for w := range writers {
			writes.Go(func() {
				for i := range perWriter {
					if _, err := svc.Create(ctx, admin, "account", "", jsonValues(map[string]any{"name": fmt.Sprintf("并发%d-%d", w, i)})); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { writes.Wait(); close(done) }()
		var side sync.WaitGroup
		side.Go(func() { // the purger
			for {
				if _, err := db.PurgeChanges(ctx, tid, old.Add(time.Hour)); err != nil {
					errs <- err
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
		var refused int  // the reader's cursors refused as expired
		side.Go(func() { // the reader
			cursor := records.EncodeChangeCursor(tid, head0)
			for {
				since, _ := records.ParseChangeCursor(tid, cursor) // one the feed handed out
				items, next, more, err := feed.Changes(ctx, admin, cursor, 5)
				switch {
				case apperr.Is(err, apperr.KindGone):
					_, purged, err := db.ChangeBounds(ctx, tid)
					if err != nil {
						errs <- err
						return
					}
					if purged <= since {
						errs <- fmt.Errorf("cursor %d refused as expired, but the feed is purged only through %d", since, purged)
						return
					}
					refused++
					cursor = records.EncodeChangeCursor(tid, purged) // a fresh copy would start here
					continue
				case err != nil:
					errs <- err
					return
				}
				for i, it := range items {
					if it.Seq != since+int64(i+1) {
						errs <- fmt.Errorf("after cursor %d the reader got seq %d at %d: a gap", since, it.Seq, i)
						return
					}
				}
				cursor = next
				if !more {
					select {
					case <-done:
						return
					default:
					}
				}
			}
		})
		<-done
		side.Wait()
		t.Logf("the reader's cursor was refused as expired %d times", refused)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		head, purged, err := db.ChangeBounds(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		if head != head0+writers*perWriter {
			t.Fatalf("head %d, want %d", head, head0+writers*perWriter)
		}
		rest, err := db.ChangesAfter(ctx, tid, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if purged+int64(len(rest)) != head {
			t.Fatalf("purged through %d plus %d left is not the head %d: a change was lost", purged, len(rest), head)
		}
		for i, c := range rest {
			if c.Seq != purged+int64(i+1) {
				t.Fatalf("left change %d has seq %d after purge boundary %d", i, c.Seq, purged)
			}
		}
		list, _, err := svc.List(ctx, admin, "account", records.ListQuery{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		created := 0
		for _, r := range list {
			if len(r.Fields) > 0 && r.Fields["name"] != nil {
				created++
			}
		}
		if created < writers*perWriter {
			t.Fatalf("%d accounts, want at least %d", created, writers*perWriter)
		}
	})
}
