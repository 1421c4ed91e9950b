package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// Retention.
//
// A trail keeps its events for a retention period: the platform default
// unless the tenant's admin chose a longer one (never one below the
// platform minimum). A purge removes the events older than that period,
// and only those: it signs an anchor over the last removed event (its
// sequence number and chain hash), and the rest of the trail verifies
// from that anchor onwards. The database lets a DELETE of audit rows
// through only at or before such an anchor, and never deletes an anchor.
//
// Events outlive the records they describe: deleting a record (or a
// user) writes an event and removes nothing from the trail.

// Retention bounds, in days.
const (
	// MinRetentionDays is the platform minimum: no tenant keeps less.
	MinRetentionDays = 180
	// DefaultRetentionDays (3 years) applies to tenants that chose none and
	// to the platform's own trail.
	DefaultRetentionDays = 1095
	// MaxRetentionDays keeps a typo from meaning "forever".
	MaxRetentionDays = 3650
)

// Day is the unit of retention periods: 24 hours, as the cutoff is an
// instant, not a calendar date.
const Day = 24 * time.Hour

// ValidateRetentionDays checks a retention period chosen by an admin.
func ValidateRetentionDays(days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		e := apperr.Invalid("retention_days must be between %d and %d days: %d days is the platform minimum, which no tenant can go below",
			MinRetentionDays, MaxRetentionDays, MinRetentionDays)
		return e.WithDetail("fields", map[string]string{
			"retention_days": fmt.Sprintf("must be between %d and %d", MinRetentionDays, MaxRetentionDays),
		})
	}
	return nil
}

// RetentionStore keeps each tenant's retention period; a tenant without
// a stored one has DefaultRetentionDays.
type RetentionStore interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	// LockTenant serializes concurrent changes, so before and after in
	// the audit event are exact.
	LockTenant(ctx context.Context, tid tenant.ID) error
	AuditRetentionDays(ctx context.Context, tid tenant.ID) (days int, found bool, err error)
	PutAuditRetentionDays(ctx context.Context, tid tenant.ID, days int, at time.Time) error
	AppendAudit(ctx context.Context, e Event) error
}

// RetentionSettings reads and changes tenants' retention periods.
type RetentionSettings struct {
	store RetentionStore
	now   func() time.Time
}

// NewRetentionSettings returns the retention settings service.
func NewRetentionSettings(st RetentionStore, now func() time.Time) *RetentionSettings {
	if now == nil {
		now = time.Now
	}
	return &RetentionSettings{store: st, now: now}
}

// Days returns the retention period in force for a trail; the platform's
// own trail ("") keeps the default.
func (s *RetentionSettings) Days(ctx context.Context, tid tenant.ID) (int, error) {
	if tid == "" {
		return DefaultRetentionDays, nil
	}
	days, found, err := s.store.AuditRetentionDays(ctx, tid)
	if err != nil {
		return 0, err
	}
	if !found {
		return DefaultRetentionDays, nil
	}
	// A value below the minimum cannot be stored (the table's CHECK), but
	// the purge must not depend on that alone.
	return max(days, MinRetentionDays), nil
}

// Get returns the tenant's retention period (admins only).
func (s *RetentionSettings) Get(ctx context.Context, actor tenant.Actor) (int, error) {
	if !access.CanManageSettings(actor) {
		return 0, apperr.Forbidden()
	}
	return s.Days(ctx, actor.TenantID)
}

// Put sets the tenant's retention period (admins only): anything from the
// platform minimum to the maximum. A change is audited with before and
// after; setting the value in force again records nothing.
func (s *RetentionSettings) Put(ctx context.Context, actor tenant.Actor, days int) (int, error) {
	if !access.CanManageSettings(actor) {
		return 0, apperr.Forbidden()
	}
	if err := ValidateRetentionDays(days); err != nil {
		return 0, err
	}
	now := s.now().UTC()
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		before, err := s.Days(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		if before == days {
			return nil
		}
		if err := s.store.PutAuditRetentionDays(ctx, actor.TenantID, days, now); err != nil {
			return err
		}
		ev := New(actor, now, ActionSettingsUpdated, "settings", SettingsObjectAudit, "audit settings")
		ev.Changes = map[string]Change{"retention_days": {Before: before, After: days}}
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return 0, err
	}
	return days, nil
}

// SettingsObjectAudit is the object ID of audit settings changes
// (object type "settings"; the security settings are "security").
const SettingsObjectAudit = "audit"

// PurgeStore is what a retention purge needs from storage.
type PurgeStore interface {
	ChainStore
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	// AuditPurgeCandidate returns the newest event of the trail such that
	// it and every event before it are older than cutoff, or nil.
	AuditPurgeCandidate(ctx context.Context, tid tenant.ID, cutoff time.Time) (*Event, error)
	// PurgeAudit stores the signed anchor and deletes the events and
	// checkpoints at or before it, in one transaction; it returns how many
	// events it deleted (0 when a newer anchor already exists).
	PurgeAudit(ctx context.Context, tid tenant.ID, anchor Checkpoint) (int64, error)
	AppendAudit(ctx context.Context, e Event) error
}

// AnchorSigner signs purge anchors and publishes the keys that verify
// them (auditkey.Keys).
type AnchorSigner interface {
	Sign(Checkpoint) (Checkpoint, error)
	PublicKeys() []PublicKey
}

// PurgeResult says what a purge did; Events is 0 when nothing was old
// enough.
type PurgeResult struct {
	Cutoff time.Time
	Events int64
	Anchor *Checkpoint
}

// ErrPurgeRefused is returned (wrapped) when the events a purge would
// remove do not verify: removing them would erase the evidence.
var ErrPurgeRefused = errors.New("audit: retention purge refused")

// PurgeActorName names the system actor of purge events.
const PurgeActorName = "system (audit retention)"

// Purge removes the events of trail tid older than now-retention. It
// first verifies the events it is about to remove (hashes and checkpoint
// signatures), so that a purge never launders tampering: the anchor it
// signs carries the recomputed hash, which must equal the stored one.
// Then, in one transaction, it stores the anchor, deletes the events and
// checkpoints at or before it, and appends an audit.purge event saying
// how many events went and up to when.
func Purge(ctx context.Context, st PurgeStore, signer AnchorSigner, tid tenant.ID, now time.Time, retention time.Duration) (PurgeResult, error) {
	if retention < MinRetentionDays*Day {
		return PurgeResult{}, fmt.Errorf("audit: retention of %s is below the platform minimum of %d days", retention, MinRetentionDays)
	}
	res := PurgeResult{Cutoff: now.UTC().Add(-retention).Truncate(time.Microsecond)}
	last, err := st.AuditPurgeCandidate(ctx, tid, res.Cutoff)
	if err != nil || last == nil {
		return res, err
	}
	keys := KeySet{}
	for _, k := range signer.PublicKeys() {
		keys[k.ID] = k.Key
	}
	// Verify the trail from its current anchor (or start) up to the last
	// event to remove, and no further: later events may arrive meanwhile.
	rep, err := Verify(ctx, upTo{ChainStore: st, seq: last.Seq, hash: last.Hash}, tid, keys, VerifyOptions{})
	if err != nil {
		return res, err
	}
	if !rep.OK {
		return res, fmt.Errorf("%w: trail %q breaks at %d (%s); the events stay for investigation", ErrPurgeRefused, tid, rep.Problem.Seq, rep.Problem.Reason)
	}
	if rep.LastSeq != last.Seq || rep.LastHash != last.Hash {
		return res, fmt.Errorf("%w: trail %q: event %d was not reached by verification", ErrPurgeRefused, tid, last.Seq)
	}
	anchor, err := signer.Sign(Checkpoint{TenantID: tid, Kind: KindAnchor, Seq: last.Seq, Hash: rep.LastHash, At: last.At})
	if err != nil {
		return res, fmt.Errorf("sign audit anchor: %w", err)
	}
	err = st.WriteTx(ctx, tid, func(ctx context.Context) error {
		n, err := st.PurgeAudit(ctx, tid, anchor)
		if err != nil || n == 0 {
			// 0: another instance purged up to here first.
			res.Events = 0
			return err
		}
		res.Events, res.Anchor = n, &anchor
		actor := tenant.System(tid, "")
		actor.Name = PurgeActorName
		ev := New(actor, now, ActionAuditPurged, "audit", string(tid), "audit trail")
		ev.Changes = map[string]Change{
			"events":         {After: n},
			"through_seq":    {After: anchor.Seq},
			"cutoff":         {After: res.Cutoff.Format(time.RFC3339)},
			"retention_days": {After: int64(retention / Day)},
		}
		return st.AppendAudit(ctx, ev)
	})
	if err != nil {
		return PurgeResult{Cutoff: res.Cutoff}, err
	}
	return res, nil
}

// upTo shows a trail as if it ended at event seq (with hash), so that
// verification covers exactly the events a purge removes.
type upTo struct {
	ChainStore
	seq  int64
	hash string
}

func (u upTo) AuditEventsAfter(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]Event, error) {
	if afterSeq >= u.seq {
		return nil, nil
	}
	evs, err := u.ChainStore.AuditEventsAfter(ctx, tid, afterSeq, limit)
	for i, e := range evs {
		if e.Seq > u.seq {
			return evs[:i], err
		}
	}
	return evs, err
}

func (u upTo) AuditCheckpoints(ctx context.Context, tid tenant.ID, afterSeq int64, limit int) ([]Checkpoint, error) {
	if afterSeq >= u.seq {
		return nil, nil
	}
	cps, err := u.ChainStore.AuditCheckpoints(ctx, tid, afterSeq, limit)
	for i, c := range cps {
		if c.Seq > u.seq {
			return cps[:i], err
		}
	}
	return cps, err
}

func (u upTo) AuditHead(context.Context, tenant.ID) (Head, error) {
	return Head{Seq: u.seq, Hash: u.hash}, nil
}
