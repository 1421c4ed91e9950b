package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// ErrLeaseLost reports that another worker took the job over (this one's
// lease ran out first): the handler must stop without further effects.
var ErrLeaseLost = errors.New("jobs: the job's lease was lost to another worker")

// Handler runs one job. It resumes from job.Cursor (set by an earlier,
// interrupted run), saves progress through p, and returns when the job is
// done (nil), failed (an error; apperr public messages reach the tenant's
// admins, anything else is reported as an internal error), or ctx is done.
type Handler func(ctx context.Context, job Job, p *Progress) error

// Defaults for WorkerOptions.
const (
	DefaultLease       = 30 * time.Second
	DefaultPoll        = 2 * time.Second
	DefaultMaxAttempts = 5
	// MaxBackoff caps the wait between failed attempts.
	MaxBackoff = 10 * time.Minute
	// finishTimeout bounds recording an outcome after the worker's context
	// ended, so that shutdown still records what the run did.
	finishTimeout = 10 * time.Second
)

// WorkerOptions tune a worker; zero values take the defaults.
type WorkerOptions struct {
	// ID names the worker in the job table (default hostname-pid-random).
	ID string
	// Lease is how long a claim or a saved checkpoint holds a job; a worker
	// that stops renewing it for this long is presumed dead (default 30s).
	Lease time.Duration
	// Poll is how often an idle worker looks for due jobs (default 2s).
	Poll time.Duration
	// MaxAttempts is how many runs a job gets before it fails (default 5).
	MaxAttempts int
	Log         *slog.Logger
	// Now is the clock for leases and back-off (default the queue's).
	Now func() time.Time
	// Heartbeat is how often the lease of a running job is renewed while
	// its handler works between checkpoints, so that a long step does not
	// lose the job; 0 means Lease/3, negative turns it off (handlers then
	// keep the lease only by saving progress).
	Heartbeat time.Duration
}

// Worker claims due jobs of the kinds it has handlers for and runs them,
// one at a time.
type Worker struct {
	q           *Queue
	id          string
	lease       time.Duration
	poll        time.Duration
	beat        time.Duration
	maxAttempts int
	log         *slog.Logger
	now         func() time.Time
	wake        chan struct{}

	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewWorker returns a worker for q's jobs.
func NewWorker(q *Queue, opts WorkerOptions) *Worker {
	w := &Worker{
		q: q, id: opts.ID, lease: opts.Lease, poll: opts.Poll, beat: opts.Heartbeat, maxAttempts: opts.MaxAttempts,
		log: opts.Log, now: opts.Now, wake: make(chan struct{}, 1), handlers: map[string]Handler{},
	}
	if w.id == "" {
		w.id = defaultWorkerID()
	}
	if w.lease <= 0 {
		w.lease = DefaultLease
	}
	if w.poll <= 0 {
		w.poll = DefaultPoll
	}
	if w.beat == 0 {
		w.beat = w.lease / 3
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = DefaultMaxAttempts
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = q.now
	}
	q.addWorker(w)
	return w
}

// ID is the worker's name in the job table.
func (w *Worker) ID() string { return w.id }

// Handle registers h for jobs of kind. Like http.ServeMux it panics on an
// invalid kind, a nil handler or a kind registered twice: all are wiring
// mistakes.
func (w *Worker) Handle(kind string, h Handler) {
	if !ValidKind(kind) || h == nil {
		panic(fmt.Sprintf("jobs: invalid handler registration for kind %q", kind))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.handlers[kind]; dup {
		panic(fmt.Sprintf("jobs: kind %q registered twice", kind))
	}
	w.handlers[kind] = h
}

// Notify wakes Run early (Enqueue callers call it after commit).
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run loops until ctx is done, running due jobs and sleeping Poll (or
// until Notify) when there are none. When ctx ends, the job in flight is
// cancelled and Run returns after its outcome is recorded, so the caller
// may close the database then.
func (w *Worker) Run(ctx context.Context) {
	w.log.Info("job worker started", "worker", w.id, "kinds", w.kinds())
	for {
		w.drain(ctx)
		t := time.NewTimer(w.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			w.log.Info("job worker stopped", "worker", w.id)
			return
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// drain runs due jobs until none is left; an error (the database is
// unreachable, say) waits for the next poll.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		ran, err := w.RunOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("job worker", "worker", w.id, "err", err)
			}
			return
		}
		if !ran {
			return
		}
	}
}

// RunOnce claims one due job (queued, or running with an expired lease),
// runs it and records the outcome; it reports whether it ran one. It is
// deterministic given the clock, for tests.
func (w *Worker) RunOnce(ctx context.Context) (bool, error) {
	kinds := w.kinds()
	if len(kinds) == 0 {
		return false, nil
	}
	token := randomHex(16)
	now := w.now()
	job, ok, err := w.q.st.ClaimJob(ctx, Claim{Kinds: kinds, Owner: w.id, Token: token, Now: now, LeaseUntil: now.Add(w.lease)})
	if err != nil {
		return false, fmt.Errorf("claim a job: %w", err)
	}
	if !ok {
		return false, nil
	}
	// Stable keys; never the payload, which may hold a tenant's data.
	log := w.log.With("job_id", job.ID, "kind", job.Kind, "tenant_id", string(job.TenantID), "attempt", job.Attempts, "worker", w.id)
	if job.Attempts > w.maxAttempts {
		// Each earlier run ended without an outcome (the worker crashed or
		// lost the lease): a job that takes its worker down must not loop.
		log.Error("job abandoned: its runs kept stopping without an outcome")
		return true, w.finish(ctx, job, token, Outcome{State: Failed, Error: "the job stopped unexpectedly too many times", At: w.now()}, log)
	}
	h := w.handler(job.Kind)
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &Progress{st: w.q.st, tid: job.TenantID, id: job.ID, token: token, lease: w.lease, now: w.now}
	stopBeat := w.heartbeat(runCtx, cancel, p, log)
	log.Debug("job started", "cursor_set", job.Cursor != "")
	err = runHandler(runCtx, h, job, p, log)
	stopBeat()

	switch {
	case err == nil:
		log.Info("job succeeded")
		return true, w.finish(ctx, job, token, Outcome{State: Succeeded, At: w.now()}, log)
	case p.lost.Load() || errors.Is(err, ErrLeaseLost) || errors.Is(context.Cause(runCtx), ErrLeaseLost):
		// Another worker holds the job now and will record its outcome.
		log.Warn("job lease lost; another worker took it over")
		return true, nil
	case ctx.Err() != nil:
		// The worker is stopping: give the job back with its saved cursor,
		// due at once, and without counting the interrupted run.
		log.Info("job released: the worker is stopping")
		at := w.now()
		return true, w.finish(ctx, job, token, Outcome{State: Queued, Release: true, NotBefore: at, At: at}, log)
	}
	msg := safeMessage(err, log)
	at := w.now()
	if job.Attempts >= w.maxAttempts {
		log.Error("job failed", "attempts", job.Attempts)
		return true, w.finish(ctx, job, token, Outcome{State: Failed, Error: msg, At: at}, log)
	}
	wait := Backoff(job.Attempts)
	log.Warn("job attempt failed; will retry", "retry_in", wait)
	return true, w.finish(ctx, job, token, Outcome{State: Queued, Error: msg, NotBefore: at.Add(wait), At: at}, log)
}

// finish records o unless the lease was lost meanwhile. It runs even
// after ctx ended (with a bound), so that a stopping worker still records
// what it did; if it cannot, the lease runs out and another worker
// resumes the job.
func (w *Worker) finish(ctx context.Context, job Job, token string, o Outcome, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	ok, err := w.q.st.FinishJob(ctx, job.TenantID, job.ID, token, o)
	if err != nil {
		return fmt.Errorf("record the outcome of %s job %s: %w", job.Kind, job.ID, err)
	}
	if !ok {
		log.Warn("job outcome not recorded: the lease was lost", "outcome", string(o.State))
	}
	return nil
}

// Backoff is how long a job waits after its attempt-th failed run:
// 2^attempt seconds, at most MaxBackoff.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt >= 20 {
		return MaxBackoff
	}
	return min(time.Duration(1<<attempt)*time.Second, MaxBackoff)
}

// safeMessage returns what the tenant's admins may read about err: an
// apperr public message as is; anything else as "internal error" with a
// reference that the log line holding the real error also carries.
func safeMessage(err error, log *slog.Logger) string {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.KindInternal {
		log.Warn("job attempt failed", "err", err)
		return e.Message
	}
	ref := randomHex(8)
	log.Error("job attempt failed", "ref", ref, "err", err)
	return "internal error (reference " + ref + ")"
}

// runHandler calls h, turning a panic into an error so one bad job cannot
// take the worker (and the server) down.
func runHandler(ctx context.Context, h Handler, job Job, p *Progress, log *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("job handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = errors.New("jobs: handler panicked")
		}
	}()
	return h(ctx, job, p)
}

// heartbeat renews p's lease every w.beat until stop is called or ctx
// ends; when the lease turns out lost it cancels the handler's context
// with ErrLeaseLost.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, p *Progress, log *slog.Logger) (stop func()) {
	if w.beat <= 0 {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(w.beat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := p.renew(ctx)
			switch {
			case errors.Is(err, ErrLeaseLost):
				cancel(ErrLeaseLost)
				return
			case err != nil && ctx.Err() == nil:
				// Transient: the next beat or checkpoint tries again.
				log.Warn("renew job lease", "err", err)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func (w *Worker) kinds() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	ks := make([]string, 0, len(w.handlers))
	for k := range w.handlers {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (w *Worker) handler(kind string) Handler {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.handlers[kind]
}

// Progress saves a running job's checkpoints.
type Progress struct {
	st    Store
	tid   tenant.ID
	id    string
	token string
	lease time.Duration
	now   func() time.Time
	lost  atomic.Bool
}

// Save persists cursor/done/total AND renews the lease in one statement
// that also checks this worker still holds the lease; if not it returns
// ErrLeaseLost (the handler must stop). Called with a ctx from the
// store's WriteTx for the job's tenant, it joins that transaction, so a
// batch's changes and the checkpoint past them commit together.
func (p *Progress) Save(ctx context.Context, cursor string, done, total int64) error {
	if p.lost.Load() {
		return ErrLeaseLost
	}
	if len(cursor) > MaxCursorBytes || !cleanText(cursor) || done < 0 || total < 0 {
		return apperr.Internal(fmt.Errorf("jobs: invalid checkpoint (cursor of %d bytes, done %d, total %d)", len(cursor), done, total))
	}
	now := p.now()
	ok, err := p.st.SaveJobProgress(ctx, p.tid, p.id, p.token, Checkpoint{Cursor: cursor, Done: done, Total: total, LeaseUntil: now.Add(p.lease), Now: now})
	if err != nil {
		return fmt.Errorf("save job progress: %w", err)
	}
	if !ok {
		p.lost.Store(true)
		return ErrLeaseLost
	}
	return nil
}

func (p *Progress) renew(ctx context.Context) error {
	if p.lost.Load() {
		return ErrLeaseLost
	}
	now := p.now()
	ok, err := p.st.RenewJobLease(ctx, p.tid, p.id, p.token, now.Add(p.lease), now)
	if err != nil {
		return fmt.Errorf("renew job lease: %w", err)
	}
	if !ok {
		p.lost.Store(true)
		return ErrLeaseLost
	}
	return nil
}

func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "haven"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(3))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
