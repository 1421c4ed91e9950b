package identity

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Password recovery: a user who forgot their password asks for a code by
// e-mail or SMS (StartRecovery) and sets a new password with it
// (FinishRecovery).
//
// What it promises:
//   - Starting answers the same whether or not the tenant, the login or the
//     channel exist, after the same work (an argon2id hash is computed and
//     the user is looked up either way); the handlers also pad the answer
//     to a fixed minimum time (RecoveryMinResponse).
//   - A code is RecoveryCodeDigits digits from crypto/rand (uniform), stored
//     only as an argon2id hash, valid for RecoveryCodeTTL, single-use, and
//     dead after RecoveryMaxAttempts tries; a new start replaces it.
//   - Each try reserves an attempt before the code is compared, so parallel
//     guesses cannot exceed the bound.
//   - Unknown tenants, unknown logins, missing, expired, used, dead and
//     wrong codes all answer the same invalid_credentials.
//   - Starting is rate-limited in the database (so limits hold across
//     instances and restarts). Limits that answer 429 are counted only over
//     what the caller submitted (tenant and login as typed, client IP, the
//     phone number typed as login), so a 429 reveals nothing about which
//     accounts exist. Limits on the real target (the user, the phone a text
//     would go to) are enforced silently: over them no code is issued, and
//     the caller still sees 202.
//   - A successful reset clears must_change_password, ends every session
//     of the user, and is audited; neither the code nor any password is
//     ever audited or logged.

// Recovery channels.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Audit actions of password recovery.
const (
	ActionRecoveryStarted   = "auth.recovery_started"
	ActionRecoveryCompleted = "auth.recovery_completed"
	ActionRecoveryFailed    = "auth.recovery_failed"
)

// Recovery code rules.
const (
	RecoveryCodeDigits  = 6
	RecoveryCodeTTL     = 10 * time.Minute
	RecoveryMaxAttempts = 5
	// RecoveryMinResponse is the least time the recovery endpoints take to
	// answer, so that the work done for an existing account (a database
	// write, handing a message to the sender) cannot be told apart by
	// timing from the work done for an unknown one.
	RecoveryMinResponse = 250 * time.Millisecond
)

// RecoveryLimit allows Max events per sliding Window.
type RecoveryLimit struct {
	Max    int
	Window time.Duration
}

// RecoveryRateKey is one thing counted (Key, within Scope) and the limits that
// apply to it.
type RecoveryRateKey struct {
	Scope  string
	Key    string
	Limits []RecoveryLimit
}

// Rate-limit scopes and limits of recovery.
var (
	// Counted over what the caller submitted; exceeding answers 429.
	recoveryAccountLimits = []RecoveryLimit{{3, 15 * time.Minute}, {10, 24 * time.Hour}}
	recoveryIPLimits      = []RecoveryLimit{{10, 15 * time.Minute}, {50, 24 * time.Hour}}
	recoveryPhoneLimits   = []RecoveryLimit{{3, time.Hour}, {10, 24 * time.Hour}}
	recoveryFinishLimits  = []RecoveryLimit{{30, 15 * time.Minute}}
	// Counted over the real target; exceeding silently issues no code.
	recoveryUserLimits   = []RecoveryLimit{{3, 15 * time.Minute}, {10, 24 * time.Hour}}
	recoverySMSToLimits  = []RecoveryLimit{{3, time.Hour}, {10, 24 * time.Hour}}
	recoveryEmailToLimit = []RecoveryLimit{{5, time.Hour}, {20, 24 * time.Hour}}
)

const (
	scopeRecoveryAccount = "recovery_account"
	scopeRecoveryIP      = "recovery_ip"
	scopeRecoveryPhone   = "recovery_phone"
	scopeRecoveryFinish  = "recovery_finish_ip"
	scopeRecoveryUser    = "recovery_user"
	scopeRecoverySMSTo   = "recovery_sms_to"
	scopeRecoveryEmailTo = "recovery_email_to"
)

// RecoveryCode is a stored recovery code; only its hash is kept.
type RecoveryCode struct {
	ID        string
	UserID    string
	Channel   string
	CodeHash  string
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RecoveryStore persists recovery codes and recovery rate limits.
type RecoveryStore interface {
	// PutRecoveryCode stores the user's code, replacing any earlier one.
	PutRecoveryCode(ctx context.Context, tenantID tenant.ID, c RecoveryCode) error
	// GetRecoveryCode returns the user's code (not_found when none).
	GetRecoveryCode(ctx context.Context, tenantID tenant.ID, userID string) (RecoveryCode, error)
	// ReserveRecoveryAttempt counts one try against code codeID if it has
	// fewer than max tries and has not expired at now; it reports whether
	// the try may go ahead.
	ReserveRecoveryAttempt(ctx context.Context, tenantID tenant.ID, userID, codeID string, max int, now time.Time) (bool, error)
	// RefundRecoveryAttempt gives back a try that found the right code but
	// could not complete (the new password broke the policy).
	RefundRecoveryAttempt(ctx context.Context, tenantID tenant.ID, userID, codeID string) error
	// DeleteRecoveryCode removes code codeID and reports whether it was
	// still there (a code is consumed once).
	DeleteRecoveryCode(ctx context.Context, tenantID tenant.ID, userID, codeID string) (bool, error)
	// HitRecoveryRateLimits checks every key's limits at now. When one is
	// exhausted it records nothing and returns how long until every
	// exhausted limit has room again; otherwise it records one event per
	// key and returns 0. It runs in its own transaction, outside any
	// tenant.
	HitRecoveryRateLimits(ctx context.Context, keys []RecoveryRateKey, now time.Time) (time.Duration, error)
}

// RecoveryStartInput is a request for a recovery code.
type RecoveryStartInput struct {
	TenantSlug string
	Login      string
	Channel    string // ChannelEmail or ChannelSMS
	IP         string
	UserAgent  string
	RequestID  string
}

// RecoveryStart is what StartRecovery did, for the caller's logs only:
// nothing of it may reach the requester.
type RecoveryStart struct {
	// DeliveryErr is the notifier's error when a code was issued but could
	// not be handed over for delivery.
	DeliveryErr error
}

// RecoveryFinishInput sets a new password with a recovery code.
type RecoveryFinishInput struct {
	TenantSlug  string
	Login       string
	Code        string
	NewPassword string
	IP          string
	UserAgent   string
	RequestID   string
}

// recoveryRateLimited is the rate_limited error with its Retry-After delay in
// details.retry_after_seconds (whole seconds, at least 1).
func recoveryRateLimited(retry time.Duration) *apperr.Error {
	secs := int64((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &apperr.Error{Kind: apperr.KindRateLimited, Code: apperr.CodeRateLimited, Message: "too many requests; try again later",
		Details: map[string]any{"retry_after_seconds": secs}}
}

// invalidRecoveryCode is the one answer for every failed finish.
func invalidRecoveryCode() *apperr.Error {
	return &apperr.Error{Kind: apperr.KindUnauthenticated, Code: apperr.CodeInvalidCredentials,
		Message: "invalid or expired recovery code"}
}

// noTenant is looked up in when the tenant does not exist, so that an
// unknown tenant costs the same user lookup as a known one.
const noTenant tenant.ID = "00000000-0000-0000-0000-000000000000"

func (s *Service) recoveryStore() RecoveryStore { return s.store }

// StartRecovery issues a recovery code and hands it to the notifier. It
// answers nil for unknown tenants, logins and channels alike; only
// malformed input (invalid_request) and the caller's own rate limits
// (rate_limited) are errors.
func (s *Service) StartRecovery(ctx context.Context, in RecoveryStartInput) (RecoveryStart, error) {
	if strings.TrimSpace(in.TenantSlug) == "" || strings.TrimSpace(in.Login) == "" || in.Channel == "" {
		return RecoveryStart{}, apperr.Invalid("tenant, login and channel are required")
	}
	if in.Channel != ChannelEmail && in.Channel != ChannelSMS {
		return RecoveryStart{}, apperr.InvalidFields(map[string]string{"channel": "must be email or sms"})
	}
	if len(in.Login) > 254 || len(in.TenantSlug) > 63 {
		return RecoveryStart{}, apperr.Invalid("tenant or login too long")
	}
	now := s.now().UTC()
	slug := strings.ToLower(strings.TrimSpace(in.TenantSlug))
	login, loginOK := NormalizeLogin(in.Login)
	typed := login
	if !loginOK {
		typed = strings.ToLower(strings.TrimSpace(in.Login))
	}
	keys := []RecoveryRateKey{
		{Scope: scopeRecoveryAccount, Key: slug + "\x00" + typed, Limits: recoveryAccountLimits},
		{Scope: scopeRecoveryIP, Key: ipKey(in.IP), Limits: recoveryIPLimits},
	}
	if in.Channel == ChannelSMS && loginOK && !strings.Contains(login, "@") {
		keys = append(keys, RecoveryRateKey{Scope: scopeRecoveryPhone, Key: login, Limits: recoveryPhoneLimits})
	}
	rs := s.recoveryStore()
	retry, err := rs.HitRecoveryRateLimits(ctx, keys, now)
	if err != nil {
		return RecoveryStart{}, err
	}
	if retry > 0 {
		return RecoveryStart{}, recoveryRateLimited(retry)
	}

	// The code and its hash are made whether or not anyone will get them:
	// the argon2id work is the same for every request.
	code, err := newRecoveryCode()
	if err != nil {
		return RecoveryStart{}, apperr.Internal(err)
	}
	hash, err := s.hasher.Hash(code)
	if err != nil {
		return RecoveryStart{}, apperr.Internal(err)
	}
	t, u, found, err := s.recoveryTarget(ctx, slug, login, loginOK)
	if err != nil {
		return RecoveryStart{}, err
	}
	if t.ID == "" {
		return RecoveryStart{}, nil // unknown or suspended tenant: nothing to audit in
	}
	actor := tenant.Actor{Kind: tenant.ActorUser, TenantID: t.ID, IP: in.IP, UserAgent: truncate(in.UserAgent, 512), RequestID: in.RequestID}
	changes := map[string]audit.Change{"channel": {After: in.Channel}}
	objectName, userID, dest := truncate(printable(in.Login), 100), "", ""
	if found {
		actor.UserID, actor.Name, actor.Role = u.ID, u.Name, u.Role
		objectName, userID, dest = u.Login(), u.ID, u.Email
		if in.Channel == ChannelSMS {
			dest = u.Phone
		}
	}
	reason := ""
	switch {
	case !found:
		reason = "unknown login"
	case dest == "":
		reason = "no " + in.Channel + " on the account"
	}
	if reason == "" {
		silent := []RecoveryRateKey{{Scope: scopeRecoveryUser, Key: string(t.ID) + "\x00" + u.ID, Limits: recoveryUserLimits}}
		if in.Channel == ChannelSMS {
			silent = append(silent, RecoveryRateKey{Scope: scopeRecoverySMSTo, Key: dest, Limits: recoverySMSToLimits})
		} else {
			silent = append(silent, RecoveryRateKey{Scope: scopeRecoveryEmailTo, Key: dest, Limits: recoveryEmailToLimit})
		}
		retry, err := rs.HitRecoveryRateLimits(ctx, silent, now)
		if err != nil {
			return RecoveryStart{}, err
		}
		if retry > 0 {
			reason = "rate limited"
		}
	}
	if reason != "" {
		changes["sent"] = audit.Change{After: false}
		changes["reason"] = audit.Change{After: reason}
		ev := audit.New(actor, now, ActionRecoveryStarted, "user", userID, objectName)
		ev.Changes = changes
		err := s.store.WriteTx(ctx, t.ID, func(ctx context.Context) error { return s.store.AppendAudit(ctx, ev) })
		return RecoveryStart{}, err
	}
	rc := RecoveryCode{ID: tenant.NewID(), UserID: u.ID, Channel: in.Channel, CodeHash: hash, CreatedAt: now, ExpiresAt: now.Add(RecoveryCodeTTL)}
	changes["sent"] = audit.Change{After: true}
	err = s.store.WriteTx(ctx, t.ID, func(ctx context.Context) error {
		if err := rs.PutRecoveryCode(ctx, t.ID, rc); err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionRecoveryStarted, "user", u.ID, objectName)
		ev.Changes = changes
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return RecoveryStart{}, err
	}
	return RecoveryStart{DeliveryErr: s.notifier.RecoveryCode(ctx, t, u, in.Channel, code, rc.ExpiresAt)}, nil
}

// recoveryTarget finds the active tenant and active user a recovery
// request names. t.ID is empty when the tenant is unknown or not active;
// found is false when the user is unknown or deactivated. An unknown
// tenant still costs a user lookup.
func (s *Service) recoveryTarget(ctx context.Context, slug, login string, loginOK bool) (t tenant.Tenant, u User, found bool, err error) {
	tid := noTenant
	if tenant.ValidSlug(slug) {
		t, err = s.store.TenantBySlug(ctx, slug)
		switch {
		case apperr.Is(err, apperr.KindNotFound):
			t = tenant.Tenant{}
		case err != nil:
			return tenant.Tenant{}, User{}, false, err
		case t.Status != tenant.StatusActive:
			t = tenant.Tenant{}
		default:
			tid = t.ID
		}
	}
	if !loginOK {
		login = "-" // matches nobody; the lookup is still made
	}
	u, err = s.store.UserByLogin(ctx, tid, login)
	if err != nil {
		if apperr.Is(err, apperr.KindNotFound) {
			return t, User{}, false, nil
		}
		return tenant.Tenant{}, User{}, false, err
	}
	if t.ID == "" || u.Status != StatusActive {
		return t, User{}, false, nil
	}
	return t, u, true, nil
}

// FinishRecovery checks a recovery code and sets the new password; it
// ends every session of the user. Every failed check answers the same
// invalid_credentials; a new password that breaks the policy answers
// password_policy (only after a right code) and leaves the code usable.
func (s *Service) FinishRecovery(ctx context.Context, in RecoveryFinishInput) error {
	if strings.TrimSpace(in.TenantSlug) == "" || strings.TrimSpace(in.Login) == "" || in.Code == "" || in.NewPassword == "" {
		return apperr.Invalid("tenant, login, code and new_password are required")
	}
	if len(in.Login) > 254 || len(in.TenantSlug) > 63 || len(in.Code) > 64 {
		return apperr.Invalid("tenant, login or code too long")
	}
	if len(in.NewPassword) > MaxPasswordBytes {
		return apperr.PasswordPolicy([]string{fmt.Sprintf("at most %d bytes", MaxPasswordBytes)})
	}
	now := s.now().UTC()
	rs := s.recoveryStore()
	retry, err := rs.HitRecoveryRateLimits(ctx, []RecoveryRateKey{{Scope: scopeRecoveryFinish, Key: ipKey(in.IP), Limits: recoveryFinishLimits}}, now)
	if err != nil {
		return err
	}
	if retry > 0 {
		return recoveryRateLimited(retry)
	}
	code, codeOK := normalizeRecoveryCode(in.Code)
	slug := strings.ToLower(strings.TrimSpace(in.TenantSlug))
	login, loginOK := NormalizeLogin(in.Login)
	t, u, found, err := s.recoveryTarget(ctx, slug, login, loginOK)
	if err != nil {
		return err
	}
	actor := tenant.Actor{Kind: tenant.ActorUser, TenantID: t.ID, IP: in.IP, UserAgent: truncate(in.UserAgent, 512), RequestID: in.RequestID}
	fail := func(reason string, dummy bool) error {
		if dummy {
			s.hasher.VerifyDummy(code)
		}
		if t.ID == "" {
			return invalidRecoveryCode()
		}
		userID, name := "", truncate(printable(in.Login), 100)
		if found {
			userID, name = u.ID, u.Login()
		}
		ev := audit.New(actor, now, ActionRecoveryFailed, "user", userID, name)
		ev.Changes = map[string]audit.Change{"reason": {After: reason}}
		if err := s.store.WriteTx(ctx, t.ID, func(ctx context.Context) error { return s.store.AppendAudit(ctx, ev) }); err != nil {
			return err
		}
		return invalidRecoveryCode()
	}
	if !found {
		return fail("unknown login", true)
	}
	actor.UserID, actor.Name, actor.Role = u.ID, u.Name, u.Role
	rc, err := rs.GetRecoveryCode(ctx, t.ID, u.ID)
	if err != nil {
		if apperr.Is(err, apperr.KindNotFound) {
			return fail("no code issued", true)
		}
		return err
	}
	if !now.Before(rc.ExpiresAt) {
		return fail("code expired", true)
	}
	if rc.Attempts >= RecoveryMaxAttempts {
		return fail("too many wrong codes", true)
	}
	if !codeOK {
		// Cannot be right, so it costs no try; it still costs the time of one.
		return fail("wrong code", true)
	}
	ok, err := rs.ReserveRecoveryAttempt(ctx, t.ID, u.ID, rc.ID, RecoveryMaxAttempts, now)
	if err != nil {
		return err
	}
	if !ok {
		return fail("too many wrong codes", true)
	}
	if !s.hasher.Verify(rc.CodeHash, code) {
		return fail(fmt.Sprintf("wrong code (try %d of %d)", rc.Attempts+1, RecoveryMaxAttempts), false)
	}
	if err := s.validateNewPassword(ctx, t.ID, u, in.NewPassword); err != nil {
		if rerr := rs.RefundRecoveryAttempt(ctx, t.ID, u.ID, rc.ID); rerr != nil {
			return rerr
		}
		return err
	}
	hash, err := s.hasher.Hash(in.NewPassword)
	if err != nil {
		return apperr.Internal(err)
	}
	return s.store.WriteTx(ctx, t.ID, func(ctx context.Context) error {
		// Proving control of the mailbox or phone ends a lock too: the
		// owner is not left waiting out a lock someone else caused. The
		// attempt row comes before the tenant lock, the order sign-in
		// takes them in; a failure below rolls the reset back.
		prevLock, err := s.store.ResetLoginAttempts(ctx, t.ID, userSubject(u.ID))
		if err != nil {
			return err
		}
		if err := s.store.LockTenant(ctx, t.ID); err != nil {
			return err
		}
		cur, err := s.store.User(ctx, t.ID, u.ID)
		if err != nil {
			return err
		}
		if cur.Status != StatusActive {
			return invalidRecoveryCode()
		}
		consumed, err := rs.DeleteRecoveryCode(ctx, t.ID, u.ID, rc.ID)
		if err != nil {
			return err
		}
		if !consumed {
			// Another finish used it, or a new start replaced it, meanwhile.
			return invalidRecoveryCode()
		}
		if err := s.rememberPassword(ctx, t.ID, cur, now); err != nil {
			return err
		}
		cur.PasswordHash, cur.MustChangePassword, cur.PasswordChangedAt, cur.UpdatedAt = hash, false, now, now
		if err := s.store.UpdateUser(ctx, t.ID, cur); err != nil {
			return err
		}
		n, err := s.store.RevokeUserSessions(ctx, t.ID, cur.ID, "", now)
		if err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionRecoveryCompleted, "user", cur.ID, cur.Login())
		ev.Changes = map[string]audit.Change{"channel": {After: rc.Channel}, "sessions_revoked": {After: n}}
		if prevLock.Locked(now) {
			ev.Changes["lock_cleared"] = audit.Change{Before: true, After: false}
		}
		return s.store.AppendAudit(ctx, ev)
	})
}

// newRecoveryCode returns RecoveryCodeDigits uniformly random digits.
func newRecoveryCode() (string, error) {
	limit := big.NewInt(1)
	for range RecoveryCodeDigits {
		limit.Mul(limit, big.NewInt(10))
	}
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return fmt.Sprintf("%0*d", RecoveryCodeDigits, n), nil
}

// normalizeRecoveryCode drops spaces and dashes, turns full-width digits
// (as Chinese input methods type them) into ASCII, and reports whether
// the result has the shape of a code.
func normalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == '\u3000':
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) != RecoveryCodeDigits {
		return out, false
	}
	for i := 0; i < len(out); i++ {
		if out[i] < '0' || out[i] > '9' {
			return out, false
		}
	}
	return out, true
}

// ipKey is what an IP address counts under: the address itself for IPv4,
// its /64 network for IPv6 (one subscriber usually holds a whole /64).
func ipKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return "unknown"
	}
	return p.String()
}

// PadRecoveryResponse waits, on the wall clock, until RecoveryMinResponse
// has passed since start (or ctx ends). The recovery handlers call it
// before answering, so that the answer's timing does not depend on
// whether the account exists.
func PadRecoveryResponse(ctx context.Context, start time.Time) {
	d := RecoveryMinResponse - time.Since(start)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
