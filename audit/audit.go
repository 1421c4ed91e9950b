// Package audit owns the tenant audit trail: what an event records, how
// changes are described, and how admins query it. Events are appended in
// the same transaction as the change they describe.
package audit

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/tenant"
)

// Actions recorded by the foundation. Names are "<object>.<verb>".
const (
	ActionLoginSucceeded  = "auth.login"
	ActionLoginFailed     = "auth.login_failed"
	ActionLogout          = "auth.logout"
	ActionPasswordChanged = "auth.password_changed"
	ActionUserCreated     = "user.create"
	ActionUserUpdated     = "user.update"
	ActionUserDeactivated = "user.deactivate"
	ActionPasswordReset   = "user.reset_password"
	ActionTenantCreated   = "tenant.create"
	ActionFieldCreated    = "field.create"
	ActionRecordCreated   = "record.create"
	ActionRecordUpdated   = "record.update"
	ActionRecordDeleted   = "record.delete"
	ActionSettingsUpdated = "settings.update"
	// ActionFieldUpdated records a change to a field's encryption, search
	// or visibility settings.
	ActionFieldUpdated = "field.update"
	// ActionRecordRevealed records that a masked value was shown, with the
	// reason given.
	ActionRecordRevealed = "record.reveal"
	// ActionDataKeyRotated and ActionDataKeysDestroyed record key
	// operations on the tenant's data keys.
	ActionDataKeyRotated    = "keys.rotate_data_key"
	ActionDataKeysDestroyed = "keys.destroy"
)

// Key-encryption-key actions, recorded by the operator's "haven keys"
// commands as the system actor. Changes hold "kek" (the KEK IDs before
// and after, never key material) and "data_keys" (how many moved).
const (
	// ActionKEKRotated: the tenant's data keys were rewrapped under a new
	// version of the key-encryption key.
	ActionKEKRotated = "keys.rotated"
	// ActionBYOKEnabled: the tenant's own key now wraps its data keys.
	ActionBYOKEnabled = "keys.byok_enabled"
	// ActionBYOKDisabled: the platform KEK wraps the tenant's data keys
	// again.
	ActionBYOKDisabled = "keys.byok_disabled"
)

// Attachment actions. Their events name the attachment by ID only (its
// file name is sensitive) and hold the record's object and ID, the size
// and the content type in Changes.
const (
	ActionAttachmentUploaded   = "attachment.upload"
	ActionAttachmentDownloaded = "attachment.download"
	ActionAttachmentDeleted    = "attachment.delete"
)

// ActionAuditExported records that someone took a copy of the whole
// trail; it is appended before the copy is read, so the copy holds it.
const ActionAuditExported = "audit.export"

// ActionAuditPurged records a retention purge: how many events were
// removed and up to which sequence number and cutoff. It is the first
// event after the purge's signed anchor.
const ActionAuditPurged = "audit.purge"

// Change is one field's value before and after; nil means absent.
type Change struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

// Event is one audit entry.
type Event struct {
	TenantID  tenant.ID
	Seq       int64 // assigned on append, per tenant, gap-free
	At        time.Time
	ActorType string
	ActorID   string
	ActorName string
	// Via names the credential or grant the actor acted through, e.g.
	// "token:<id>" for an API token ("" for a signed-in session).
	Via        string
	Action     string
	ObjectType string
	ObjectID   string
	ObjectName string
	IP         string
	UserAgent  string
	RequestID  string
	Changes    map[string]Change
	// Hash is the event's chain hash (hex), set when it is appended.
	Hash string
}

// New builds an event for actor at time at.
func New(actor tenant.Actor, at time.Time, action, objectType, objectID, objectName string) Event {
	return Event{
		TenantID:   actor.TenantID,
		At:         at.UTC(),
		ActorType:  string(actor.Kind),
		ActorID:    actor.UserID,
		ActorName:  actor.Name,
		Action:     action,
		ObjectType: objectType,
		ObjectID:   objectID,
		ObjectName: objectName,
		IP:         actor.IP,
		UserAgent:  actor.UserAgent,
		RequestID:  actor.RequestID,
		Via:        via(actor),
	}
}

func via(actor tenant.Actor) string {
	if actor.Grant != nil {
		// An operator's every action names the grant that allowed it.
		return "grant:" + actor.Grant.ID
	}
	if actor.TokenID != "" {
		return "token:" + actor.TokenID
	}
	return ""
}

// Diff returns the changes between two field maps, keyed by field name;
// fields equal in both are left out.
func Diff(before, after map[string]any) map[string]Change {
	out := map[string]Change{}
	for k, a := range after {
		b, ok := before[k]
		if !ok || !equalValue(b, a) {
			out[k] = Change{Before: b, After: a}
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			out[k] = Change{Before: b, After: nil}
		}
	}
	return out
}

// equalValue compares JSON-shaped values; lists and objects (multi-select
// values, sealed envelopes) compare by content, so an unchanged one is no
// change.
func equalValue(a, b any) bool {
	switch a.(type) {
	case []any, map[string]any:
		return reflect.DeepEqual(a, b)
	}
	switch b.(type) {
	case []any, map[string]any:
		return false
	}
	return a == b
}

// Filter selects events; zero values select everything.
type Filter struct {
	From, To   time.Time
	ActorID    string
	Action     string
	ObjectType string
	ObjectID   string
	// BeforeSeq pages backwards: only events with a smaller sequence.
	BeforeSeq int64
	Limit     int
}

// Store reads and appends events.
type Store interface {
	QueryAudit(ctx context.Context, tenantID tenant.ID, f Filter) ([]Event, error)
}

// Service answers audit queries and verifies trails.
type Service struct {
	store     Store
	presenter Presenter
	chain     ChainStore
	keys      KeySource
	policy    CheckpointPolicy
	// recorder and now record the service's own events (exports); see
	// SetRecorder.
	recorder Recorder
	now      func() time.Time
}

// KeySource publishes the audit signing public keys.
type KeySource interface {
	PublicKeys() []PublicKey
}

// SetChain enables verification: the chain's store, the public keys and
// the checkpoint policy (its Every bounds the gap between checkpoints).
func (s *Service) SetChain(st ChainStore, keys KeySource, policy CheckpointPolicy) {
	s.chain, s.keys, s.policy = st, keys, policy
}

// PublicKeys lists the signing public keys (served to anyone).
func (s *Service) PublicKeys() []PublicKey {
	if s.keys == nil {
		return nil
	}
	return s.keys.PublicKeys()
}

// KeySet returns the public keys for verification.
func (s *Service) KeySet() KeySet {
	ks := KeySet{}
	for _, k := range s.PublicKeys() {
		ks[k.ID] = k.Key
	}
	return ks
}

// Verify recomputes the actor's tenant's trail (admins only).
func (s *Service) Verify(ctx context.Context, actor tenant.Actor) (Report, error) {
	if !access.CanReadAudit(actor) {
		return Report{}, apperr.Forbidden()
	}
	return s.VerifyTrail(ctx, actor.TenantID)
}

// VerifyTrail recomputes one trail, tenant "" being the platform's (for
// operators and the CLI).
func (s *Service) VerifyTrail(ctx context.Context, tid tenant.ID) (Report, error) {
	if s.chain == nil {
		return Report{}, apperr.Internal(errors.New("audit: verification is not configured"))
	}
	return Verify(ctx, s.chain, tid, s.KeySet(), VerifyOptions{MaxGap: s.policy.every()})
}

// Presenter prepares events for the actor reading them: it masks values
// the actor may not read and opens sealed values only to mask them.
type Presenter interface {
	PresentEvents(ctx context.Context, actor tenant.Actor, events []Event) ([]Event, error)
}

// SetPresenter makes every query pass its events through p.
func (s *Service) SetPresenter(p Presenter) { s.presenter = p }

// NewService returns an audit query service.
func NewService(s Store) *Service { return &Service{store: s} }

// Query returns the tenant's events newest first (admins only), and the
// sequence to pass as BeforeSeq for the next page (0 on the last page).
func (s *Service) Query(ctx context.Context, actor tenant.Actor, f Filter) ([]Event, int64, error) {
	if !access.CanReadAudit(actor) {
		return nil, 0, apperr.Forbidden()
	}
	events, next, err := s.query(ctx, actor.TenantID, f)
	if err != nil || s.presenter == nil {
		return events, next, err
	}
	events, err = s.presenter.PresentEvents(ctx, actor, events)
	return events, next, err
}

// Trail returns the events of one object, for callers that have already
// checked the actor may read that object.
func (s *Service) Trail(ctx context.Context, tid tenant.ID, objectType, objectID string, beforeSeq int64, limit int) ([]Event, int64, error) {
	return s.query(ctx, tid, Filter{ObjectType: objectType, ObjectID: objectID, BeforeSeq: beforeSeq, Limit: limit})
}

func (s *Service) query(ctx context.Context, tid tenant.ID, f Filter) ([]Event, int64, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return nil, 0, apperr.Invalid("'to' must not be before 'from'")
	}
	want := f.Limit
	f.Limit = want + 1
	events, err := s.store.QueryAudit(ctx, tid, f)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(events) > want {
		events = events[:want]
		next = events[want-1].Seq
	}
	return events, next, nil
}
