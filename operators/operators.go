// Package operators is the operator realm: the vendor's support, SRE and
// security staff. Operators are made on the command line (haven operator
// create), sign in with a password and a mandatory TOTP code, and hold
// sessions of their own ("hvo_" tokens) in platform tables that no tenant
// transaction can read. They see tenant metadata, never tenant data.
package operators

import (
	"context"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Role is what an operator does for the vendor.
type Role string

// Operator roles.
const (
	RoleSupport  Role = "support"
	RoleSRE      Role = "sre"
	RoleSecurity Role = "security"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleSupport || r == RoleSRE || r == RoleSecurity
}

// Operator is one of the vendor's operators.
type Operator struct {
	ID                 string
	Email              string // lower-case
	Name               string
	Role               Role
	PasswordHash       string
	MustChangePassword bool
	PasswordChangedAt  time.Time
	// TOTPSecret is the authenticator secret sealed under the platform
	// key-encryption key (see Sealer); TOTPLastStep is the last accepted
	// time step, so that a code is accepted once.
	TOTPSecret     []byte
	TOTPLastStep   int64
	FailedAttempts int
	LockedUntil    *time.Time
	CreatedAt      time.Time
	DeactivatedAt  *time.Time
}

// Session is an operator's signed-in session.
type Session struct {
	ID         string
	OperatorID string
	TokenHash  []byte // SHA-256 of the token; the token itself is never stored
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end
	RevokedAt  *time.Time
	IP         string
	UserAgent  string
}

// TenantCounts are the sizes of a tenant: how many users and records it
// has (numbers only, never their content).
type TenantCounts struct {
	Users   int64
	Records int64
}

// TenantSummary is what an operator may know about a tenant.
type TenantSummary struct {
	ID          tenant.ID
	Slug        string
	Name        string
	Status      tenant.Status
	CreatedAt   time.Time
	ContractEnd *time.Time
	Users       int64
	Records     int64
}

// Store persists operators and their sessions. Every method works in a
// platform transaction (tenant ""): on PostgreSQL the operator tables are
// visible to nothing else.
type Store interface {
	InsertOperator(ctx context.Context, o Operator) error
	OperatorByEmail(ctx context.Context, email string) (Operator, error)
	OperatorByID(ctx context.Context, id string) (Operator, error)
	// RecordOperatorFailure counts one failed sign-in; the failure that
	// reaches lockAfter sets locked_until to lockUntil and starts the count
	// again. It reports whether this failure locked the operator.
	RecordOperatorFailure(ctx context.Context, id string, lockAfter int, lockUntil time.Time) (bool, error)
	ResetOperatorFailures(ctx context.Context, id string) error
	// AdvanceOperatorTOTPStep records step as used if it is later than the
	// last used one, and reports whether it was.
	AdvanceOperatorTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	SetOperatorPassword(ctx context.Context, id, hash string, at time.Time) error
	InsertOperatorSession(ctx context.Context, s Session) error
	OperatorSessionByTokenHash(ctx context.Context, hash []byte) (Session, error)
	TouchOperatorSession(ctx context.Context, id string, at time.Time) error
	RevokeOperatorSession(ctx context.Context, id string, at time.Time) error
	RevokeOperatorSessions(ctx context.Context, operatorID, except string, at time.Time) error
	DeactivateOperator(ctx context.Context, id string, at time.Time) (bool, error)
	// IPFailures and AddIPFailure count failed sign-ins per client
	// address (the key "ops:" + address) within a window.
	IPFailures(ctx context.Context, ip string, since time.Time) (int, error)
	AddIPFailure(ctx context.Context, ip string, at, windowStart time.Time) (int, error)
	Tenants(ctx context.Context) ([]tenant.Tenant, error)
	TenantCounts(ctx context.Context, tid tenant.ID) (TenantCounts, error)
}

// Sealer encrypts the operators' TOTP secrets: the platform
// key-encryption key (keyring.KEKProvider has this shape). There is no
// tenant key for platform data, and a database dump alone must not let
// anyone mint an operator's codes.
type Sealer interface {
	Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)
}

// PlatformRecorder appends operator events to the platform audit trail
// (*audit.PlatformLog).
type PlatformRecorder interface {
	Event(actor audit.PlatformActor, action, objectType, objectID, objectName string) audit.Event
	Append(ctx context.Context, e audit.Event) error
	OperatorLogin(ctx context.Context, op audit.PlatformActor) error
	OperatorLoginFailed(ctx context.Context, from audit.PlatformActor, login, reason string) error
}

// ActionOperatorCreated is the platform event of haven operator create.
const ActionOperatorCreated = "operator.create"
