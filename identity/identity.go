// Package identity owns tenant users, password hashing, login and
// sessions. There is no built-in superuser, no master password and no way
// to act as another user: every session belongs to the user who logged in.
package identity

import (
	"context"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Status is a user's state.
type Status string

const (
	StatusActive      Status = "active"
	StatusDeactivated Status = "deactivated"
)

// User is a person who signs in to one tenant.
type User struct {
	ID                 string
	Email              string // lower-case; empty when the user signs in by phone
	Phone              string // normalized: digits with an optional leading +
	Name               string
	Role               string
	Status             Status
	PasswordHash       string
	MustChangePassword bool
	PasswordChangedAt  time.Time
	LastLoginAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Login returns the identifier the user signs in with.
func (u User) Login() string {
	if u.Email != "" {
		return u.Email
	}
	return u.Phone
}

// Session is a signed-in user's bearer credential; only its token's hash
// is stored.
type Session struct {
	ID         string
	UserID     string
	TokenHash  []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end
	RevokedAt  *time.Time
	IP         string
	UserAgent  string
}

// TxRunner runs a function in one transaction for a tenant; store calls
// made with the context it passes join the transaction.
type TxRunner interface {
	WriteTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	ReadTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	// LockTenant, called first in a write transaction, keeps every other
	// write transaction of the tenant waiting until this one ends.
	LockTenant(ctx context.Context, tenantID tenant.ID) error
}

// TenantStore reads tenants.
type TenantStore interface {
	TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error)
	Tenant(ctx context.Context, id tenant.ID) (tenant.Tenant, error)
}

// UserStore persists users.
type UserStore interface {
	InsertUser(ctx context.Context, tenantID tenant.ID, u User) error
	UpdateUser(ctx context.Context, tenantID tenant.ID, u User) error
	User(ctx context.Context, tenantID tenant.ID, id string) (User, error)
	UserByLogin(ctx context.Context, tenantID tenant.ID, login string) (User, error)
	// Users lists users ordered by ID, after the given ID.
	Users(ctx context.Context, tenantID tenant.ID, afterID string, limit int) ([]User, error)
	CountActiveAdmins(ctx context.Context, tenantID tenant.ID) (int, error)
}

// SessionStore persists sessions.
type SessionStore interface {
	InsertSession(ctx context.Context, tenantID tenant.ID, s Session) error
	SessionByTokenHash(ctx context.Context, tenantID tenant.ID, hash []byte) (Session, error)
	TouchSession(ctx context.Context, tenantID tenant.ID, id string, at time.Time) error
	RevokeSession(ctx context.Context, tenantID tenant.ID, id string, at time.Time) error
	// RevokeUserSessions ends every live session of userID except the one
	// with ID except (empty: none spared) and returns how many it ended.
	RevokeUserSessions(ctx context.Context, tenantID tenant.ID, userID, except string, at time.Time) (int, error)
}

// AuditAppender appends an audit event inside the current transaction.
type AuditAppender interface {
	AppendAudit(ctx context.Context, e audit.Event) error
}

// Store is everything the identity service needs from storage.
type Store interface {
	RecoveryStore
	TxRunner
	TenantStore
	UserStore
	SessionStore
	SessionAdmin
	OwnershipTransfer
	TokenStore
	MFAStore
	PasswordHistoryStore
	LockoutStore
	AuditAppender
}

var phoneChars = regexp.MustCompile(`^\+?[0-9]{5,20}$`)

// NormalizeEmail validates and lower-cases an e-mail address.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 254 {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", false
	}
	return s, true
}

// NormalizePhone strips spaces, dashes and brackets and validates the rest.
func NormalizePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if !phoneChars.MatchString(s) {
		return "", false
	}
	return s, true
}

// NormalizeLogin turns what a user typed into the stored form of their
// e-mail or phone.
func NormalizeLogin(s string) (string, bool) {
	if strings.Contains(s, "@") {
		return NormalizeEmail(s)
	}
	return NormalizePhone(s)
}
