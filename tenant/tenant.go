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

	IP        string
	UserAgent string
	RequestID string
}

// System returns the actor used for work the platform does on its own.
func System(tenantID ID, requestID string) Actor {
	return Actor{Kind: ActorSystem, TenantID: tenantID, Name: "system", RequestID: requestID}
}
