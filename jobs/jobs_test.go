package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// clock is a settable test clock shared by a queue and its workers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

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

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func addTenant(t *testing.T, db *store.DB, id string) tenant.ID {
	t.Helper()
	now := time.Now().UTC()
	if err := db.InsertTenant(context.Background(), tenant.Tenant{ID: tenant.ID(id), Slug: id, Name: id, Status: tenant.StatusActive,
		ContractStart: now, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return tenant.ID(id)
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func get(t *testing.T, q *jobs.Queue, tid tenant.ID, id string) jobs.Job {
	t.Helper()
	j, err := q.Get(context.Background(), tid, id)
	if err != nil {
		t.Fatalf("get job %s: %v", id, err)
	}
	return j
}

func runOnce(t *testing.T, w *jobs.Worker, want bool) {
	t.Helper()
	ran, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if ran != want {
		t.Fatalf("RunOnce ran a job: %v, want %v", ran, want)
	}
}

func worker(q *jobs.Queue, c *clock, id string, opts ...func(*jobs.WorkerOptions)) *jobs.Worker {
	o := jobs.WorkerOptions{ID: id, Log: quietLog(), Now: c.Now, Heartbeat: -1}
	for _, f := range opts {
		f(&o)
	}
	return jobs.NewWorker(q, o)
}

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		j    jobs.Job
		want int
	}{
		{jobs.Job{State: jobs.Queued}, 0},
		{jobs.Job{State: jobs.Running, Done: 5}, 0},
		{jobs.Job{State: jobs.Running, Total: 3, Done: 1}, 33},
		{jobs.Job{State: jobs.Running, Total: 3, Done: 7}, 100},
		{jobs.Job{State: jobs.Failed, Total: 10, Done: 4}, 40},
		{jobs.Job{State: jobs.Succeeded}, 100},
		{jobs.Job{State: jobs.Running, Total: 1 << 60, Done: 1 << 59}, 50},
	} {
		if got := c.j.Percent(); got != c.want {
			t.Errorf("%+v: Percent %d, want %d", c.j, got, c.want)
		}
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	if jobs.Backoff(1) != 2*time.Second || jobs.Backoff(3) != 8*time.Second || jobs.Backoff(40) != jobs.MaxBackoff || jobs.Backoff(12) != jobs.MaxBackoff {
		t.Fatalf("backoff %v %v %v", jobs.Backoff(1), jobs.Backoff(3), jobs.Backoff(40))
	}
}

// TestEnqueueJoinsTheCallersTransaction: a job enqueued inside a rolled
// back transaction never existed; one inside a committed one does.
func TestEnqueueJoinsTheCallersTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		errRollback := errors.New("roll back")
		var inTx jobs.Job
		err := db.WriteTx(ctx, acme, func(ctx context.Context) error {
			var err error
			inTx, err = q.Enqueue(ctx, acme, "export.full", map[string]string{"format": "csv"}, "u1", jobs.EnqueueOptions{Key: "export"})
			if err != nil {
				return err
			}
			// Visible inside the transaction...
			if _, err := q.Get(ctx, acme, inTx.ID); err != nil {
				return fmt.Errorf("job not visible in its own transaction: %w", err)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("WriteTx: %v", err)
		}
		// ...and gone with it.
		if _, err := q.Get(ctx, acme, inTx.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("rolled-back job: %v", err)
		}
		if list := must[[]jobs.Job](t)(q.List(ctx, acme, 10)); len(list) != 0 {
			t.Fatalf("rolled-back job listed: %+v", list)
		}
		if _, found, err := q.Unfinished(ctx, acme, "export"); found || err != nil {
			t.Fatalf("rolled-back job still holds its key: %v %v", found, err)
		}

		var committed jobs.Job
		if err := db.WriteTx(ctx, acme, func(ctx context.Context) error {
			var err error
			committed, err = q.Enqueue(ctx, acme, "export.full", map[string]string{"format": "csv"}, "u1", jobs.EnqueueOptions{Key: "export"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got := get(t, q, acme, committed.ID)
		if got.State != jobs.Queued || got.Kind != "export.full" || got.Key != "export" || got.CreatedBy != "u1" || got.TenantID != acme ||
			string(got.Payload) != `{"format":"csv"}` || !got.CreatedAt.Equal(c.Now()) || got.Attempts != 0 || got.FinishedAt != nil {
			t.Fatalf("stored job %+v", got)
		}
		if !tenant.ValidID(got.ID) {
			t.Fatalf("job ID %q is not a Haven ID", got.ID)
		}

		// A transaction of another tenant cannot carry this tenant's job.
		other := addTenant(t, db, "globex")
		err = db.WriteTx(ctx, other, func(ctx context.Context) error {
			_, err := q.Enqueue(ctx, acme, "export.full", nil, "u1", jobs.EnqueueOptions{})
			return err
		})
		if err == nil {
			t.Fatal("enqueue for acme inside globex's transaction succeeded")
		}
	})
}

func TestEnqueueValidates(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := jobs.New(db, nil)
		acme := addTenant(t, db, "acme")
		if _, err := q.Enqueue(ctx, acme, "Bad Kind", nil, "u", jobs.EnqueueOptions{}); err == nil {
			t.Error("invalid kind accepted")
		}
		if _, err := q.Enqueue(ctx, acme, "k", nil, "u", jobs.EnqueueOptions{Key: strings.Repeat("k", jobs.MaxKeyBytes+1)}); !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("long key: %v", err)
		}
		if _, err := q.Enqueue(ctx, acme, "k", strings.Repeat("x", jobs.MaxPayloadBytes), "u", jobs.EnqueueOptions{}); !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("big payload: %v", err)
		}
		if _, err := q.Enqueue(ctx, acme, "k", func() {}, "u", jobs.EnqueueOptions{}); err == nil {
			t.Error("unencodable payload accepted")
		}
		if list, _ := q.List(ctx, acme, 10); len(list) != 0 {
			t.Fatalf("invalid enqueues stored %d jobs", len(list))
		}
	})
}

// TestEnqueueKeyDeduplicates: one unfinished job per tenant and key; the
// key is free again once the job finished.
func TestEnqueueKeyDeduplicates(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme, globex := addTenant(t, db, "acme"), addTenant(t, db, "globex")
		first := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", map[string]int{"n": 1}, "u1", jobs.EnqueueOptions{Key: "export"}))
		again := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", map[string]int{"n": 2}, "u2", jobs.EnqueueOptions{Key: "export"}))
		if again.ID != first.ID || string(again.Payload) != `{"n":1}` {
			t.Fatalf("second enqueue with the key made %+v, want the first job %s", again, first.ID)
		}
		theirs := must[jobs.Job](t)(q.Enqueue(ctx, globex, "export.full", nil, "u3", jobs.EnqueueOptions{Key: "export"}))
		if theirs.ID == first.ID || theirs.TenantID != globex {
			t.Fatalf("another tenant's key collided: %+v", theirs)
		}
		a := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", nil, "u1", jobs.EnqueueOptions{}))
		b := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", nil, "u1", jobs.EnqueueOptions{}))
		if a.ID == b.ID {
			t.Fatal("jobs without a key were deduplicated")
		}
		if u, found, err := q.Unfinished(ctx, acme, "export"); err != nil || !found || u.ID != first.ID {
			t.Fatalf("Unfinished: %+v %v %v", u, found, err)
		}

		// Running still holds the key; finished frees it.
		w := worker(q, c, "w1")
		w.Handle("export.full", func(ctx context.Context, job jobs.Job, p *jobs.Progress) error {
			if job.ID == first.ID {
				dup := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", nil, "u1", jobs.EnqueueOptions{Key: "export"}))
				if dup.ID != first.ID || dup.State != jobs.Running {
					t.Errorf("enqueue while running made %+v", dup)
				}
			}
			return nil
		})
		for range 4 {
			runOnce(t, w, true)
		}
		runOnce(t, w, false)
		if _, found, _ := q.Unfinished(ctx, acme, "export"); found {
			t.Fatal("a finished job still holds its key")
		}
		next := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", nil, "u1", jobs.EnqueueOptions{Key: "export"}))
		if next.ID == first.ID || next.State != jobs.Queued {
			t.Fatalf("enqueue after the keyed job finished: %+v", next)
		}
	})
}

// TestWorkersRaceForOneJob: several workers (as on several instances)
// call RunOnce at once on one due job; exactly one runs it.
func TestWorkersRaceForOneJob(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(ctx, acme, "reencrypt", nil, "system", jobs.EnqueueOptions{}))

		const n = 4
		started := make(chan string, n)
		release := make(chan struct{})
		type result struct {
			ran bool
			err error
		}
		results := make(chan result, n)
		for i := range n {
			w := worker(q, c, fmt.Sprintf("instance-%d", i))
			w.Handle("reencrypt", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
				started <- j.ID
				<-release // hold the job until every other worker has given up
				return nil
			})
			go func() {
				ran, err := w.RunOnce(ctx)
				results <- result{ran, err}
			}()
		}
		// Each worker either starts the handler or returns without a job.
		runs, idle := 0, 0
		for runs+idle < n {
			select {
			case id := <-started:
				if id != job.ID {
					t.Errorf("ran job %s", id)
				}
				runs++
			case r := <-results:
				if r.err != nil {
					t.Errorf("RunOnce: %v", r.err)
				}
				if r.ran {
					t.Error("a worker reported a run without starting the handler")
				}
				idle++
			}
		}
		close(release)
		for range runs {
			if r := <-results; r.err != nil || !r.ran {
				t.Errorf("the running worker: %+v", r)
			}
		}
		if runs != 1 {
			t.Fatalf("%d workers ran the job, want exactly 1", runs)
		}
		if got := get(t, q, acme, job.ID); got.State != jobs.Succeeded || got.Attempts != 1 {
			t.Fatalf("after the race: %+v", got)
		}
	})
}

// TestResumeAfterCrash: worker A claims the job, saves progress and then
// never finishes (a crash, from the job table's view). While A's lease
// lasts nobody else takes the job; once it ran out, worker B claims it
// and resumes from A's cursor; A's next checkpoint then reports the lost
// lease and A's late outcome is not recorded.
func TestResumeAfterCrash(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(ctx, acme, "backup", map[string]string{"target": "s3"}, "system", jobs.EnqueueOptions{}))

		lease := 30 * time.Second
		a := worker(q, c, "a", func(o *jobs.WorkerOptions) { o.Lease = lease })
		saved, resume := make(chan struct{}), make(chan struct{})
		var aLate error
		a.Handle("backup", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			if j.Cursor != "" || j.Attempts != 1 {
				t.Errorf("A's first run starts at cursor %q attempt %d", j.Cursor, j.Attempts)
			}
			if err := p.Save(ctx, "chunk-3", 3, 10); err != nil {
				t.Errorf("A's save: %v", err)
			}
			close(saved)
			<-resume // "crashed": no outcome until B is done
			aLate = p.Save(ctx, "chunk-4", 4, 10)
			return aLate
		})
		aDone := make(chan error, 1)
		go func() {
			_, err := a.RunOnce(ctx)
			aDone <- err
		}()
		<-saved

		var bSaw jobs.Job
		b := worker(q, c, "b", func(o *jobs.WorkerOptions) { o.Lease = lease })
		b.Handle("backup", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			bSaw = j
			return p.Save(ctx, "chunk-10", 10, 10)
		})
		running := get(t, q, acme, job.ID)
		if running.State != jobs.Running || running.Cursor != "chunk-3" || running.Done != 3 || running.Total != 10 || running.Percent() != 30 {
			t.Fatalf("A's checkpoint: %+v", running)
		}
		runOnce(t, b, false) // A's lease holds
		c.Advance(lease - time.Microsecond)
		runOnce(t, b, false) // still (the checkpoint renewed it at the start)
		c.Advance(2 * time.Microsecond)
		runOnce(t, b, true)
		if bSaw.Cursor != "chunk-3" || bSaw.Done != 3 || bSaw.Total != 10 || bSaw.Attempts != 2 || string(bSaw.Payload) != `{"target":"s3"}` {
			t.Fatalf("B resumed from %+v", bSaw)
		}
		done := get(t, q, acme, job.ID)
		if done.State != jobs.Succeeded || done.Cursor != "chunk-10" || done.Done != 10 || done.FinishedAt == nil || !done.FinishedAt.Equal(c.Now()) {
			t.Fatalf("after B: %+v", done)
		}

		close(resume)
		if err := <-aDone; err != nil {
			t.Fatalf("A's RunOnce: %v", err)
		}
		if !errors.Is(aLate, jobs.ErrLeaseLost) {
			t.Fatalf("A's save after B took over: %v, want ErrLeaseLost", aLate)
		}
		if after := get(t, q, acme, job.ID); after.State != jobs.Succeeded || after.Cursor != "chunk-10" || after.Error != "" {
			t.Fatalf("A's late run changed the job: %+v", after)
		}
	})
}

// TestStoppedWorkerReleasesTheJob: a handler that returns because its
// worker's context ended leaves the job queued, at its saved cursor, due at
// once and without the run counted; the next worker resumes it.
func TestStoppedWorkerReleasesTheJob(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(context.Background(), acme, "rotate", nil, "system", jobs.EnqueueOptions{}))

		ctx, cancel := context.WithCancel(context.Background())
		saved := make(chan struct{})
		a := worker(q, c, "a")
		a.Handle("rotate", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			if err := p.Save(ctx, "page-2", 20, 100); err != nil {
				return err
			}
			close(saved)
			<-ctx.Done()
			return ctx.Err()
		})
		go func() { <-saved; cancel() }()
		ran, err := a.RunOnce(ctx)
		if !ran || err != nil {
			t.Fatalf("RunOnce: %v %v", ran, err)
		}
		got := get(t, q, acme, job.ID)
		if got.State != jobs.Queued || got.Attempts != 0 || got.Cursor != "page-2" || got.Done != 20 || got.Error != "" {
			t.Fatalf("released job: %+v", got)
		}
		var saw jobs.Job
		b := worker(q, c, "b")
		b.Handle("rotate", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			saw = j
			return nil
		})
		runOnce(t, b, true)
		if saw.Cursor != "page-2" || saw.Done != 20 || saw.Attempts != 1 {
			t.Fatalf("resumed from %+v", saw)
		}
		if got := get(t, q, acme, job.ID); got.State != jobs.Succeeded || got.Done != 100 || got.Percent() != 100 {
			t.Fatalf("after resume: %+v", got)
		}
	})
}

// TestHeartbeatNoticesALostLease: a handler busy between checkpoints keeps
// its lease by the heartbeat; when another worker took the job anyway
// (this worker's clock fell behind), the heartbeat cancels the handler
// with ErrLeaseLost.
func TestHeartbeatNoticesALostLease(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(ctx, acme, "purge", nil, "system", jobs.EnqueueOptions{}))

		stuck := newClock() // A's clock stays at the claim time
		a := worker(q, stuck, "a", func(o *jobs.WorkerOptions) { o.Heartbeat = time.Millisecond })
		started := make(chan struct{})
		var cause error
		a.Handle("purge", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			close(started)
			<-ctx.Done()
			cause = context.Cause(ctx)
			return ctx.Err()
		})
		aDone := make(chan error, 1)
		go func() {
			_, err := a.RunOnce(ctx)
			aDone <- err
		}()
		<-started
		c.Advance(jobs.DefaultLease + time.Second)
		b := worker(q, c, "b")
		b.Handle("purge", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error { return nil })
		runOnce(t, b, true)
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(cause, jobs.ErrLeaseLost) {
			t.Fatalf("A's handler was cancelled with %v, want ErrLeaseLost", cause)
		}
		if got := get(t, q, acme, job.ID); got.State != jobs.Succeeded || got.Attempts != 2 {
			t.Fatalf("job after A gave up: %+v", got)
		}
	})
}

// TestRetriesBackOffThenFailWithASafeMessage: a failing handler is retried
// after 2^attempt seconds until MaxAttempts, then the job fails; the raw
// error reaches the log with a reference, the job only the reference, and
// neither carries payload values.
func TestRetriesBackOffThenFailWithASafeMessage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", map[string]string{"email": "payload-secret@example.com"}, "u1", jobs.EnqueueOptions{}))
		var logs syncBuffer
		w := worker(q, c, "w", func(o *jobs.WorkerOptions) {
			o.MaxAttempts = 3
			o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		var calls atomic.Int32
		w.Handle("export.full", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			calls.Add(1)
			return fmt.Errorf("write export: %w", errors.New("pq: secret detail"))
		})
		checkSafe := func(j jobs.Job) {
			t.Helper()
			if !strings.HasPrefix(j.Error, "internal error (reference ") || strings.Contains(j.Error, "secret") {
				t.Fatalf("job error %q", j.Error)
			}
			ref := strings.TrimSuffix(strings.TrimPrefix(j.Error, "internal error (reference "), ")")
			if !strings.Contains(logs.String(), "ref="+ref) {
				t.Fatalf("reference %s not in the log:\n%s", ref, logs.String())
			}
		}

		runOnce(t, w, true)
		j := get(t, q, acme, job.ID)
		if j.State != jobs.Queued || j.Attempts != 1 || j.FinishedAt != nil {
			t.Fatalf("after attempt 1: %+v", j)
		}
		checkSafe(j)
		runOnce(t, w, false) // backing off
		c.Advance(jobs.Backoff(1) - time.Microsecond)
		runOnce(t, w, false)
		c.Advance(time.Microsecond)
		runOnce(t, w, true)
		if j = get(t, q, acme, job.ID); j.State != jobs.Queued || j.Attempts != 2 {
			t.Fatalf("after attempt 2: %+v", j)
		}
		c.Advance(jobs.Backoff(2))
		runOnce(t, w, true)
		j = get(t, q, acme, job.ID)
		if j.State != jobs.Failed || j.Attempts != 3 || j.FinishedAt == nil || !j.FinishedAt.Equal(c.Now()) {
			t.Fatalf("after attempt 3: %+v", j)
		}
		checkSafe(j)
		c.Advance(time.Hour)
		runOnce(t, w, false) // failed is final
		if calls.Load() != 3 {
			t.Fatalf("handler called %d times, want 3", calls.Load())
		}
		out := logs.String()
		if !strings.Contains(out, "pq: secret detail") || !strings.Contains(out, "job_id="+job.ID) || !strings.Contains(out, "tenant_id=acme") {
			t.Fatalf("the log lacks the real error or the job's identity:\n%s", out)
		}
		if strings.Contains(out, "payload-secret") {
			t.Fatalf("payload value logged:\n%s", out)
		}
	})
}

// TestPublicErrorsAndPanics: an apperr's public message is kept as is; an
// internal apperr and a panic become "internal error"; a panic does not
// stop the worker.
func TestPublicErrorsAndPanics(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		w := worker(q, c, "w", func(o *jobs.WorkerOptions) { o.MaxAttempts = 1 })
		w.Handle("public", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			return apperr.Invalid("the export format %q is not supported", "xls").Wrap(errors.New("pq: hidden cause"))
		})
		w.Handle("internal", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			return apperr.Internal(errors.New("pq: hidden cause"))
		})
		w.Handle("panics", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			panic(errors.New("pq: hidden cause in a panic"))
		})
		w.Handle("fine", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error { return nil })
		ids := map[string]string{}
		for _, kind := range []string{"public", "internal", "panics", "fine"} {
			ids[kind] = must[jobs.Job](t)(q.Enqueue(ctx, acme, kind, nil, "u1", jobs.EnqueueOptions{})).ID
			c.Advance(time.Second) // due in this order
		}
		for range 4 {
			runOnce(t, w, true)
		}
		runOnce(t, w, false)
		if j := get(t, q, acme, ids["public"]); j.State != jobs.Failed || j.Error != `the export format "xls" is not supported` {
			t.Errorf("public: %+v", j)
		}
		for _, kind := range []string{"internal", "panics"} {
			if j := get(t, q, acme, ids[kind]); j.State != jobs.Failed || !strings.HasPrefix(j.Error, "internal error (reference ") || strings.Contains(j.Error, "pq") {
				t.Errorf("%s: %+v", kind, j)
			}
		}
		if j := get(t, q, acme, ids["fine"]); j.State != jobs.Succeeded {
			t.Errorf("the job after the panic: %+v", j)
		}
	})
}

// TestCrashLoopIsAbandoned: a job whose runs keep ending without an
// outcome (each worker dies on it) fails after MaxAttempts instead of
// taking worker after worker down.
func TestCrashLoopIsAbandoned(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(ctx, acme, "ooms", nil, "system", jobs.EnqueueOptions{}))
		for i := range 2 { // two workers claim it and die
			_, ok, err := db.ClaimJob(ctx, jobs.Claim{Kinds: []string{"ooms"}, Owner: "dead", Token: fmt.Sprintf("t%d", i), Now: c.Now(), LeaseUntil: c.Now().Add(time.Minute)})
			if !ok || err != nil {
				t.Fatalf("claim %d: %v %v", i, ok, err)
			}
			c.Advance(time.Minute + time.Second)
		}
		w := worker(q, c, "w", func(o *jobs.WorkerOptions) { o.MaxAttempts = 2 })
		w.Handle("ooms", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			t.Error("the handler ran a third time")
			return nil
		})
		runOnce(t, w, true)
		if j := get(t, q, acme, job.ID); j.State != jobs.Failed || j.Error != "the job stopped unexpectedly too many times" {
			t.Fatalf("crash-looping job: %+v", j)
		}
	})
}

// TestUnhandledKindsAreNotClaimed: a worker leaves kinds it has no handler
// for to workers that have one.
func TestUnhandledKindsAreNotClaimed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(ctx, acme, "backup", nil, "system", jobs.EnqueueOptions{}))
		none := worker(q, c, "none")
		runOnce(t, none, false)
		other := worker(q, c, "other")
		other.Handle("export.full", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error { return nil })
		runOnce(t, other, false)
		if j := get(t, q, acme, job.ID); j.State != jobs.Queued || j.Attempts != 0 {
			t.Fatalf("unhandled job touched: %+v", j)
		}
	})
}

// TestTenantIsolation: a tenant never sees another's jobs, and only admins
// may list them.
func TestTenantIsolation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		q := jobs.New(db, c.Now)
		acme, globex := addTenant(t, db, "acme"), addTenant(t, db, "globex")
		mine := must[jobs.Job](t)(q.Enqueue(ctx, acme, "export.full", nil, "u1", jobs.EnqueueOptions{}))
		c.Advance(time.Second)
		newer := must[jobs.Job](t)(q.Enqueue(ctx, acme, "backup", nil, "u1", jobs.EnqueueOptions{}))
		theirs := must[jobs.Job](t)(q.Enqueue(ctx, globex, "export.full", nil, "u2", jobs.EnqueueOptions{}))

		if _, err := q.Get(ctx, globex, mine.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("globex reads acme's job: %v", err)
		}
		if _, err := q.Get(ctx, acme, "not-an-id"); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("malformed ID: %v", err)
		}
		list := must[[]jobs.Job](t)(q.List(ctx, acme, 10))
		if len(list) != 2 || list[0].ID != newer.ID || list[1].ID != mine.ID {
			t.Fatalf("acme's list (newest first): %+v", list)
		}
		if one := must[[]jobs.Job](t)(q.List(ctx, acme, 1)); len(one) != 1 || one[0].ID != newer.ID {
			t.Fatalf("limit 1: %+v", one)
		}
		if l := must[[]jobs.Job](t)(q.List(ctx, globex, 10)); len(l) != 1 || l[0].ID != theirs.ID {
			t.Fatalf("globex's list: %+v", l)
		}

		admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: acme, UserID: "a", Role: access.RoleAdmin}
		sales := tenant.Actor{Kind: tenant.ActorUser, TenantID: acme, UserID: "s", Role: access.RoleSales}
		if _, err := q.ListFor(ctx, sales, 10); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("sales lists jobs: %v", err)
		}
		if _, err := q.GetFor(ctx, sales, mine.ID); !apperr.Is(err, apperr.KindForbidden) {
			t.Fatalf("sales reads a job: %v", err)
		}
		if j, err := q.GetFor(ctx, admin, mine.ID); err != nil || j.ID != mine.ID {
			t.Fatalf("admin reads a job: %v", err)
		}
		if _, err := q.GetFor(ctx, admin, theirs.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Fatalf("acme's admin reads globex's job: %v", err)
		}
	})
}

// TestRunWakesOnNotifyAndStopsCleanly: Run picks a job up on Notify
// without waiting for the poll, and on shutdown returns only after the job
// in flight was given back.
func TestRunWakesOnNotifyAndStopsCleanly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		w := worker(q, c, "w", func(o *jobs.WorkerOptions) { o.Poll = time.Hour })
		ran := make(chan string, 1)
		w.Handle("quick", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			ran <- j.ID
			return nil
		})
		started := make(chan struct{})
		w.Handle("slow", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			if err := p.Save(ctx, "half", 1, 2); err != nil {
				return err
			}
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			w.Run(ctx)
		}()

		quick := must[jobs.Job](t)(q.Enqueue(context.Background(), acme, "quick", nil, "u1", jobs.EnqueueOptions{}))
		q.Notify()
		select {
		case id := <-ran:
			if id != quick.ID {
				t.Fatalf("ran %s", id)
			}
		case <-time.After(30 * time.Second): // a hang guard only; Notify answers at once
			t.Fatal("Notify did not wake the worker")
		}

		slow := must[jobs.Job](t)(q.Enqueue(context.Background(), acme, "slow", nil, "u1", jobs.EnqueueOptions{}))
		q.Notify()
		<-started
		cancel()
		<-stopped
		if j := get(t, q, acme, slow.ID); j.State != jobs.Queued || j.Cursor != "half" || j.Attempts != 0 {
			t.Fatalf("job in flight at shutdown: %+v", j)
		}
		if j := get(t, q, acme, quick.ID); j.State != jobs.Succeeded {
			t.Fatalf("quick job: %+v", j)
		}
	})
}

// TestCheckpointCommitsWithTheBatch: a Save inside the handler's own
// transaction is rolled back with it, so the cursor never gets ahead of
// the work it stands for.
func TestCheckpointCommitsWithTheBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		q := jobs.New(db, c.Now)
		acme := addTenant(t, db, "acme")
		job := must[jobs.Job](t)(q.Enqueue(context.Background(), acme, "batches", nil, "system", jobs.EnqueueOptions{}))
		w := worker(q, c, "w", func(o *jobs.WorkerOptions) { o.MaxAttempts = 1 })
		w.Handle("batches", func(ctx context.Context, j jobs.Job, p *jobs.Progress) error {
			if err := db.WriteTx(ctx, j.TenantID, func(ctx context.Context) error {
				return p.Save(ctx, "batch-1", 10, 20)
			}); err != nil {
				return err
			}
			return db.WriteTx(ctx, j.TenantID, func(ctx context.Context) error {
				if err := p.Save(ctx, "batch-2", 20, 20); err != nil {
					return err
				}
				return apperr.Conflict("batch 2 clashed with an edit")
			})
		})
		runOnce(t, w, true)
		if j := get(t, q, acme, job.ID); j.State != jobs.Failed || j.Cursor != "batch-1" || j.Done != 10 || j.Error != "batch 2 clashed with an edit" {
			t.Fatalf("job %+v", j)
		}
	})
}

func TestPayloadRoundTrips(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := jobs.New(db, nil)
		acme := addTenant(t, db, "acme")
		in := json.RawMessage(`{"ids":["a","b"],"n":3,"name":"张三"}`)
		j := must[jobs.Job](t)(q.Enqueue(ctx, acme, "k", in, "u", jobs.EnqueueOptions{}))
		if got := get(t, q, acme, j.ID); string(got.Payload) != string(in) {
			t.Fatalf("payload %s", got.Payload)
		}
	})
}
