package audit

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// Recorder appends events in a write transaction of their own: what the
// service needs to record reads of the trail itself (an export).
type Recorder interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	AppendAudit(ctx context.Context, e Event) error
}

// headSigner signs a checkpoint of a trail's newest event.
type headSigner interface {
	CheckpointAuditHead(ctx context.Context, tid tenant.ID, sign func(Checkpoint) (Checkpoint, error)) (bool, error)
}

// SetRecorder lets the service record events of its own, stamped by now
// (the application's one clock).
func (s *Service) SetRecorder(r Recorder, now func() time.Time) {
	s.recorder, s.now = r, now
}

// Exported records that actor is taking a copy of its tenant's whole
// trail (admins only) and returns the time the event carries, which the
// export's header repeats.
func (s *Service) Exported(ctx context.Context, actor tenant.Actor) (time.Time, error) {
	if !access.CanReadAudit(actor) {
		return time.Time{}, apperr.Forbidden()
	}
	if s.recorder == nil || s.now == nil {
		return time.Time{}, apperr.Internal(errors.New("audit: recording exports is not configured"))
	}
	at := s.now().UTC()
	ev := New(actor, at, ActionAuditExported, "audit", string(actor.TenantID), "audit trail")
	ev.Changes = map[string]Change{"format": {After: ExportFormat}}
	err := s.recorder.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error { return s.recorder.AppendAudit(ctx, ev) })
	if err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// ExportTrail records the export (Exported), then streams the actor's
// tenant's whole trail to w as JSON Lines (Export). Recording comes
// first and must succeed: no copy leaves without a trace, and the copy
// holds the event that records it. An error after the first write means
// a partial copy; callers that stream must abort rather than end
// normally, since a cut-off file still verifies up to where it stops.
func (s *Service) ExportTrail(ctx context.Context, actor tenant.Actor, w io.Writer) error {
	if s.chain == nil {
		return apperr.Internal(errors.New("audit: export is not configured"))
	}
	at, err := s.Exported(ctx, actor)
	if err != nil {
		return err
	}
	// Sign the head first, so every event in the copy (its own export
	// event included) is covered by a signature the customer can check.
	if hs, ok := s.chain.(headSigner); ok && s.policy.Signer != nil {
		if _, err := hs.CheckpointAuditHead(ctx, actor.TenantID, s.policy.Signer.Sign); err != nil {
			return err
		}
	}
	by := actor.Name
	if actor.UserID != "" {
		by += " (" + actor.UserID + ")"
	}
	return Export(ctx, s.chain, actor.TenantID, s.PublicKeys(), by, at, w)
}
