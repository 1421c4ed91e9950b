package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/store"
)

// TestJobsRowLevelSecurity checks the second fence on the jobs table: a
// tenant transaction sees and changes only its own jobs even without a
// WHERE clause, while the workers' platform transaction (the empty tenant) may
// find and lease any job but not create one.
func TestJobsRowLevelSecurity(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	a, b := keyTenant(t, db, "acme"), keyTenant(t, db, "globex")
	q := jobs.New(db, nil)
	mine, err := q.Enqueue(ctx, a, "export.full", nil, "u1", jobs.EnqueueOptions{})
	fatalIf(t, err)
	_, err = q.Enqueue(ctx, b, "export.full", nil, "u2", jobs.EnqueueOptions{})
	fatalIf(t, err)

	var seen int
	fatalIf(t, db.ReadTx(ctx, b, func(ctx context.Context) error {
		return store.RawQueryRow(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&seen)
	}))
	if seen != 1 {
		t.Fatalf("globex's transaction sees %d jobs, want only its own 1", seen)
	}
	fatalIf(t, db.WriteTx(ctx, b, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, `UPDATE jobs SET state = 'failed', finished_at = 1, error_message = 'x' WHERE tenant_id = 'acme'`)
		return err
	}))
	if j, err := q.Get(ctx, a, mine.ID); err != nil || j.State != jobs.Queued {
		t.Fatalf("globex's transaction changed acme's job: %+v %v", j, err)
	}
	err = db.WriteTx(ctx, b, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, `INSERT INTO jobs (tenant_id, id, kind, payload, state, created_by, created_at, updated_at, not_before)
			VALUES ('acme', 'planted', 'k', 'null', 'queued', 'x', 0, 0, 0)`)
		return err
	})
	if err == nil {
		t.Fatal("globex's transaction inserted a job for acme")
	}

	// The platform transaction sees every tenant's jobs...
	fatalIf(t, db.ReadTx(ctx, "", func(ctx context.Context) error {
		return store.RawQueryRow(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&seen)
	}))
	if seen != 2 {
		t.Fatalf("the platform transaction sees %d jobs, want 2", seen)
	}
	// ...but cannot plant one.
	err = db.WriteTx(ctx, "", func(ctx context.Context) error {
		_, err := store.RawExec(ctx, `INSERT INTO jobs (tenant_id, id, kind, payload, state, created_by, created_at, updated_at, not_before)
			VALUES ('acme', 'planted', 'k', 'null', 'queued', 'x', 0, 0, 0)`)
		return err
	})
	if err == nil {
		t.Fatal("the platform transaction inserted a job")
	}
	// And the application role cannot delete jobs at all.
	err = db.WriteTx(ctx, a, func(ctx context.Context) error {
		_, err := store.RawExec(ctx, `DELETE FROM jobs WHERE tenant_id = 'acme'`)
		return err
	})
	if err == nil {
		t.Fatal("acme's transaction deleted jobs")
	}
	// The lease taken from the platform transaction is usable from the
	// tenant's.
	now := time.Now()
	claimed, ok, err := db.ClaimJob(ctx, jobs.Claim{Kinds: []string{"export.full"}, Owner: "w", Token: "tok", Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	done, err := db.FinishJob(ctx, claimed.TenantID, claimed.ID, "tok", jobs.Outcome{State: jobs.Succeeded, At: now})
	if err != nil || !done {
		t.Fatalf("finish: %v %v", done, err)
	}
}

// TestJobLeaseGuards checks the store side of leases on both engines: a
// leased job is not claimable until the lease ends, and a stale token can
// neither save nor finish.
func TestJobLeaseGuards(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := keyTenant(t, db, "acme")
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		q := jobs.New(db, func() time.Time { return t0 })
		j, err := q.Enqueue(ctx, a, "k", nil, "u", jobs.EnqueueOptions{})
		fatalIf(t, err)
		claim := func(token string, at time.Time) bool {
			t.Helper()
			_, ok, err := db.ClaimJob(ctx, jobs.Claim{Kinds: []string{"k"}, Owner: "w", Token: token, Now: at, LeaseUntil: at.Add(time.Minute)})
			fatalIf(t, err)
			return ok
		}
		if _, ok, err := db.ClaimJob(ctx, jobs.Claim{Kinds: []string{"other"}, Owner: "w", Token: "x", Now: t0, LeaseUntil: t0.Add(time.Minute)}); ok || err != nil {
			t.Fatalf("claimed a job of another kind: %v %v", ok, err)
		}
		if !claim("one", t0) {
			t.Fatal("first claim failed")
		}
		if claim("two", t0.Add(time.Minute)) {
			t.Fatal("claimed while the lease lasts (up to and including its end)")
		}
		if !claim("two", t0.Add(time.Minute+time.Microsecond)) {
			t.Fatal("expired lease not claimable")
		}
		ok, err := db.SaveJobProgress(ctx, a, j.ID, "one", jobs.Checkpoint{Cursor: "c", Done: 1, Total: 2, LeaseUntil: t0.Add(time.Hour), Now: t0})
		if ok || err != nil {
			t.Fatalf("stale token saved: %v %v", ok, err)
		}
		ok, err = db.FinishJob(ctx, a, j.ID, "one", jobs.Outcome{State: jobs.Succeeded, At: t0})
		if ok || err != nil {
			t.Fatalf("stale token finished: %v %v", ok, err)
		}
		ok, err = db.SaveJobProgress(ctx, a, j.ID, "two", jobs.Checkpoint{Cursor: "c", Done: 1, Total: 2, LeaseUntil: t0.Add(time.Hour), Now: t0})
		if !ok || err != nil {
			t.Fatalf("current token could not save: %v %v", ok, err)
		}
		got, err := db.Job(ctx, a, j.ID)
		fatalIf(t, err)
		if got.State != jobs.Running || got.Cursor != "c" || got.Done != 1 || got.Total != 2 || got.Attempts != 2 {
			t.Fatalf("job %+v", got)
		}
	})
}
