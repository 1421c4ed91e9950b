// Package tenant holds the tenant identity, its contract state and the
// acting principal that every domain operation is performed by.
package tenant

import (
	"regexp"
	"time"

	"github.com/google/uuid"
)

// ID identifies a tenant. It is passed explicitly to every store method.
type ID string

// Status is a tenant's lifecycle state.
type Status string

const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Tenant is one customer of the platform.
type Tenant struct {
	ID            ID
	Slug          string
	Name          string
	Status        Status
	ContractStart time.Time
	ContractEnd   *time.Time // nil: open-ended
	CreatedAt     time.Time
}

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidSlug reports whether s is a usable tenant slug: lower-case letters,
// digits and inner hyphens, at most 63 characters.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// NewID returns a fresh time-ordered identifier (UUIDv7) so that keyset
// pagination and index inserts stay local.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s looks like an identifier Haven issues.
func ValidID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// ActorKind says what sort of principal acts.
type ActorKind string

const (
	ActorUser   ActorKind = "user"
	ActorSystem ActorKind = "system"
	// ActorOperator is a vendor operator acting under a grant the
	// tenant's admins approved (UserID is the operator's ID).
	ActorOperator ActorKind = "operator"
)

// Actor is the principal performing an operation, with the request facts
// that the audit trail records about it.
type Actor struct {
	Kind     ActorKind
	TenantID ID
	UserID   string
	Name     string
	Role     string
	// SessionID is set when the actor authenticated with a session.
	SessionID string
	// TokenID is set when the actor authenticated with an API token.
	TokenID string
	// Grant is set for an operator: the approved grant it acts under.
	Grant *Grant

	IP        string
	UserAgent string
	RequestID string
}

// Grant is what an operator's approved access reaches: checked by the
// support-access service before the actor is built, and again by every
// authorization decision.
type Grant struct {
	ID      string
	Objects []string
	Write   bool
}

// Reaches reports whether the grant covers object (and, with write, a change).
func (g *Grant) Reaches(object string, write bool) bool {
	if g == nil || (write && !g.Write) {
		return false
	}
	for _, o := range g.Objects {
		if o == object {
			return true
		}
	}
	return false
}

// Operator returns the actor of an operator acting under grant g.
func Operator(tenantID ID, operatorID, name string, g Grant, ip, userAgent, requestID string) Actor {
	return Actor{Kind: ActorOperator, TenantID: tenantID, UserID: operatorID, Name: name, Grant: &g, IP: ip, UserAgent: userAgent, RequestID: requestID}
}

// System returns the actor used for work the platform does on its own.
func System(tenantID ID, requestID string) Actor {
	return Actor{Kind: ActorSystem, TenantID: tenantID, Name: "system", RequestID: requestID}
}
