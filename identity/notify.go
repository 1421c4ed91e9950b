package identity

import (
	"context"
	"time"

	"github.com/havencrm/haven/tenant"
)

// Notifier tells users about security events on their account. The
// server wires an e-mail/SMS implementation; the default only logs.
type Notifier interface {
	// AccountLocked tells the user their account was locked until the
	// given time (nil: until an admin unlocks it).
	AccountLocked(ctx context.Context, t tenant.Tenant, u User, until *time.Time) error
	// RecoveryCode delivers a password recovery code over channel
	// ("email" or "sms").
	RecoveryCode(ctx context.Context, t tenant.Tenant, u User, channel, code string, expires time.Time) error
}

// SetNotifier replaces the notifier (nil restores the default, which
// sends nothing).
func (s *Service) SetNotifier(n Notifier) {
	if n == nil {
		n = nopNotifier{}
	}
	s.notifier = n
}

type nopNotifier struct{}

func (nopNotifier) AccountLocked(context.Context, tenant.Tenant, User, *time.Time) error { return nil }

func (nopNotifier) RecoveryCode(context.Context, tenant.Tenant, User, string, string, time.Time) error {
	return nil
}
