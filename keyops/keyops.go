// Package keyops runs the operations on a tenant's encrypted data that
// span several stores: converting a field's stored values after its
// encryption setting changed, rotating the tenant's data key and
// re-encrypting everything sealed under older terms, and destroying the
// tenant's keys (crypto-shredding). The long ones run as durable jobs, so
// they survive a crash and resume where they stopped, without downtime:
// reads understand both forms of a value while a job runs.
package keyops

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/tenant"
)

// Job kinds.
const (
	KindConvertField  = "records.convert_field"
	KindRotateDataKey = "keys.rotate_data_key"
)

// batchSize is how many records one transaction of a job converts: small
// enough that a write lock is held briefly, large enough to move fast.
const batchSize = 200

// Records is what keyops needs from the records service.
type Records interface {
	ReconcileBatch(ctx context.Context, tid tenant.ID, object, afterID string, limit int) (lastID string, walked, rewritten int, done bool, err error)
	FinishConversion(ctx context.Context, tid tenant.ID, object, field string, encrypted, searchable bool) (bool, error)
	FieldSettings(ctx context.Context, tid tenant.ID, object, field string) (encrypted, searchable bool, err error)
	CountRecords(ctx context.Context, tid tenant.ID, object string) (int64, error)
	ObjectNames(ctx context.Context, tid tenant.ID) ([]string, error)
	PendingFields(ctx context.Context, tid tenant.ID) ([]string, error)
	CountTermUsage(ctx context.Context, tid tenant.ID, term uint32) (int64, error)
}

// Keys is what keyops needs from the keyring.
type Keys interface {
	Rotate(ctx context.Context, tid tenant.ID) (uint32, error)
	ActiveTerms(ctx context.Context, tid tenant.ID) ([]uint32, error)
	Retire(ctx context.Context, tid tenant.ID, term uint32, count keyring.UsageCounter) error
	DestroyTenantKeys(ctx context.Context, tid tenant.ID) (int, error)
}

// Attachments re-seals attachment keys and counts their use of a term.
type Attachments interface {
	RekeyTenant(ctx context.Context, tid tenant.ID) (int, error)
	CountTermUsage(ctx context.Context, tid tenant.ID, term uint32) (int64, error)
}

// Queue is the job queue.
type Queue interface {
	Enqueue(ctx context.Context, tid tenant.ID, kind string, payload any, createdBy string, opts jobs.EnqueueOptions) (jobs.Job, error)
	Unfinished(ctx context.Context, tid tenant.ID, key string) (jobs.Job, bool, error)
	Notify()
}

// Store runs transactions and appends audit events.
type Store interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	AppendAudit(ctx context.Context, e audit.Event) error
	TenantIDs(ctx context.Context) ([]tenant.ID, error)
}

// Service runs key operations.
type Service struct {
	store       Store
	records     Records
	keys        Keys
	queue       Queue
	attachments Attachments
	now         func() time.Time
}

// New returns the service; attachments may be nil when not wired.
func New(st Store, recs Records, keys Keys, q Queue, att Attachments, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, records: recs, keys: keys, queue: q, attachments: att, now: now}
}

// Register adds the job handlers to a worker.
func (s *Service) Register(w *jobs.Worker) {
	w.Handle(KindConvertField, s.convertField)
	w.Handle(KindRotateDataKey, s.rotateDataKey)
}

type fieldPayload struct {
	Object string `json:"object"`
	Field  string `json:"field"`
}

// FieldJobKey is the job key of a field's conversion: at most one runs
// per field, and pages look a field's progress up by it.
func FieldJobKey(object, field string) string { return "field:" + object + "." + field }

const rotationKey = "keys:rotate"

// EnqueueFieldConversion queues the conversion of a field's stored values
// inside the caller's transaction; one job per field at a time (a job
// already running picks up the newest settings).
func (s *Service) EnqueueFieldConversion(ctx context.Context, tid tenant.ID, object, field, createdBy string) (string, error) {
	j, err := s.queue.Enqueue(ctx, tid, KindConvertField, fieldPayload{Object: object, Field: field}, createdBy,
		jobs.EnqueueOptions{Key: FieldJobKey(object, field)})
	if err != nil {
		return "", err
	}
	return j.ID, nil
}

// convertCursor is where a conversion stands: the settings its pass
// converts to and the last record ID done.
func convertCursor(enc, search bool, after string) string {
	return fmt.Sprintf("%t|%t|%s", enc, search, after)
}

func parseConvertCursor(c string) (enc, search bool, after string, ok bool) {
	parts := strings.SplitN(c, "|", 3)
	if len(parts) != 3 {
		return false, false, "", false
	}
	enc, err1 := strconv.ParseBool(parts[0])
	search, err2 := strconv.ParseBool(parts[1])
	return enc, search, parts[2], err1 == nil && err2 == nil
}

func (s *Service) convertField(ctx context.Context, job jobs.Job, p *jobs.Progress) error {
	var pl fieldPayload
	if err := json.Unmarshal(job.Payload, &pl); err != nil {
		return apperr.Internal(fmt.Errorf("keyops: payload of job %s: %w", job.ID, err))
	}
	tid := job.TenantID
	cursor, done := job.Cursor, job.Done
	for {
		enc, search, err := s.records.FieldSettings(ctx, tid, pl.Object, pl.Field)
		if apperr.Is(err, apperr.KindNotFound) {
			return nil // the field or object is gone: nothing left to convert
		}
		if err != nil {
			return err
		}
		cEnc, cSearch, after, ok := parseConvertCursor(cursor)
		if !ok || cEnc != enc || cSearch != search {
			// First run, or the settings changed since the pass started:
			// walk everything again towards the new settings.
			after, done = "", 0
		}
		total, err := s.records.CountRecords(ctx, tid, pl.Object)
		if err != nil {
			return err
		}
		for {
			last, walked, _, finished, err := s.records.ReconcileBatch(ctx, tid, pl.Object, after, batchSize)
			if err != nil {
				return err
			}
			done += int64(walked)
			if last != "" {
				after = last
			}
			cursor = convertCursor(enc, search, after)
			if err := p.Save(ctx, cursor, min(done, total), max(total, done)); err != nil {
				return err
			}
			if finished {
				break
			}
		}
		ok, err = s.records.FinishConversion(ctx, tid, pl.Object, pl.Field, enc, search)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
}

// RotateDataKey makes a new data-key term the tenant's current one (new
// values are sealed with it at once) and queues the job that re-encrypts
// values under older terms and retires the terms nothing uses any more.
// Admins only; one rotation at a time.
func (s *Service) RotateDataKey(ctx context.Context, actor tenant.Actor) (uint32, jobs.Job, error) {
	if actor.Kind != tenant.ActorSystem && !access.CanManageSettings(actor) {
		return 0, jobs.Job{}, apperr.Forbidden()
	}
	tid := actor.TenantID
	if j, running, err := s.queue.Unfinished(ctx, tid, rotationKey); err != nil {
		return 0, jobs.Job{}, err
	} else if running {
		return 0, j, apperr.Conflict("a key rotation is still re-encrypting (%d%% done); wait for it to finish", j.Percent()).
			WithDetail("job_id", j.ID)
	}
	term, err := s.keys.Rotate(ctx, tid)
	if err != nil {
		return 0, jobs.Job{}, err
	}
	var job jobs.Job
	err = s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		var err error
		if job, err = s.queue.Enqueue(ctx, tid, KindRotateDataKey, struct{}{}, actor.UserID, jobs.EnqueueOptions{Key: rotationKey}); err != nil {
			return err
		}
		ev := audit.New(actor, s.now(), audit.ActionDataKeyRotated, "data_key", strconv.FormatUint(uint64(term), 10), "")
		ev.Changes = map[string]audit.Change{"term": {Before: float64(term - 1), After: float64(term)}, "job_id": {After: job.ID}}
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		// The new term is in place either way; a retry rotates again and
		// its job re-encrypts from every older term.
		return term, jobs.Job{}, err
	}
	s.queue.Notify()
	return term, job, nil
}

// rotationCursor: the index of the object being walked and the last ID.
func parseRotationCursor(c string) (int, string) {
	i, after, ok := strings.Cut(c, "|")
	if !ok {
		return 0, ""
	}
	n, err := strconv.Atoi(i)
	if err != nil || n < 0 {
		return 0, ""
	}
	return n, after
}

func (s *Service) rotateDataKey(ctx context.Context, job jobs.Job, p *jobs.Progress) error {
	tid := job.TenantID
	objects, err := s.records.ObjectNames(ctx, tid)
	if err != nil {
		return err
	}
	var total int64
	for _, o := range objects {
		n, err := s.records.CountRecords(ctx, tid, o)
		if err != nil {
			return err
		}
		total += n
	}
	oi, after := parseRotationCursor(job.Cursor)
	done := job.Done
	if job.Cursor == "" {
		done = 0
	}
	for ; oi < len(objects); oi, after = oi+1, "" {
		for {
			last, walked, _, finished, err := s.records.ReconcileBatch(ctx, tid, objects[oi], after, batchSize)
			if err != nil {
				return err
			}
			done += int64(walked)
			if last != "" {
				after = last
			}
			if err := p.Save(ctx, fmt.Sprintf("%d|%s", oi, after), min(done, total), max(total, done)); err != nil {
				return err
			}
			if finished {
				break
			}
		}
	}
	if s.attachments != nil {
		if _, err := s.attachments.RekeyTenant(ctx, tid); err != nil {
			return err
		}
	}
	return s.retireUnused(ctx, tid)
}

// CountTermUsage counts every stored value sealed under a term.
func (s *Service) CountTermUsage(ctx context.Context, tid tenant.ID, term uint32) (int64, error) {
	n, err := s.records.CountTermUsage(ctx, tid, term)
	if err != nil || s.attachments == nil {
		return n, err
	}
	m, err := s.attachments.CountTermUsage(ctx, tid, term)
	return n + m, err
}

// retireUnused retires every older term no value uses. A term the audit
// trail still holds values under stays active (decrypt-only) until those
// events age out: the trail is append-only and is never re-encrypted.
func (s *Service) retireUnused(ctx context.Context, tid tenant.ID) error {
	terms, err := s.keys.ActiveTerms(ctx, tid)
	if err != nil {
		return err
	}
	if len(terms) < 2 {
		return nil
	}
	for _, term := range terms[:len(terms)-1] {
		err := s.keys.Retire(ctx, tid, term, s.CountTermUsage)
		if err != nil && !apperr.Is(err, apperr.KindConflict) {
			return err
		}
	}
	return nil
}

// DestroyTenantKeys crypto-shreds a tenant: its data keys are erased, so
// every encrypted value and attachment of the tenant becomes unreadable
// for good. The event is written to the tenant's audit trail in the same
// transaction. It returns how many keys were erased.
func (s *Service) DestroyTenantKeys(ctx context.Context, actor tenant.Actor, reason string) (int, error) {
	if actor.Kind != tenant.ActorSystem {
		// Shredding belongs to the contract lifecycle, not to a signed-in user.
		return 0, apperr.Forbidden()
	}
	if strings.TrimSpace(reason) == "" {
		return 0, apperr.InvalidFields(map[string]string{"reason": "say why the keys are destroyed"})
	}
	var n int
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		ev := audit.New(actor, s.now(), audit.ActionDataKeysDestroyed, "data_key", "all", "")
		ev.Changes = map[string]audit.Change{"reason": {After: reason}}
		if err := s.store.AppendAudit(ctx, ev); err != nil {
			return err
		}
		var err error
		n, err = s.keys.DestroyTenantKeys(ctx, actor.TenantID)
		return err
	})
	return n, err
}

// ResumePending queues, for every tenant, the conversions of fields left
// pending without a job: fields given defaults by a migration, or a crash
// between the settings change and the queueing. Run at start-up. (A
// rotation whose job could not be queued answered an error; rotating
// again queues one, and it re-encrypts from every older term.)
func (s *Service) ResumePending(ctx context.Context) (int, error) {
	tids, err := s.store.TenantIDs(ctx)
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, tid := range tids {
		pending, err := s.records.PendingFields(ctx, tid)
		if err != nil {
			return queued, err
		}
		for _, of := range pending {
			object, field, _ := strings.Cut(of, ".")
			if _, running, err := s.queue.Unfinished(ctx, tid, FieldJobKey(object, field)); err != nil {
				return queued, err
			} else if running {
				continue
			}
			err := s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
				_, err := s.EnqueueFieldConversion(ctx, tid, object, field, "")
				return err
			})
			if err != nil {
				return queued, err
			}
			queued++
		}
	}
	if queued > 0 {
		s.queue.Notify()
	}
	return queued, nil
}

// TermInfo describes one data-key term, without key material.
type TermInfo struct {
	Term      uint32
	State     keyring.State
	KEKID     string
	CreatedAt time.Time
	RetiredAt *time.Time
}

// TenantKeys is the store's view of a tenant's wrapped keys.
type TenantKeys interface {
	TenantKeys(ctx context.Context, tid tenant.ID) ([]keyring.WrappedKey, error)
}

// Terms lists the actor's tenant's data-key terms (admins only).
func (s *Service) Terms(ctx context.Context, actor tenant.Actor) ([]TermInfo, error) {
	if !access.CanManageSettings(actor) {
		return nil, apperr.Forbidden()
	}
	tk, ok := s.store.(TenantKeys)
	if !ok {
		return nil, apperr.Internal(fmt.Errorf("keyops: the store does not list tenant keys"))
	}
	keys, err := tk.TenantKeys(ctx, actor.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]TermInfo, len(keys))
	for i, k := range keys {
		out[i] = TermInfo{Term: k.Term, State: k.State, KEKID: k.KEKID, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt}
	}
	return out, nil
}
