// Package jobs runs Haven's background work (export, re-encryption, key
// rotation, backups, lifecycle) from a durable job table with leases.
//
// A job is a row: enqueued in the same transaction as the change that
// needs it, claimed by one worker at a time through a lease that worker
// renews while it runs, and resumed from its saved cursor by any worker
// once a crashed worker's lease runs out. Several instances may run
// workers against one database; the guarded claim keeps a job on one of
// them at a time.
//
// Handlers must tolerate running a stretch of work twice: after a crash
// the next worker starts again from the last saved cursor, not from where
// the crashed one stopped.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// State is where a job is in its life.
type State string

const (
	// Queued jobs wait for a worker (after Job.NotBefore when retrying).
	Queued State = "queued"
	// Running jobs are leased to a worker.
	Running State = "running"
	// Succeeded and Failed are final.
	Succeeded State = "succeeded"
	Failed    State = "failed"
)

// Finished reports whether s is final.
func (s State) Finished() bool { return s == Succeeded || s == Failed }

// Job is one unit of background work of one tenant.
type Job struct {
	ID       string
	TenantID tenant.ID
	Kind     string
	// Key, when set, allows one unfinished job per tenant and key.
	Key string
	// Payload is the handler's input as JSON. It is stored in the clear and
	// never logged: put references (a user ID, an export format) in it, not
	// secrets.
	Payload json.RawMessage
	State   State
	// Total and Done measure progress in the handler's own units; Cursor is
	// where a resumed run continues.
	Total, Done int64
	Cursor      string
	// Error is a safe public message only (an apperr public message, or
	// "internal error" with a reference that is also in the logs); never
	// raw driver text.
	Error string
	// Attempts counts the runs started, including the current one.
	Attempts  int
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// FinishedAt is set once the job succeeded or failed.
	FinishedAt *time.Time
}

// Percent returns 0..100 (100 when succeeded; Done*100/Total otherwise, 0
// when Total is 0).
func (j Job) Percent() int {
	switch {
	case j.State == Succeeded:
		return 100
	case j.Total <= 0 || j.Done <= 0:
		return 0
	case j.Done >= j.Total:
		return 100
	}
	// 0 < Done < Total: Done*100 may overflow int64, so multiply in 128
	// bits (the high word stays below Total, as Div64 requires).
	hi, lo := bits.Mul64(uint64(j.Done), 100)
	pct, _ := bits.Div64(hi, lo, uint64(j.Total))
	return int(pct)
}

// EnqueueOptions adjust Enqueue.
type EnqueueOptions struct {
	// Key allows at most one unfinished (queued or running) job per tenant
	// and key: Enqueue with a key that has one returns that job instead of
	// adding another.
	Key string
}

// Claim asks the store to lease one due job to a worker.
type Claim struct {
	// Kinds are the kinds the worker has handlers for; no other is claimed.
	Kinds []string
	// Owner names the worker (for operators); Token identifies this one
	// lease, so a worker that lost a job and claimed it again cannot act on
	// the old lease.
	Owner, Token string
	// Now decides which jobs are due: queued with NotBefore <= Now, or
	// running with a lease that ended before Now.
	Now        time.Time
	LeaseUntil time.Time
}

// Checkpoint is a handler's saved progress plus the renewed lease.
type Checkpoint struct {
	Cursor      string
	Done, Total int64
	LeaseUntil  time.Time
	Now         time.Time
}

// Outcome is how a run ended.
type Outcome struct {
	// State is Succeeded, Failed, or Queued (to retry, or released
	// unfinished when the worker stopped).
	State State
	// Error is the safe public message (Failed, or Queued after an error).
	Error string
	// NotBefore is when a Queued job is due again.
	NotBefore time.Time
	// Release gives the run back without counting it as an attempt.
	Release bool
	At      time.Time
}

// Store is the persistence the queue and its workers need; *store.DB
// implements it. Every method that names a job also names its tenant and
// joins a transaction for that tenant carried by ctx.
type Store interface {
	// EnqueueJob inserts j unless j.Key is set and an unfinished job of the
	// tenant holds it; then it returns that job and false.
	EnqueueJob(ctx context.Context, j Job, notBefore time.Time) (Job, bool, error)
	Job(ctx context.Context, tid tenant.ID, id string) (Job, error)
	Jobs(ctx context.Context, tid tenant.ID, limit int) ([]Job, error)
	UnfinishedJob(ctx context.Context, tid tenant.ID, key string) (Job, bool, error)
	// ClaimJob leases one due job across all tenants, reporting false when
	// none is due or other workers took every candidate.
	ClaimJob(ctx context.Context, c Claim) (Job, bool, error)
	// SaveJobProgress, RenewJobLease and FinishJob act only while token
	// still holds the job's lease, reporting false otherwise.
	SaveJobProgress(ctx context.Context, tid tenant.ID, id, token string, c Checkpoint) (bool, error)
	RenewJobLease(ctx context.Context, tid tenant.ID, id, token string, until, now time.Time) (bool, error)
	FinishJob(ctx context.Context, tid tenant.ID, id, token string, o Outcome) (bool, error)
}

// Limits on what a caller may store.
const (
	MaxPayloadBytes = 64 << 10
	MaxKeyBytes     = 200
	MaxCursorBytes  = 4 << 10
	// MaxListLimit bounds List.
	MaxListLimit = 200
)

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// ValidKind reports whether s can name a kind of job: lower-case letters,
// digits, '.', '_' and '-', at most 64 characters ("export.full").
func ValidKind(s string) bool { return kindPattern.MatchString(s) }

// Queue adds and reads jobs.
type Queue struct {
	st  Store
	now func() time.Time

	mu      sync.Mutex
	workers []*Worker
}

// New returns a queue over st; now is the clock (nil: the system clock).
func New(st Store, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{st: st, now: now}
}

// Enqueue adds a job. Called with a ctx from the store's WriteTx for the
// same tenant, it joins that transaction (store methods already do this
// via ctx), so the job commits with the change that needs it. Call Notify
// after the commit to start it without waiting for the next poll.
func (q *Queue) Enqueue(ctx context.Context, tid tenant.ID, kind string, payload any, createdBy string, opts EnqueueOptions) (Job, error) {
	if tid == "" {
		return Job{}, apperr.Internal(errors.New("jobs: enqueue without a tenant"))
	}
	if !ValidKind(kind) {
		// A programming error, not a client's: kinds are constants.
		return Job{}, apperr.Internal(fmt.Errorf("jobs: invalid kind %q", kind))
	}
	if len(opts.Key) > MaxKeyBytes || !cleanText(opts.Key) {
		return Job{}, apperr.Invalid("the job key is too long or holds characters that are not allowed")
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		// The error may quote the payload; keep it out of the message.
		return Job{}, apperr.Internal(fmt.Errorf("jobs: payload of a %s job is not JSON-encodable (%T)", kind, payload))
	}
	if len(raw) > MaxPayloadBytes {
		return Job{}, apperr.Invalid("the job payload exceeds %d bytes", MaxPayloadBytes)
	}
	now := q.now().UTC().Truncate(time.Microsecond)
	j := Job{
		ID: tenant.NewID(), TenantID: tid, Kind: kind, Key: opts.Key, Payload: raw, State: Queued,
		CreatedBy: createdBy, CreatedAt: now, UpdatedAt: now,
	}
	got, _, err := q.st.EnqueueJob(ctx, j, now)
	if err != nil {
		return Job{}, fmt.Errorf("enqueue %s job: %w", kind, err)
	}
	return got, nil
}

// Notify wakes the workers made from this queue, e.g. after committing a
// transaction that enqueued a job.
func (q *Queue) Notify() {
	q.mu.Lock()
	ws := append([]*Worker(nil), q.workers...)
	q.mu.Unlock()
	for _, w := range ws {
		w.Notify()
	}
}

// Get returns one job of the tenant; a missing job and another tenant's
// are both "not found".
func (q *Queue) Get(ctx context.Context, tid tenant.ID, id string) (Job, error) {
	if !tenant.ValidID(id) {
		return Job{}, apperr.NotFound("job")
	}
	return q.st.Job(ctx, tid, id)
}

// List returns the tenant's most recent jobs, newest first; limit <= 0
// means 50, and at most MaxListLimit are returned.
func (q *Queue) List(ctx context.Context, tid tenant.ID, limit int) ([]Job, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxListLimit)
	return q.st.Jobs(ctx, tid, limit)
}

// Unfinished returns the tenant's queued or running job with key, if any.
func (q *Queue) Unfinished(ctx context.Context, tid tenant.ID, key string) (Job, bool, error) {
	if key == "" {
		return Job{}, false, nil
	}
	return q.st.UnfinishedJob(ctx, tid, key)
}

// ListFor is List for a signed-in actor: only the tenant's admins may see
// its background work. (Who may read the audit log may read this log of
// what ran on the tenant's behalf.)
func (q *Queue) ListFor(ctx context.Context, actor tenant.Actor, limit int) ([]Job, error) {
	if !access.CanReadAudit(actor) {
		return nil, apperr.Forbidden()
	}
	return q.List(ctx, actor.TenantID, limit)
}

// GetFor is Get for a signed-in actor, with ListFor's rule.
func (q *Queue) GetFor(ctx context.Context, actor tenant.Actor, id string) (Job, error) {
	if !access.CanReadAudit(actor) {
		return Job{}, apperr.Forbidden()
	}
	return q.Get(ctx, actor.TenantID, id)
}

func (q *Queue) addWorker(w *Worker) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.workers = append(q.workers, w)
}

// cleanText reports whether s is valid UTF-8 without control characters
// (PostgreSQL refuses NUL and invalid UTF-8 in text).
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}
