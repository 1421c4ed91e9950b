package operators

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

const (
	// TokenPrefix marks operator session tokens; the tenant realm knows
	// only its own prefixes and tables, so it never accepts one.
	TokenPrefix = "hvo_"
	tokenBytes  = 32 // 256 random bits

	// IdleTimeout and AbsoluteTimeout bound an operator session: shorter
	// than a tenant user's, since an operator session reaches every
	// tenant's metadata.
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 8 * time.Hour

	// LockAfter failed sign-ins lock an operator for LockFor.
	LockAfter = 5
	LockFor   = 15 * time.Minute
	// AddressLimit failed sign-ins from one client address within
	// AddressWindow, across every operator e-mail, refuse that address
	// until the window ends: a spray over many operator accounts locks
	// none of them but stops all the same.
	AddressLimit  = 20
	AddressWindow = time.Hour

	// MinPasswordLength is the operators' minimum, above the tenants'
	// default: these accounts reach every tenant's metadata.
	MinPasswordLength = 12

	totpPeriod = 30
	totpDigits = otp.DigitsSix
	// touchEvery limits last_seen_at writes to one a minute per session;
	// the idle timeout is thirty times coarser.
	touchEvery = time.Minute
)

// Reasons recorded for refused sign-ins (never the password or code).
const (
	reasonUnknown     = "unknown_login"
	reasonMissing     = "missing_credentials"
	reasonPassword    = "wrong_password"
	reasonCode        = "wrong_code"
	reasonReplay      = "replayed_code"
	reasonLocked      = "locked"
	reasonDeactivated = "deactivated"
	reasonAddress     = "address_limited"
)

// Service runs the operator realm.
type Service struct {
	store    Store
	hasher   *identity.Hasher
	sealer   Sealer
	platform PlatformRecorder
	now      func() time.Time
}

// New returns the operator service; now is the application's clock.
func New(st Store, hasher *identity.Hasher, sealer Sealer, platform PlatformRecorder, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, hasher: hasher, sealer: sealer, platform: platform, now: now}
}

// CreateInput describes a new operator.
type CreateInput struct {
	Email string
	Name  string
	Role  Role
}

// Created is a new operator with the credentials shown only once.
type Created struct {
	Operator        Operator
	OneTimePassword string
	TOTPSecret      string // base32
	TOTPURL         string // otpauth://
}

// ErrPlatformAudit wraps a failure to record a committed action in the
// platform trail: the action happened, its record did not.
var ErrPlatformAudit = errors.New("recording in the platform audit trail failed")

// Create makes an operator with a one-time password and a TOTP secret,
// and records it in the platform trail as done by by.
func (s *Service) Create(ctx context.Context, in CreateInput, by audit.PlatformActor) (Created, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	name := strings.TrimSpace(in.Name)
	fields := map[string]string{}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		fields["email"] = "must be an e-mail address"
	}
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		fields["name"] = "must be 1 to 200 characters"
	}
	if !in.Role.Valid() {
		fields["role"] = "must be support, sre or security"
	}
	if len(fields) > 0 {
		return Created{}, apperr.InvalidFields(fields)
	}
	if _, err := s.store.OperatorByEmail(ctx, email); err == nil {
		return Created{}, apperr.Conflict("an operator with the e-mail %s already exists", email)
	} else if !apperr.Is(err, apperr.KindNotFound) {
		return Created{}, err
	}
	password, err := identity.OneTimePassword()
	if err != nil {
		return Created{}, apperr.Internal(err)
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return Created{}, apperr.Internal(err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Haven operators", AccountName: email, Period: totpPeriod,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return Created{}, apperr.Internal(err)
	}
	now := s.now().UTC()
	o := Operator{ID: tenant.NewID(), Email: email, Name: name, Role: in.Role, PasswordHash: hash, MustChangePassword: true,
		PasswordChangedAt: now, CreatedAt: now}
	if o.TOTPSecret, err = s.sealer.Wrap(ctx, []byte(key.Secret()), secretAAD(o.ID)); err != nil {
		return Created{}, apperr.Internal(fmt.Errorf("seal the TOTP secret: %w", err))
	}
	if err := s.store.InsertOperator(ctx, o); err != nil {
		if apperr.Is(err, apperr.KindConflict) {
			return Created{}, apperr.Conflict("an operator with the e-mail %s already exists", email)
		}
		return Created{}, err
	}
	out := Created{Operator: o, OneTimePassword: password, TOTPSecret: key.Secret(), TOTPURL: key.URL()}
	ev := s.platform.Event(by, ActionOperatorCreated, "operator", o.ID, o.Email)
	ev.Changes = map[string]audit.Change{"email": {After: o.Email}, "name": {After: o.Name}, "role": {After: string(o.Role)}}
	if err := s.platform.Append(ctx, ev); err != nil {
		return out, fmt.Errorf("%w: %w", ErrPlatformAudit, err)
	}
	return out, nil
}

// secretAAD binds a sealed secret to its operator, so that one cannot be
// moved to another row.
func secretAAD(operatorID string) []byte {
	return []byte("haven/operator-totp/" + operatorID)
}

// LoginInput is a sign-in attempt.
type LoginInput struct {
	Email, Password, TOTP string
	IP, UserAgent         string
	RequestID             string
}

// LoginResult is a started session; Token is shown once.
type LoginResult struct {
	Token              string
	ExpiresAt          time.Time
	MustChangePassword bool
	Operator           Operator
}

// AccountLockedError answers a sign-in of a locked operator.
func AccountLockedError(until time.Time) *apperr.Error {
	e := &apperr.Error{Kind: apperr.KindLocked, Code: apperr.CodeAccountLocked,
		Message: "the account is locked after too many failed sign-ins"}
	return e.WithDetail("locked_until", until.UTC().Format(time.RFC3339))
}

// Login signs an operator in with e-mail, password and TOTP code. Every
// refusal short of a lock is the same invalid_credentials after the same
// argon2id work, so that the answer tells nothing about which part was
// wrong or whether the e-mail exists.
func (s *Service) Login(ctx context.Context, in LoginInput) (LoginResult, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	from := audit.OperatorActor("", "", in.IP, in.UserAgent, in.RequestID)
	fail := func(o *Operator, reason string, answer error) (LoginResult, error) {
		actor := from
		if o != nil {
			actor.ID = o.ID
		}
		if err := s.platform.OperatorLoginFailed(ctx, actor, email, reason); err != nil {
			return LoginResult{}, apperr.Internal(err)
		}
		return LoginResult{}, answer
	}
	now := s.now().UTC()
	// Operator addresses count apart from the tenants' sign-ins, which
	// share the table but not the key.
	addr := ""
	if in.IP != "" {
		addr = "ops:" + in.IP
		n, err := s.store.IPFailures(ctx, addr, now.Add(-AddressWindow))
		if err != nil {
			return LoginResult{}, err
		}
		if n >= AddressLimit {
			return fail(nil, reasonAddress, addressLimited())
		}
	}
	fail = countAddress(ctx, s.store, addr, now, fail)
	if len(in.Password) > identity.MaxPasswordBytes || len(email) > 254 {
		s.hasher.VerifyDummy("")
		return fail(nil, reasonMissing, apperr.InvalidCredentials())
	}
	o, err := s.store.OperatorByEmail(ctx, email)
	switch {
	case apperr.Is(err, apperr.KindNotFound):
		s.hasher.VerifyDummy(in.Password)
		return fail(nil, reasonUnknown, apperr.InvalidCredentials())
	case err != nil:
		return LoginResult{}, err
	}
	if o.DeactivatedAt != nil {
		s.hasher.VerifyDummy(in.Password)
		return fail(&o, reasonDeactivated, apperr.InvalidCredentials())
	}
	if o.LockedUntil != nil && o.LockedUntil.After(now) {
		// Same work as any attempt, so a locked account is no faster
		// oracle than an open one.
		s.hasher.VerifyDummy(in.Password)
		return fail(&o, reasonLocked, AccountLockedError(*o.LockedUntil))
	}
	// Both checks always run, so the time does not tell which failed.
	pwOK := s.hasher.Verify(o.PasswordHash, in.Password)
	step, codeOK := s.checkCode(ctx, o, in.TOTP, now)
	reason := ""
	switch {
	case in.Password == "" || in.TOTP == "":
		reason = reasonMissing
	case !pwOK:
		reason = reasonPassword
	case !codeOK:
		reason = reasonCode
	}
	if reason == "" {
		// Each time step is accepted once: a code seen over a shoulder or
		// replayed from a log is useless after its first use.
		fresh, err := s.store.AdvanceOperatorTOTPStep(ctx, o.ID, step)
		if err != nil {
			return LoginResult{}, err
		}
		if !fresh {
			reason = reasonReplay
		}
	}
	if reason != "" {
		if _, err := s.store.RecordOperatorFailure(ctx, o.ID, LockAfter, now.Add(LockFor)); err != nil {
			return LoginResult{}, err
		}
		return fail(&o, reason, apperr.InvalidCredentials())
	}
	if o.FailedAttempts > 0 || o.LockedUntil != nil {
		if err := s.store.ResetOperatorFailures(ctx, o.ID); err != nil {
			return LoginResult{}, err
		}
	}
	token, sess, err := s.newSession(ctx, o.ID, in.IP, in.UserAgent, now)
	if err != nil {
		return LoginResult{}, err
	}
	if err := s.platform.OperatorLogin(ctx, audit.OperatorActor(o.ID, o.Name, in.IP, in.UserAgent, in.RequestID)); err != nil {
		// A sign-in the trail does not show must not stand.
		_ = s.store.RevokeOperatorSession(ctx, sess.ID, now)
		return LoginResult{}, apperr.Internal(err)
	}
	return LoginResult{Token: token, ExpiresAt: sess.ExpiresAt, MustChangePassword: o.MustChangePassword, Operator: o}, nil
}

// countAddress wraps fail so that every refused sign-in also counts
// against the client address (none when addr is empty).
func countAddress(ctx context.Context, st Store, addr string, now time.Time,
	fail func(*Operator, string, error) (LoginResult, error)) func(*Operator, string, error) (LoginResult, error) {
	if addr == "" {
		return fail
	}
	return func(o *Operator, reason string, answer error) (LoginResult, error) {
		if _, err := st.AddIPFailure(ctx, addr, now, now.Add(-AddressWindow)); err != nil {
			return LoginResult{}, err
		}
		return fail(o, reason, answer)
	}
}

// addressLimited answers a sign-in from an address that failed too often.
func addressLimited() *apperr.Error {
	return &apperr.Error{Kind: apperr.KindRateLimited, Code: apperr.CodeRateLimited,
		Message: "too many failed sign-ins from this address; try again later",
		Details: map[string]any{"retry_after_seconds": int64(AddressWindow / time.Second)}}
}

// checkCode verifies a TOTP code against the current step and one step
// either side (clock drift), comparing in constant time, and returns the
// matching step.
func (s *Service) checkCode(ctx context.Context, o Operator, code string, now time.Time) (int64, bool) {
	secret, err := s.sealer.Unwrap(ctx, o.TOTPSecret, secretAAD(o.ID))
	if err != nil || len(code) != int(totpDigits) {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var match int64
	ok := 0
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0).UTC(), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && ok == 0 {
			match, ok = step, 1
		}
	}
	return match, ok == 1
}

func (s *Service) newSession(ctx context.Context, operatorID, ip, userAgent string, now time.Time) (string, Session, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, apperr.Internal(err)
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sess := Session{ID: tenant.NewID(), OperatorID: operatorID, TokenHash: hashToken(token), CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(AbsoluteTimeout), IP: ip, UserAgent: userAgent}
	if err := s.store.InsertOperatorSession(ctx, sess); err != nil {
		return "", Session{}, err
	}
	return token, sess, nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Principal is an authenticated operator and the session it acts in.
type Principal struct {
	Operator Operator
	Session  Session
}

// Authenticate resolves an operator session token. Anything but a live
// "hvo_" session of an active operator is unauthenticated: tenant tokens
// never match (wrong prefix, and their hashes live in other tables).
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return Principal{}, apperr.Unauthenticated()
	}
	hash := hashToken(token)
	sess, err := s.store.OperatorSessionByTokenHash(ctx, hash)
	if apperr.Is(err, apperr.KindNotFound) {
		return Principal{}, apperr.Unauthenticated()
	}
	if err != nil {
		return Principal{}, err
	}
	// The lookup matched on the hash already; the constant-time compare
	// keeps that true whatever the database's collation does.
	if subtle.ConstantTimeCompare(sess.TokenHash, hash) != 1 {
		return Principal{}, apperr.Unauthenticated()
	}
	now := s.now().UTC()
	if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(IdleTimeout)) {
		return Principal{}, apperr.Unauthenticated()
	}
	o, err := s.store.OperatorByID(ctx, sess.OperatorID)
	if apperr.Is(err, apperr.KindNotFound) {
		return Principal{}, apperr.Unauthenticated()
	}
	if err != nil {
		return Principal{}, err
	}
	if o.DeactivatedAt != nil {
		return Principal{}, apperr.Unauthenticated()
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchOperatorSession(ctx, sess.ID, now); err != nil {
			return Principal{}, err
		}
		sess.LastSeenAt = now
	}
	return Principal{Operator: o, Session: sess}, nil
}

// Logout revokes the principal's session.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	return s.store.RevokeOperatorSession(ctx, p.Session.ID, s.now().UTC())
}

// ChangePassword replaces the principal's password after checking the
// current one; the operator's other sessions end.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	o, err := s.store.OperatorByID(ctx, p.Operator.ID)
	if err != nil {
		return err
	}
	if len(current) > identity.MaxPasswordBytes || !s.hasher.Verify(o.PasswordHash, current) {
		return apperr.InvalidCredentials()
	}
	policy := identity.DefaultSecuritySettings()
	policy.PasswordMinLength = max(policy.PasswordMinLength, MinPasswordLength)
	vs := policy.CheckPassword(next, identity.User{Email: o.Email, Name: o.Name})
	if next == current {
		vs = append(vs, identity.Violation{Code: identity.ViolationReused, Message: "must differ from the current password"})
	}
	if len(vs) > 0 {
		return policy.PasswordPolicyError(vs)
	}
	hash, err := s.hasher.Hash(next)
	if err != nil {
		return apperr.Internal(err)
	}
	now := s.now().UTC()
	if err := s.store.SetOperatorPassword(ctx, o.ID, hash, now); err != nil {
		return err
	}
	return s.store.RevokeOperatorSessions(ctx, o.ID, p.Session.ID, now)
}

// Tenants lists every tenant's metadata and size for an operator. All
// roles may; no role sees a tenant's users or records, only their counts.
func (s *Service) Tenants(ctx context.Context, p Principal) ([]TenantSummary, error) {
	if p.Operator.MustChangePassword {
		return nil, apperr.PasswordExpired()
	}
	ts, err := s.store.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TenantSummary, 0, len(ts))
	for _, t := range ts {
		c, err := s.store.TenantCounts(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, TenantSummary{ID: t.ID, Slug: t.Slug, Name: t.Name, Status: t.Status, CreatedAt: t.CreatedAt,
			ContractEnd: t.ContractEnd, Users: c.Users, Records: c.Records})
	}
	return out, nil
}
