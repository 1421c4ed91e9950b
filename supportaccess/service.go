package supportaccess

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Audit actions of the tenant's trail.
const (
	ActionRequested = "support.request"
	ActionApproved  = "support.approve"
	ActionDenied    = "support.deny"
	ActionRevoked   = "support.revoke"
	ActionWithdrawn = "support.withdraw"
	ActionSettings  = "support.settings"
)

// Store persists grants; every method takes the tenant ID.
type Store interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	InsertGrant(ctx context.Context, tid tenant.ID, g Grant) error
	UpdateGrant(ctx context.Context, tid tenant.ID, g Grant, version int64, at time.Time) error
	Grant(ctx context.Context, tid tenant.ID, id string) (Grant, int64, error)
	Grants(ctx context.Context, tid tenant.ID, limit int) ([]Grant, error)
	RequiredApprovals(ctx context.Context, tid tenant.ID) (int, error)
	SetRequiredApprovals(ctx context.Context, tid tenant.ID, n int) error
	CountPendingGrants(ctx context.Context, tid tenant.ID) (int, error)
	AppendAudit(ctx context.Context, e audit.Event) error
}

// Notifier tells a tenant's admins about a new request (e-mail, in-app).
type Notifier interface {
	AccessRequested(ctx context.Context, tid tenant.ID, g Grant)
}

// Operator names the operator asking, as the operator realm knows them.
type Operator struct {
	ID, Name, IP, UserAgent, RequestID string
}

// Service keeps the grants of every tenant.
type Service struct {
	store    Store
	notifier Notifier
	now      func() time.Time
	newID    func() string
	objects  func(ctx context.Context, tid tenant.ID) ([]string, error)
	// digestStore and ender send the digest when a grant ends; see
	// SetDigests.
	digestStore DigestStore
	ender       EndNotifier
}

// New returns the service. objects lists a tenant's object names (to
// check a requested scope).
func New(st Store, objects func(ctx context.Context, tid tenant.ID) ([]string, error), now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, objects: objects, now: now, newID: tenant.NewID}
}

// SetNotifier sets who hears of new requests.
func (s *Service) SetNotifier(n Notifier) { s.notifier = n }

// asAppErr turns the state machine's errors into client-safe ones, whose
// message is the reason alone, without the package's error prefixes.
func asAppErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrIllegal), errors.Is(err, ErrSameAdmin):
		return apperr.Conflict("%s", publicReason(err)).Wrap(err)
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrBroaderAsk):
		return apperr.Invalid("%s", publicReason(err)).Wrap(err)
	}
	return err
}

// publicReason is "the duration must be …" for "supportaccess: invalid
// request: the duration must be …", and the sentinel's own words when it
// carries no detail.
func publicReason(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{ErrInvalid, ErrIllegal} {
		if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok {
			return rest
		}
	}
	return strings.TrimPrefix(msg, "supportaccess: ")
}

func operatorEvent(op Operator, tid tenant.ID, at time.Time, action string, g Grant) audit.Event {
	e := audit.New(tenant.Actor{TenantID: tid, Name: op.Name, IP: op.IP, UserAgent: op.UserAgent, RequestID: op.RequestID}, at, action, "support_access", g.ID, string(g.Kind))
	e.ActorType, e.ActorID, e.Via = "operator", op.ID, "grant:"+g.ID
	return e
}

// Request records an operator's request for access to one tenant; the
// tenant's admins are notified.
func (s *Service) Request(ctx context.Context, op Operator, tid tenant.ID, kind Kind, reason, ticket string, scope Scope, duration time.Duration) (Grant, error) {
	if op.ID == "" {
		return Grant{}, apperr.Unauthenticated()
	}
	objects, err := s.objects(ctx, tid)
	if err != nil {
		return Grant{}, err
	}
	n, err := s.store.RequiredApprovals(ctx, tid)
	if err != nil {
		return Grant{}, err
	}
	now := s.now().UTC()
	g, err := NewGrant(Request{ID: s.newID(), TenantID: string(tid), OperatorID: op.ID, Kind: kind, Reason: reason, Ticket: ticket,
		Scope: scope, Duration: duration, RequiredApprovals: n, KnownObjects: objects}, now)
	if err != nil {
		return Grant{}, asAppErr(err)
	}
	err = s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		if err := s.store.InsertGrant(ctx, tid, g); err != nil {
			return err
		}
		e := operatorEvent(op, tid, now, ActionRequested, g)
		e.Changes = map[string]audit.Change{"reason": {After: g.Reason}, "ticket": {After: g.Ticket},
			"objects": {After: fmt.Sprint(g.Scope.Objects)}, "write": {After: g.Scope.Write}, "hours": {After: g.Duration.Hours()}}
		return s.store.AppendAudit(ctx, e)
	})
	if err != nil {
		return Grant{}, err
	}
	if s.notifier != nil {
		s.notifier.AccessRequested(ctx, tid, g)
	}
	return g, nil
}

// List returns the tenant's requests and grants, newest first (admins).
func (s *Service) List(ctx context.Context, actor tenant.Actor) ([]Grant, error) {
	if !access.CanManageSettings(actor) {
		return nil, apperr.Forbidden()
	}
	gs, err := s.store.Grants(ctx, actor.TenantID, 200)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range gs {
		gs[i] = gs[i].At(now)
	}
	return gs, nil
}

// decide applies one admin decision in a transaction, with its audit event.
func (s *Service) decide(ctx context.Context, actor tenant.Actor, id, action string, step func(g Grant, d Decision) (Grant, error), statement string) (Grant, error) {
	if !access.CanManageSettings(actor) {
		return Grant{}, apperr.Forbidden()
	}
	now := s.now().UTC()
	d := Decision{AdminID: actor.UserID, AdminName: actor.Name, IP: actor.IP, At: now, Statement: statement}
	var out Grant
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		g, version, err := s.store.Grant(ctx, actor.TenantID, id)
		if err != nil {
			return err
		}
		next, err := step(g.At(now), d)
		if err != nil {
			return asAppErr(err)
		}
		if err := s.store.UpdateGrant(ctx, actor.TenantID, next, version, now); err != nil {
			return err
		}
		e := audit.New(actor, now, action, "support_access", id, string(next.Kind))
		e.Changes = map[string]audit.Change{"state": {Before: string(g.State), After: string(next.State)}, "statement": {After: statement}}
		out = next
		return s.store.AppendAudit(ctx, e)
	})
	return out, err
}

// Approve records the actor's written approval, possibly narrowing scope
// and duration; with enough approvals the grant becomes active at once.
func (s *Service) Approve(ctx context.Context, actor tenant.Actor, id, statement string, scope *Scope, duration time.Duration) (Grant, error) {
	return s.decide(ctx, actor, id, ActionApproved, func(g Grant, d Decision) (Grant, error) {
		a := Approval{Decision: d, Scope: g.Scope, Duration: g.Duration}
		if scope != nil {
			a.Scope = *scope
		}
		if duration > 0 {
			a.Duration = duration
		}
		next, err := g.Approve(a)
		if err != nil || next.State != Approved {
			return next, err
		}
		return next.Activate(d.At)
	}, statement)
}

// Deny refuses a pending request.
func (s *Service) Deny(ctx context.Context, actor tenant.Actor, id, statement string) (Grant, error) {
	return s.decide(ctx, actor, id, ActionDenied, Grant.Deny, statement)
}

// Revoke ends an approved or active grant, effective on the operator's
// next request.
func (s *Service) Revoke(ctx context.Context, actor tenant.Actor, id, statement string) (Grant, error) {
	g, err := s.decide(ctx, actor, id, ActionRevoked, Grant.Revoke, statement)
	if err == nil && s.digestStore != nil && s.ender != nil {
		// The admins hear what was done at once, not at the next sweep;
		// a failure here leaves the digest to that sweep.
		_, _ = s.sendDigest(ctx, actor.TenantID, g)
	}
	return g, err
}

// RequiredApprovals returns how many different admins must approve a
// request (admins).
func (s *Service) RequiredApprovals(ctx context.Context, actor tenant.Actor) (int, error) {
	if !access.CanManageSettings(actor) {
		return 0, apperr.Forbidden()
	}
	return s.store.RequiredApprovals(ctx, actor.TenantID)
}

// PendingCount returns how many requests await the admins' decision, for
// the notice every admin page shows; zero for anyone else, who has no say.
func (s *Service) PendingCount(ctx context.Context, actor tenant.Actor) (int, error) {
	if !access.CanManageSettings(actor) {
		return 0, nil
	}
	return s.store.CountPendingGrants(ctx, actor.TenantID)
}

// SetRequiredApprovals sets whether one or two admins must approve.
func (s *Service) SetRequiredApprovals(ctx context.Context, actor tenant.Actor, n int) error {
	if !access.CanManageSettings(actor) {
		return apperr.Forbidden()
	}
	if n != 1 && n != 2 {
		return apperr.InvalidFields(map[string]string{"required_approvals": "must be 1 or 2"})
	}
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		before, err := s.store.RequiredApprovals(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		if err := s.store.SetRequiredApprovals(ctx, actor.TenantID, n); err != nil {
			return err
		}
		e := audit.New(actor, s.now().UTC(), ActionSettings, "settings", "support_access", "support access")
		e.Changes = map[string]audit.Change{"required_approvals": {Before: before, After: n}}
		return s.store.AppendAudit(ctx, e)
	})
}

// Authorize returns the grant that lets operatorID read (or, with write,
// change) object in tenant tid now, or forbidden: only the named operator,
// only inside scope and window, and a revocation counts at once because
// every request reads the grant afresh.
func (s *Service) Authorize(ctx context.Context, operatorID string, tid tenant.ID, grantID, object string, write bool) (Grant, error) {
	g, _, err := s.store.Grant(ctx, tid, grantID)
	if apperr.Is(err, apperr.KindNotFound) {
		return Grant{}, apperr.Forbidden()
	}
	if err != nil {
		return Grant{}, err
	}
	if !g.Allows(operatorID, object, write, s.now()) {
		return Grant{}, apperr.Forbidden()
	}
	return g.At(s.now()), nil
}

// ActiveGrant finds the operator's grant that covers object in tenant
// tid now (the newest, if several), or answers forbidden.
func (s *Service) ActiveGrant(ctx context.Context, operatorID string, tid tenant.ID, object string, write bool) (Grant, error) {
	gs, err := s.store.Grants(ctx, tid, 200)
	if err != nil {
		return Grant{}, err
	}
	now := s.now()
	for _, g := range gs {
		if g.Allows(operatorID, object, write, now) {
			return g.At(now), nil
		}
	}
	return Grant{}, apperr.Forbidden()
}

// ActionUsed records what an operator read or changed under a grant.
const ActionUsed = "support.use"

// RecordUse writes, in the tenant's own trail, that the operator used
// grant g: what (e.g. "read"), on which object and records. This is the
// transparency log the tenant's admins read.
func (s *Service) RecordUse(ctx context.Context, op Operator, tid tenant.ID, g Grant, what, object string, ids []string) error {
	now := s.now().UTC()
	return s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		e := operatorEvent(op, tid, now, ActionUsed, g)
		e.ObjectType, e.ObjectID, e.ObjectName = object, "", what
		if len(ids) == 1 {
			e.ObjectID = ids[0]
		}
		e.Changes = map[string]audit.Change{"grant": {After: g.ID}, "what": {After: what}, "records": {After: len(ids)}}
		if len(ids) > 1 {
			e.Changes["ids"] = audit.Change{After: strings.Join(ids, ",")}
		}
		return s.store.AppendAudit(ctx, e)
	})
}
