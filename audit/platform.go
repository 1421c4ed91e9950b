package audit

import (
	"context"
	"time"

	"github.com/havencrm/haven/tenant"
)

// The platform trail.
//
// Operator-side actions (tenant creation, key operations run by the
// vendor, operator sign-ins, access requests and their use) are recorded
// in the platform's own trail: tenant "" in the same tables, with the
// same hash chain, checkpoints, retention and verification as a
// tenant's. Each platform event is appended in a transaction of its own
// (a transaction serves one trail), after the action it records
// committed, so the trail never claims what did not happen.

// PlatformTrail is the tenant ID of the platform's trail.
const PlatformTrail tenant.ID = ""

// Actions recorded only in the platform trail. Tenant creation and key
// operations reuse the tenant trail's action names (tenant.create,
// keys.rotated, keys.byok_enabled, keys.byok_disabled,
// keys.rotate_data_key, keys.destroy) with the tenant as the object.
const (
	// ActionKEKVersionCreated: a new version of the platform
	// key-encryption key was made (haven keys rotate-kek).
	ActionKEKVersionCreated = "keys.rotate_kek"
	// ActionOperatorLogin and ActionOperatorLoginFailed: an operator's
	// sign-in to the operator realm.
	ActionOperatorLogin       = "operator.login"
	ActionOperatorLoginFailed = "operator.login_failed"
	// ActionAccessRequested: an operator asked a tenant for access.
	ActionAccessRequested = "access.request"
	// ActionAccessDecided: the tenant's admin approved, denied or revoked
	// a request (Changes "decision").
	ActionAccessDecided = "access.decide"
	// ActionAccessUsed: an operator read or changed tenant data under a
	// grant (the tenant's own trail holds the details of each request).
	ActionAccessUsed = "access.use"
)

// ActorOperator is the actor type of a vendor operator.
const ActorOperator = "operator"

// PlatformActor is who acted on the platform: the system on behalf of a
// command-line user, or a named operator.
type PlatformActor struct {
	Type      string // "system" or "operator"
	ID        string
	Name      string
	IP        string
	UserAgent string
	RequestID string
}

// SystemActor is the system acting for whoever ran a command, e.g.
// SystemActor("haven tenant create", "cli user alice").
func SystemActor(command, who string) PlatformActor {
	name := "system"
	switch {
	case command != "" && who != "":
		name = "system (" + command + ", " + who + ")"
	case command != "":
		name = "system (" + command + ")"
	}
	return PlatformActor{Type: string(tenant.ActorSystem), Name: name}
}

// OperatorActor is a named operator acting from a request.
func OperatorActor(id, name, ip, userAgent, requestID string) PlatformActor {
	return PlatformActor{Type: ActorOperator, ID: id, Name: name, IP: ip, UserAgent: userAgent, RequestID: requestID}
}

// PlatformStore appends platform events.
type PlatformStore interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	AppendAudit(ctx context.Context, e Event) error
}

// PlatformLog appends to the platform trail.
type PlatformLog struct {
	store PlatformStore
	now   func() time.Time
}

// NewPlatformLog returns the platform trail's writer; now is the
// application's clock.
func NewPlatformLog(st PlatformStore, now func() time.Time) *PlatformLog {
	if now == nil {
		now = time.Now
	}
	return &PlatformLog{store: st, now: now}
}

// Event builds a platform event of actor at the current time.
func (p *PlatformLog) Event(actor PlatformActor, action, objectType, objectID, objectName string) Event {
	return Event{
		TenantID: PlatformTrail, At: p.now().UTC(), ActorType: actor.Type, ActorID: actor.ID, ActorName: actor.Name,
		Action: action, ObjectType: objectType, ObjectID: objectID, ObjectName: objectName,
		IP: actor.IP, UserAgent: actor.UserAgent, RequestID: actor.RequestID,
	}
}

// Append appends e to the platform trail in a transaction of its own
// (whatever tenant e names: the platform trail is the only one here).
func (p *PlatformLog) Append(ctx context.Context, e Event) error {
	e.TenantID = PlatformTrail
	return p.store.WriteTx(ctx, PlatformTrail, func(ctx context.Context) error { return p.store.AppendAudit(ctx, e) })
}

// TenantCreated records a new tenant: its ID, slug and name (never its
// admin's contact details, which are the customer's data).
func (p *PlatformLog) TenantCreated(ctx context.Context, actor PlatformActor, t tenant.Tenant) error {
	ev := p.Event(actor, ActionTenantCreated, "tenant", string(t.ID), t.Slug)
	ev.Changes = map[string]Change{"slug": {After: t.Slug}, "name": {After: t.Name}}
	if t.ContractEnd != nil {
		ev.Changes["contract_end"] = Change{After: t.ContractEnd.UTC().Format(time.RFC3339)}
	}
	return p.Append(ctx, ev)
}

// KeyOperation records a key operation on one tenant's keys (the same
// action and changes as the event in the tenant's trail); tid "" with
// slug "" names the platform's own keys.
func (p *PlatformLog) KeyOperation(ctx context.Context, actor PlatformActor, action string, tid tenant.ID, slug string, changes map[string]Change) error {
	objectType := "tenant"
	if tid == "" {
		objectType = "platform"
	}
	ev := p.Event(actor, action, objectType, string(tid), slug)
	ev.Changes = changes
	return p.Append(ctx, ev)
}

// OperatorLogin records an operator's sign-in (hook for the operator
// realm).
func (p *PlatformLog) OperatorLogin(ctx context.Context, op PlatformActor) error {
	return p.Append(ctx, p.Event(op, ActionOperatorLogin, "operator", op.ID, op.Name))
}

// OperatorLoginFailed records a refused operator sign-in; login is what
// was typed (never the password), reason why it was refused.
func (p *PlatformLog) OperatorLoginFailed(ctx context.Context, from PlatformActor, login, reason string) error {
	from.Type = ActorOperator
	ev := p.Event(from, ActionOperatorLoginFailed, "operator", from.ID, login)
	ev.Changes = map[string]Change{"reason": {After: reason}}
	return p.Append(ctx, ev)
}

// AccessRequest describes an operator's request for access to a tenant.
type AccessRequest struct {
	ID            string
	TenantID      tenant.ID
	TenantSlug    string
	Reason        string
	Ticket        string
	Objects       []string
	Write         bool
	DurationHours int
}

// AccessRequested records that op asked for access (hook for the
// support-access feature).
func (p *PlatformLog) AccessRequested(ctx context.Context, op PlatformActor, r AccessRequest) error {
	ev := p.Event(op, ActionAccessRequested, "access_request", r.ID, r.TenantSlug)
	objects := make([]any, len(r.Objects))
	for i, o := range r.Objects {
		objects[i] = o
	}
	ev.Changes = map[string]Change{
		"tenant_id": {After: string(r.TenantID)}, "reason": {After: r.Reason}, "ticket": {After: r.Ticket},
		"objects": {After: objects}, "write": {After: r.Write}, "duration_hours": {After: r.DurationHours},
	}
	return p.Append(ctx, ev)
}

// AccessDecided records the tenant's answer to a request: "approved",
// "denied", "revoked" or "expired"; by names the tenant admin (or the
// system when it expired).
func (p *PlatformLog) AccessDecided(ctx context.Context, by PlatformActor, requestID string, tid tenant.ID, slug, decision string) error {
	ev := p.Event(by, ActionAccessDecided, "access_request", requestID, slug)
	ev.Changes = map[string]Change{"tenant_id": {After: string(tid)}, "decision": {After: decision}}
	return p.Append(ctx, ev)
}

// AccessUsed records one use of a grant: what the operator did
// ("read", "write") to which object of which tenant.
func (p *PlatformLog) AccessUsed(ctx context.Context, op PlatformActor, grantID string, tid tenant.ID, what, objectType, objectID string) error {
	ev := p.Event(op, ActionAccessUsed, "access_grant", grantID, "")
	ev.Changes = map[string]Change{
		"tenant_id": {After: string(tid)}, "operation": {After: what}, "object_type": {After: objectType}, "object_id": {After: objectID},
	}
	return p.Append(ctx, ev)
}
