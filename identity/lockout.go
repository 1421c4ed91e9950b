package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Lockout and CAPTCHA step-up.
//
// Every sign-in names a subject whose consecutive failures are counted in
// the database: a user ("u:" + ID), a login of an existing tenant that
// names no user ("l:" + hash), or, for a tenant that does not exist or is
// not active, the slug and login together ("t:" + hash, in the platform
// scope). Unknown logins are therefore asked for a CAPTCHA and locked
// exactly like real accounts, so neither the answers nor the lock tell an
// attacker which logins exist. Failures from one client address are also
// counted across all subjects within an hour.
//
// A sign-in runs in three steps:
//  1. admit, one write transaction holding the subject's row: a locked
//     subject answers account_locked; once failures reach captcha_after (or
//     the address's failures reach ip_captcha_after) an attempt without a
//     correctly solved CAPTCHA answers captcha_required with a fresh
//     challenge and counts for nothing, so the lock cannot be used to lock
//     someone out without solving CAPTCHAs. An admitted attempt is counted
//     as a failure at once, so concurrent attempts cannot slip past the
//     thresholds.
//  2. exactly one argon2id verification, whatever happened in step 1 and
//     whether the user exists, so every answer takes the same time.
//  3. a failure keeps the count, counts the address and, at
//     lockout_threshold, locks the subject (423 account_locked) and tells
//     the user by e-mail; a success clears the count.
//
// A lock ends after lockout_minutes (0: when an admin unlocks). The count
// survives the lock's end, so the CAPTCHA is still asked and one more
// failure locks again until the user signs in or an admin unlocks.

// Audit actions of the lockout feature.
const (
	ActionLocked        = "auth.locked"
	ActionUnlocked      = "user.unlock"
	ActionCaptchaFailed = "auth.captcha_failed"
)

// ipWindow is the period failures from one address add up over.
const ipWindow = time.Hour

// LoginAttempt is the throttling state of one login subject.
type LoginAttempt struct {
	Failures      int // consecutive failures since the last success or unlock
	LastFailureAt *time.Time
	LockedAt      *time.Time
	LockedUntil   *time.Time // nil with LockedAt set: until an admin unlocks
}

// Locked reports whether the subject is locked at now.
func (a LoginAttempt) Locked(now time.Time) bool {
	return a.LockedAt != nil && (a.LockedUntil == nil || now.Before(*a.LockedUntil))
}

// LockoutStore persists throttling state and CAPTCHA challenges. The
// empty tenant ID is the platform scope of sign-ins naming no active
// tenant; IP counters and challenges are platform-wide and join the
// caller's transaction of any tenant.
type LockoutStore interface {
	// LoginAttemptForUpdate returns a subject's state, creating it, and
	// holds it until the write transaction ends.
	LoginAttemptForUpdate(ctx context.Context, tid tenant.ID, subject string) (LoginAttempt, error)
	LoginAttempts(ctx context.Context, tid tenant.ID, subjects []string) (map[string]LoginAttempt, error)
	AddLoginFailure(ctx context.Context, tid tenant.ID, subject string, at time.Time) (int, error)
	LockLogin(ctx context.Context, tid tenant.ID, subject string, at time.Time, until *time.Time) error
	ResetLoginAttempts(ctx context.Context, tid tenant.ID, subject string) (LoginAttempt, error)

	IPFailures(ctx context.Context, ip string, since time.Time) (int, error)
	AddIPFailure(ctx context.Context, ip string, at, windowStart time.Time) (int, error)

	InsertCaptcha(ctx context.Context, c CaptchaChallenge) error
	Captcha(ctx context.Context, idHash []byte, at time.Time) (CaptchaChallenge, error)
	UseCaptcha(ctx context.Context, idHash []byte, at time.Time) (CaptchaChallenge, error)
}

func userSubject(id string) string { return "u:" + id }

func hashSubject(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// loginKey is the form of what a user typed that counters are keyed by:
// the normalized login, or for input that is no valid login the trimmed,
// lower-cased text. Only its hash is stored.
func loginKey(raw string) string {
	if l, ok := NormalizeLogin(raw); ok {
		return l
	}
	return strings.ToLower(strings.TrimSpace(printable(raw)))
}

// sessionLifetimes are the session timeouts of a tenant: its settings
// once the server wired them, the configured defaults before that.
func (s *Service) sessionLifetimes(st SecuritySettings) SessionConfig {
	if s.settings == nil {
		return s.sessions
	}
	return st.SessionConfig()
}

// attempt is one sign-in being throttled.
type attempt struct {
	scope   tenant.ID // "": the platform scope, no audit
	subject string
	st      SecuritySettings
	ip      string
	actor   tenant.Actor
	// objectID and objectName are the audit events' object: the user, or
	// what was typed for an unknown login.
	objectID, objectName string
}

// CaptchaRequiredError answers a sign-in that needs a solved CAPTCHA;
// details carry the ID of a fresh challenge.
func CaptchaRequiredError(id string) *apperr.Error {
	e := &apperr.Error{Kind: apperr.KindUnauthenticated, Code: apperr.CodeCaptchaRequired,
		Message: "solve the CAPTCHA image and sign in again"}
	return e.WithDetail("captcha_id", id)
}

// AccountLockedError answers a sign-in of a locked login; details carry
// locked_until (RFC 3339, or null until an admin unlocks).
func AccountLockedError(until *time.Time) *apperr.Error {
	e := &apperr.Error{Kind: apperr.KindLocked, Code: apperr.CodeAccountLocked,
		Message: "the account is locked after too many failed sign-ins"}
	var v any
	if until != nil {
		v = until.UTC().Format(time.RFC3339)
	}
	return e.WithDetail("locked_until", v)
}

func lockEnd(now time.Time, minutes int) *time.Time {
	if minutes <= 0 {
		return nil
	}
	t := now.Add(time.Duration(minutes) * time.Minute)
	return &t
}

// admit is step 1: it lets an attempt check a password, counting it as a
// failure until it succeeds, or answers account_locked or
// captcha_required. A supplied CAPTCHA is used up whether right or wrong.
func (s *Service) admit(ctx context.Context, a attempt, in LoginInput, now time.Time) error {
	var refusal error
	err := s.store.WriteTx(ctx, a.scope, func(ctx context.Context) error {
		refusal = nil
		answered := in.CaptchaID != "" || in.CaptchaAnswer != ""
		solved := false
		if answered {
			var err error
			if solved, err = s.useCaptcha(ctx, in.CaptchaID, in.CaptchaAnswer, now); err != nil {
				return err
			}
		}
		state, err := s.store.LoginAttemptForUpdate(ctx, a.scope, a.subject)
		if err != nil {
			return err
		}
		if state.Locked(now) {
			refusal = AccountLockedError(state.LockedUntil)
			return s.auditAttempt(ctx, a, now, audit.ActionLoginFailed, "account locked", nil)
		}
		need := state.Failures >= a.st.CaptchaAfter
		if !need && a.ip != "" {
			n, err := s.store.IPFailures(ctx, a.ip, now.Add(-ipWindow))
			if err != nil {
				return err
			}
			need = n >= a.st.IPCaptchaAfter
		}
		if need && !solved {
			if state.Failures == 0 && state.LockedAt == nil {
				// Asked because of the address alone: leave no empty row
				// behind for every login a spray names.
				if _, err := s.store.ResetLoginAttempts(ctx, a.scope, a.subject); err != nil {
					return err
				}
			}
			id, err := s.newCaptcha(ctx, now)
			if err != nil {
				return err
			}
			refusal = CaptchaRequiredError(id)
			if answered {
				return s.auditAttempt(ctx, a, now, ActionCaptchaFailed, "wrong captcha", nil)
			}
			return s.auditAttempt(ctx, a, now, audit.ActionLoginFailed, "captcha required", nil)
		}
		_, err = s.store.AddLoginFailure(ctx, a.scope, a.subject, now)
		return err
	})
	if err != nil {
		return err
	}
	return refusal
}

// failed is step 3 for a wrong password (or an unknown login, or a
// deactivated user): the admitted attempt stays counted, the address is
// counted, and at the threshold the subject locks. owner is the user to
// tell about a new lock (nil for unknown logins).
func (s *Service) failed(ctx context.Context, a attempt, now time.Time, reason string, t tenant.Tenant, owner *User) error {
	var lockedNow bool
	var until *time.Time
	var result error
	err := s.store.WriteTx(ctx, a.scope, func(ctx context.Context) error {
		lockedNow, until, result = false, nil, nil
		state, err := s.store.LoginAttemptForUpdate(ctx, a.scope, a.subject)
		if err != nil {
			return err
		}
		ipFailures := 0
		if a.ip != "" {
			if ipFailures, err = s.store.AddIPFailure(ctx, a.ip, now, now.Add(-ipWindow)); err != nil {
				return err
			}
		}
		if err := s.auditAttempt(ctx, a, now, audit.ActionLoginFailed, reason, nil); err != nil {
			return err
		}
		if state.Locked(now) {
			// A concurrent attempt locked the subject meanwhile.
			result = AccountLockedError(state.LockedUntil)
			return nil
		}
		if a.st.LockoutThreshold <= 0 || state.Failures < a.st.LockoutThreshold {
			if state.Failures >= a.st.CaptchaAfter || (a.ip != "" && ipFailures >= a.st.IPCaptchaAfter) {
				// The next attempt will need a CAPTCHA: hand one out now,
				// so a person can solve it with their next try.
				id, err := s.newCaptcha(ctx, now)
				if err != nil {
					return err
				}
				result = apperr.InvalidCredentials().WithDetail("captcha_id", id)
			}
			return nil
		}
		until = lockEnd(now, a.st.LockoutMinutes)
		if err := s.store.LockLogin(ctx, a.scope, a.subject, now, until); err != nil {
			return err
		}
		lockedNow, result = true, AccountLockedError(until)
		var untilV any
		if until != nil {
			untilV = until.Format(time.RFC3339)
		}
		return s.auditAttempt(ctx, a, now, ActionLocked, "", map[string]audit.Change{
			"failures":     {After: state.Failures},
			"locked_until": {After: untilV},
		})
	})
	if err != nil {
		return err
	}
	if lockedNow && owner != nil {
		s.notifyLocked(ctx, t, *owner, until)
	}
	if result != nil {
		return result
	}
	return apperr.InvalidCredentials()
}

// notifyLocked tells the user about the lock without making the answer
// wait for the mail: a slower answer for real accounts would tell an
// attacker which logins exist.
func (s *Service) notifyLocked(ctx context.Context, t tenant.Tenant, u User, until *time.Time) {
	n := s.notifier
	ctx = context.WithoutCancel(ctx)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := n.AccountLocked(ctx, t, u, until); err != nil {
			slog.Default().Warn("account locked notification failed", "tenant", t.Slug, "user_id", u.ID, "err", err)
		}
	}()
}

// auditAttempt appends a sign-in event of a tenant-scope attempt.
func (s *Service) auditAttempt(ctx context.Context, a attempt, now time.Time, action, reason string, changes map[string]audit.Change) error {
	if a.scope == "" {
		return nil
	}
	ev := audit.New(a.actor, now, action, "user", a.objectID, a.objectName)
	if changes == nil {
		changes = map[string]audit.Change{}
	}
	if reason != "" {
		changes["reason"] = audit.Change{After: reason}
	}
	if len(changes) > 0 {
		ev.Changes = changes
	}
	return s.store.AppendAudit(ctx, ev)
}

// LockState is what an admin sees of a user's sign-in throttling.
type LockState struct {
	Failures int
	Locked   bool
	Until    *time.Time // nil while Locked: until an admin unlocks
}

func lockState(a LoginAttempt, now time.Time) LockState {
	ls := LockState{Failures: a.Failures, Locked: a.Locked(now)}
	if ls.Locked {
		ls.Until = a.LockedUntil
	}
	return ls
}

// LockStates returns the throttling state of the given users (admins
// only); users without failures are absent.
func (s *Service) LockStates(ctx context.Context, actor tenant.Actor, userIDs []string) (map[string]LockState, error) {
	if !access.CanManageUsers(actor) {
		return nil, apperr.Forbidden()
	}
	subjects := make([]string, 0, len(userIDs))
	for _, id := range userIDs {
		if tenant.ValidID(id) {
			subjects = append(subjects, userSubject(id))
		}
	}
	got, err := s.store.LoginAttempts(ctx, actor.TenantID, subjects)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	out := make(map[string]LockState, len(got))
	for subject, a := range got {
		if a.Failures == 0 && a.LockedAt == nil {
			continue
		}
		out[strings.TrimPrefix(subject, "u:")] = lockState(a, now)
	}
	return out, nil
}

// Unlock clears a user's failed sign-ins and lock (admins only) and
// returns the user with the state it had. The call is audited even when
// nothing was locked.
func (s *Service) Unlock(ctx context.Context, actor tenant.Actor, id string) (User, LockState, error) {
	if !access.CanManageUsers(actor) {
		return User{}, LockState{}, apperr.Forbidden()
	}
	now := s.now().UTC()
	var u User
	var before LockState
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		var err error
		if u, err = s.lookup(ctx, actor.TenantID, id); err != nil {
			return err
		}
		prev, err := s.store.ResetLoginAttempts(ctx, actor.TenantID, userSubject(u.ID))
		if err != nil {
			return err
		}
		before = lockState(prev, now)
		var untilV any
		if before.Until != nil {
			untilV = before.Until.Format(time.RFC3339)
		}
		ev := audit.New(actor, now, ActionUnlocked, "user", u.ID, u.Name)
		ev.Changes = map[string]audit.Change{
			"failures": {Before: before.Failures, After: 0},
			"locked":   {Before: before.Locked, After: false},
		}
		if untilV != nil {
			ev.Changes["locked_until"] = audit.Change{Before: untilV}
		}
		return s.store.AppendAudit(ctx, ev)
	})
	return u, before, err
}
