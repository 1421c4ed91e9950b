package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"github.com/havencrm/haven/fieldcrypt"

	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// SessionConfig bounds session lifetimes.
type SessionConfig struct {
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
}

// Service signs users in and out and administers them.
type Service struct {
	store    Store
	hasher   *Hasher
	sessions SessionConfig
	now      func() time.Time
	notifier Notifier
	settings SettingsSource // nil: DefaultSecuritySettings (see SetSettings)
	// keys seals TOTP secrets with the tenant's data key; nil stores them
	// in clear (tests of other packages that never enrol).
	keys fieldcrypt.KeySource
}

// NewService returns the identity service. now is the clock; each
// operation reads it once.
func NewService(store Store, hasher *Hasher, sessions SessionConfig, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, hasher: hasher, sessions: sessions, now: now, notifier: nopNotifier{}}
}

// Hasher returns the password hasher.
func (s *Service) Hasher() *Hasher { return s.hasher }

// LoginInput is what a user submits to sign in.
type LoginInput struct {
	TenantSlug string
	Login      string
	Password   string
	IP         string
	UserAgent  string
	RequestID  string
	// CaptchaID and CaptchaAnswer answer a challenge of an earlier
	// captcha_required error.
	CaptchaID     string
	CaptchaAnswer string
	// TOTP is a code from the user's authenticator app, or a recovery code.
	TOTP string
}

// LoginResult is a new session.
type LoginResult struct {
	Token              string
	ExpiresAt          time.Time
	User               User
	Tenant             tenant.Tenant
	MustChangePassword bool
	// MustEnrolMFA: the tenant requires two-step sign-in and the user has
	// no authenticator yet; only enrolment is allowed until they do.
	MustEnrolMFA bool
}

// Login verifies a password and opens a session. Unknown tenants, unknown
// logins, deactivated users and wrong passwords all answer the same
// invalid_credentials after the same argon2id work, and all are counted,
// asked for a CAPTCHA and locked alike (see lockout.go).
func (s *Service) Login(ctx context.Context, in LoginInput) (LoginResult, error) {
	if in.TenantSlug == "" || in.Login == "" || in.Password == "" {
		return LoginResult{}, apperr.Invalid("tenant, login and password are required")
	}
	if len(in.Password) > MaxPasswordBytes || len(in.Login) > 254 || len(in.TenantSlug) > 63 ||
		len(in.CaptchaID) > 64 || len(in.CaptchaAnswer) > 64 {
		return LoginResult{}, apperr.Invalid("login, password or CAPTCHA answer too long")
	}
	now := s.now().UTC()
	slug := strings.ToLower(in.TenantSlug)
	t, err := s.activeTenant(ctx, slug)
	if err != nil {
		return LoginResult{}, err
	}
	if t.ID == "" {
		// No such active tenant: counted, asked for a CAPTCHA and locked
		// like an unknown login, in the platform scope.
		a := attempt{subject: hashSubject("t:", slug, loginKey(in.Login)), st: DefaultSecuritySettings(), ip: in.IP}
		if err := s.admit(ctx, a, in, now); err != nil {
			s.hasher.VerifyDummy(in.Password)
			return LoginResult{}, err
		}
		s.hasher.VerifyDummy(in.Password)
		return LoginResult{}, s.failed(ctx, a, now, "unknown tenant", t, nil)
	}
	st, err := s.effectiveSettings(ctx, t.ID)
	if err != nil {
		return LoginResult{}, err
	}
	a := attempt{scope: t.ID, st: st, ip: in.IP,
		actor: tenant.Actor{Kind: tenant.ActorUser, TenantID: t.ID, IP: in.IP, UserAgent: in.UserAgent, RequestID: in.RequestID}}
	var u User
	found := false
	if login, ok := NormalizeLogin(in.Login); ok {
		u, err = s.store.UserByLogin(ctx, t.ID, login)
		switch {
		case err == nil:
			found = true
		case !apperr.Is(err, apperr.KindNotFound):
			return LoginResult{}, err
		}
	}
	if found {
		a.subject = userSubject(u.ID)
		a.actor.UserID, a.actor.Name, a.actor.Role = u.ID, u.Name, u.Role
		a.objectID, a.objectName = u.ID, u.Login()
	} else {
		a.subject = hashSubject("l:", loginKey(in.Login))
		a.objectName = truncate(printable(in.Login), 100)
	}
	if !st.AllowsIP(in.IP) {
		s.hasher.VerifyDummy(in.Password)
		err := s.store.WriteTx(ctx, t.ID, func(ctx context.Context) error {
			return s.auditAttempt(ctx, a, now, audit.ActionLoginFailed, "ip not allowed", nil)
		})
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{}, apperr.Forbidden().WithDetail("reason", "signing in from this network address is not allowed")
	}
	if err := s.admit(ctx, a, in, now); err != nil {
		s.hasher.VerifyDummy(in.Password)
		return LoginResult{}, err
	}
	if !found {
		s.hasher.VerifyDummy(in.Password)
		return LoginResult{}, s.failed(ctx, a, now, "unknown login", t, nil)
	}
	if !s.hasher.Verify(u.PasswordHash, in.Password) {
		var owner *User
		if u.Status == StatusActive {
			owner = &u
		}
		return LoginResult{}, s.failed(ctx, a, now, "wrong password", t, owner)
	}
	if u.Status != StatusActive {
		return LoginResult{}, s.failed(ctx, a, now, "user deactivated", t, nil)
	}
	// Second factor. A wrong or replayed code ends in s.failed like a wrong
	// password, so guesses at TOTP and recovery codes share the lockout
	// counters. A missing one answers mfa_required; the attempt admit()
	// counted stays counted, so probing a known password without its code
	// meets the CAPTCHA like any other failure.
	enrolled, err := s.secondFactor(ctx, a.actor, u, in.TOTP, now)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Code == apperr.CodeMFARequired {
			return LoginResult{}, err
		}
		if apperr.Is(err, apperr.KindUnauthenticated) {
			return LoginResult{}, s.failed(ctx, a, now, "wrong second factor", t, &u)
		}
		return LoginResult{}, err
	}
	sc := s.sessionLifetimes(st)
	token, hash, err := newToken(tokenPrefix, t.ID)
	if err != nil {
		return LoginResult{}, apperr.Internal(err)
	}
	sess := Session{
		ID: tenant.NewID(), UserID: u.ID, TokenHash: hash, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(sc.AbsoluteTimeout), IP: in.IP, UserAgent: truncate(in.UserAgent, 512),
	}
	err = s.store.WriteTx(ctx, t.ID, func(ctx context.Context) error {
		// The attempt's row first, then the tenant lock: the order every
		// sign-in transaction takes them in.
		prev, err := s.store.ResetLoginAttempts(ctx, t.ID, a.subject)
		if err != nil {
			return err
		}
		if prev.Locked(now) {
			// A concurrent failure locked the account after this attempt
			// was admitted.
			return AccountLockedError(prev.LockedUntil)
		}
		cur, err := s.relockVerified(ctx, t.ID, u)
		if err != nil {
			return err
		}
		u = cur
		if err := s.store.InsertSession(ctx, t.ID, sess); err != nil {
			return err
		}
		ended, err := s.endExcessSessions(ctx, t.ID, u.ID, sess.ID, st.MaxSessions, sc, now)
		if err != nil {
			return err
		}
		u.LastLoginAt = &now
		if err := s.store.UpdateUser(ctx, t.ID, u); err != nil {
			return err
		}
		ev := audit.New(a.actor, now, audit.ActionLoginSucceeded, "user", u.ID, u.Login())
		if len(ended) > 0 {
			ev.Changes = map[string]audit.Change{"sessions_ended": {After: ended}}
		}
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, ExpiresAt: sess.ExpiresAt, User: u, Tenant: t, MustChangePassword: st.MustChangePassword(u, now),
		MustEnrolMFA: st.MFARequired && !enrolled}, nil
}

// activeTenant returns the active tenant with the given slug, or a zero
// tenant when there is none.
func (s *Service) activeTenant(ctx context.Context, slug string) (tenant.Tenant, error) {
	if !tenant.ValidSlug(slug) {
		return tenant.Tenant{}, nil
	}
	t, err := s.store.TenantBySlug(ctx, slug)
	if apperr.Is(err, apperr.KindNotFound) || (err == nil && t.Status != tenant.StatusActive) {
		return tenant.Tenant{}, nil
	}
	return t, err
}

// endExcessSessions enforces max_sessions when a user signs in: the new
// session keep stays, and the user's oldest live sessions beyond the
// limit end. (Refusing the new sign-in instead would let a stolen session
// lock its owner out.) It returns the IDs of the sessions it ended.
func (s *Service) endExcessSessions(ctx context.Context, tid tenant.ID, userID, keep string, limit int, sc SessionConfig, now time.Time) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	live, err := s.store.UserSessions(ctx, tid, userID, now) // newest first
	if err != nil {
		return nil, err
	}
	var ended []string
	kept := 1 // keep
	for _, ls := range live {
		if ls.ID == keep || now.Sub(ls.LastSeenAt) >= sc.IdleTimeout || !now.Before(ls.CreatedAt.Add(sc.AbsoluteTimeout)) {
			continue // the new session, or one that is over already
		}
		if kept < limit {
			kept++
			continue
		}
		if err := s.store.RevokeSession(ctx, tid, ls.ID, now); err != nil {
			return nil, err
		}
		ended = append(ended, ls.ID)
	}
	return ended, nil
}

// relockVerified locks the tenant's writes and re-reads a user whose
// password was verified before the transaction began. The user may have
// been deactivated or given a new password meanwhile: the caller must
// write the fresh row, never the copy read before.
func (s *Service) relockVerified(ctx context.Context, tid tenant.ID, verified User) (User, error) {
	if err := s.store.LockTenant(ctx, tid); err != nil {
		return User{}, err
	}
	cur, err := s.store.User(ctx, tid, verified.ID)
	if err != nil {
		return User{}, err
	}
	if cur.Status != StatusActive || cur.PasswordHash != verified.PasswordHash {
		return User{}, apperr.InvalidCredentials()
	}
	return cur, nil
}

// tokenPrefix marks Haven session tokens so that secret scanners find
// leaked ones.
const tokenPrefix = "hvs_"

// newToken returns a session or API token (by prefix) carrying its tenant,
// so the lookup can be fenced to that tenant, and 256 random bits; and the
// token's hash, the only form stored.
func newToken(prefix string, tid tenant.ID) (string, []byte, error) {
	id, err := uuid.Parse(string(tid))
	if err != nil {
		return "", nil, fmt.Errorf("tenant id: %w", err)
	}
	buf := make([]byte, 16+32)
	copy(buf, id[:])
	if _, err := rand.Read(buf[16:]); err != nil {
		return "", nil, fmt.Errorf("read random: %w", err)
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(buf)
	h := sha256.Sum256([]byte(token))
	return token, h[:], nil
}

// parseToken returns the tenant a token of the given kind claims and the
// token's hash.
func parseToken(prefix, token string) (tenant.ID, []byte, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(rest) != 64 {
		return "", nil, false
	}
	buf, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(buf) != 48 {
		return "", nil, false
	}
	id, err := uuid.FromBytes(buf[:16])
	if err != nil {
		return "", nil, false
	}
	h := sha256.Sum256([]byte(token))
	return tenant.ID(id.String()), h[:], true
}

// Principal is an authenticated request's actor with its session facts.
type Principal struct {
	Actor   tenant.Actor
	User    User
	Session Session
	Token   APIToken // set when an API token authenticated
	// Tenant is the principal's tenant, read in the same transaction, so
	// handlers need not fetch it again.
	Tenant             tenant.Tenant
	MustChangePassword bool
	// MustEnrolMFA is set while the tenant requires two-step sign-in and
	// the user has no authenticator yet: only enrolment is allowed.
	MustEnrolMFA bool
}

// touchInterval limits last-seen writes to one a minute per session.
const touchInterval = time.Minute

// Authenticate resolves a bearer token. Revoked, idle, expired and
// malformed tokens, and tokens of deactivated users, all answer
// unauthenticated.
func (s *Service) Authenticate(ctx context.Context, token, ip, userAgent, requestID string) (Principal, error) {
	tid, hash, ok := parseToken(tokenPrefix, token)
	if !ok {
		return Principal{}, apperr.Unauthenticated()
	}
	now := s.now().UTC()
	var p Principal
	var sc SessionConfig
	err := s.store.ReadTx(ctx, tid, func(ctx context.Context) error {
		sess, err := s.store.SessionByTokenHash(ctx, tid, hash)
		if err != nil {
			return err
		}
		t, err := s.liveTenant(ctx, tid)
		if err != nil {
			return err
		}
		u, err := s.store.User(ctx, tid, sess.UserID)
		if err != nil {
			return err
		}
		// Timeouts follow the tenant's current settings, so shortening
		// them applies to live sessions too.
		st, err := s.effectiveSettings(ctx, tid)
		if err != nil {
			return err
		}
		sc = s.sessionLifetimes(st)
		p = Principal{User: u, Session: sess, Tenant: t, MustChangePassword: st.MustChangePassword(u, now)}
		if st.MFARequired {
			// Only while the tenant requires it does each request pay
			// for this look-up.
			enrolled, err := s.hasAuthenticator(ctx, tid, u.ID)
			if err != nil {
				return err
			}
			p.MustEnrolMFA = !enrolled
		}
		return nil
	})
	if err != nil {
		if apperr.Is(err, apperr.KindNotFound) {
			return Principal{}, apperr.Unauthenticated()
		}
		return Principal{}, err
	}
	sess := p.Session
	end := sess.ExpiresAt
	if e := sess.CreatedAt.Add(sc.AbsoluteTimeout); e.Before(end) {
		end = e
	}
	if sess.RevokedAt != nil || !now.Before(end) || now.Sub(sess.LastSeenAt) >= sc.IdleTimeout ||
		p.User.Status != StatusActive {
		return Principal{}, apperr.Unauthenticated()
	}
	if now.Sub(sess.LastSeenAt) >= touchInterval {
		if err := s.store.TouchSession(ctx, tid, sess.ID, now); err != nil {
			return Principal{}, err
		}
	}
	p.Actor = tenant.Actor{
		Kind: tenant.ActorUser, TenantID: tid, UserID: p.User.ID, Name: p.User.Name, Role: p.User.Role,
		SessionID: sess.ID, IP: ip, UserAgent: truncate(userAgent, 512), RequestID: requestID,
	}
	return p, nil
}

// liveTenant returns the tenant of a credential being checked. A
// suspended tenant's sessions and tokens stop at once, like a deactivated
// user's.
func (s *Service) liveTenant(ctx context.Context, tid tenant.ID) (tenant.Tenant, error) {
	t, err := s.store.Tenant(ctx, tid)
	if err != nil {
		return tenant.Tenant{}, err
	}
	if t.Status != tenant.StatusActive {
		return tenant.Tenant{}, apperr.Unauthenticated()
	}
	return t, nil
}

// Logout revokes the actor's current session.
func (s *Service) Logout(ctx context.Context, actor tenant.Actor) error {
	now := s.now().UTC()
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.RevokeSession(ctx, actor.TenantID, actor.SessionID, now); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, audit.New(actor, now, audit.ActionLogout, "user", actor.UserID, actor.Name))
	})
}

// ChangePassword replaces the actor's own password after checking the
// current one; it ends every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, actor tenant.Actor, current, next string) error {
	if current == "" || next == "" {
		return apperr.Invalid("current_password and new_password are required")
	}
	if len(current) > MaxPasswordBytes {
		return apperr.InvalidCredentials()
	}
	now := s.now().UTC()
	u, err := s.store.User(ctx, actor.TenantID, actor.UserID)
	if err != nil {
		return err
	}
	if !s.hasher.Verify(u.PasswordHash, current) {
		return apperr.InvalidCredentials()
	}
	if err := s.validateNewPassword(ctx, actor.TenantID, u, next); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(next)
	if err != nil {
		return apperr.Internal(err)
	}
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		cur, err := s.relockVerified(ctx, actor.TenantID, u)
		if err != nil {
			return err
		}
		u = cur
		if err := s.rememberPassword(ctx, actor.TenantID, u, now); err != nil {
			return err
		}
		u.PasswordHash, u.MustChangePassword, u.PasswordChangedAt, u.UpdatedAt = hash, false, now, now
		if err := s.store.UpdateUser(ctx, actor.TenantID, u); err != nil {
			return err
		}
		// The session that made the change stays: its user just proved
		// they know the new password.
		if _, err := s.store.RevokeUserSessions(ctx, actor.TenantID, u.ID, actor.SessionID, now); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, audit.New(actor, now, audit.ActionPasswordChanged, "user", u.ID, u.Login()))
	})
}

// UserInput is what an admin sets on a user.
type UserInput struct {
	Email *string
	Phone *string
	Name  *string
	Role  *string
}

func (s *Service) applyInput(u *User, in UserInput) error {
	bad := map[string]string{}
	if in.Email != nil {
		if *in.Email == "" {
			u.Email = ""
		} else if e, ok := NormalizeEmail(*in.Email); ok {
			u.Email = e
		} else {
			bad["email"] = "not a valid e-mail address"
		}
	}
	if in.Phone != nil {
		if *in.Phone == "" {
			u.Phone = ""
		} else if p, ok := NormalizePhone(*in.Phone); ok {
			u.Phone = p
		} else {
			bad["phone"] = "not a valid phone number"
		}
	}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" || utf8.RuneCountInString(name) > 100 {
			bad["name"] = "required, at most 100 characters"
		} else if printable(name) != name {
			bad["name"] = "must not contain control characters"
		}
		u.Name = name
	}
	if in.Role != nil {
		if !access.ValidRole(*in.Role) {
			bad["role"] = "must be one of " + strings.Join(access.Roles, ", ")
		}
		u.Role = *in.Role
	}
	if len(bad) == 0 && u.Email == "" && u.Phone == "" {
		bad["email"] = "an e-mail address or a phone number is required"
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad)
	}
	return nil
}

// NewUser is a user just created, with the one-time password shown once.
type NewUser struct {
	User            User
	OneTimePassword string
}

// CreateUser adds a user with a one-time password (admins only).
func (s *Service) CreateUser(ctx context.Context, actor tenant.Actor, in UserInput) (NewUser, error) {
	if !access.CanManageUsers(actor) {
		return NewUser{}, apperr.Forbidden()
	}
	return s.createUser(ctx, actor, in)
}

// CreateFirstAdmin adds a tenant's first administrator inside the caller's
// transaction; only tenant provisioning calls it.
func (s *Service) CreateFirstAdmin(ctx context.Context, actor tenant.Actor, email, phone, name string) (NewUser, error) {
	role := access.RoleAdmin
	in := UserInput{Email: &email, Phone: &phone, Name: &name, Role: &role}
	return s.createUser(ctx, actor, in)
}

func (s *Service) createUser(ctx context.Context, actor tenant.Actor, in UserInput) (NewUser, error) {
	if in.Name == nil || in.Role == nil {
		return NewUser{}, apperr.InvalidFields(map[string]string{"name": "required", "role": "required"})
	}
	now := s.now().UTC()
	u := User{ID: tenant.NewID(), Status: StatusActive, MustChangePassword: true, PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := s.applyInput(&u, in); err != nil {
		return NewUser{}, err
	}
	otp, err := OneTimePassword()
	if err != nil {
		return NewUser{}, apperr.Internal(err)
	}
	if u.PasswordHash, err = s.hasher.Hash(otp); err != nil {
		return NewUser{}, apperr.Internal(err)
	}
	err = s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.InsertUser(ctx, actor.TenantID, u); err != nil {
			return userConflict(err)
		}
		ev := audit.New(actor, now, audit.ActionUserCreated, "user", u.ID, u.Name)
		ev.Changes = audit.Diff(nil, userAuditFields(u))
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return NewUser{}, err
	}
	return NewUser{User: u, OneTimePassword: otp}, nil
}

func userConflict(err error) error {
	if apperr.Is(err, apperr.KindConflict) {
		return apperr.Conflict("another user already has this e-mail address or phone number")
	}
	return err
}

func userAuditFields(u User) map[string]any {
	m := map[string]any{"name": u.Name, "role": u.Role, "status": string(u.Status)}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if u.Phone != "" {
		m["phone"] = u.Phone
	}
	return m
}

// User returns one user. Admins and managers see everyone; others only
// themselves.
func (s *Service) User(ctx context.Context, actor tenant.Actor, id string) (User, error) {
	if !tenant.ValidID(id) {
		return User{}, apperr.NotFound("user")
	}
	if id != actor.UserID && !access.CanListUsers(actor) {
		return User{}, apperr.NotFound("user")
	}
	return s.store.User(ctx, actor.TenantID, id)
}

// Users lists users by ID; after is the last ID of the previous page.
func (s *Service) Users(ctx context.Context, actor tenant.Actor, after string, limit int) ([]User, string, error) {
	if !access.CanListUsers(actor) {
		return nil, "", apperr.Forbidden()
	}
	if after != "" && !tenant.ValidID(after) {
		return nil, "", apperr.Invalid("invalid cursor")
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	users, err := s.store.Users(ctx, actor.TenantID, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = users[limit-1].ID
	}
	return users, next, nil
}

// UpdateUser changes a user's profile or role (admins only). The last
// active admin cannot lose the admin role.
func (s *Service) UpdateUser(ctx context.Context, actor tenant.Actor, id string, in UserInput) (User, error) {
	if !access.CanManageUsers(actor) {
		return User{}, apperr.Forbidden()
	}
	now := s.now().UTC()
	var out User
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		u, err := s.lookup(ctx, actor.TenantID, id)
		if err != nil {
			return err
		}
		before := userAuditFields(u)
		wasAdmin := u.Role == access.RoleAdmin && u.Status == StatusActive
		if err := s.applyInput(&u, in); err != nil {
			return err
		}
		if wasAdmin && u.Role != access.RoleAdmin {
			if err := s.keepOneAdmin(ctx, actor.TenantID); err != nil {
				return err
			}
		}
		u.UpdatedAt = now
		if err := s.store.UpdateUser(ctx, actor.TenantID, u); err != nil {
			return userConflict(err)
		}
		changes := audit.Diff(before, userAuditFields(u))
		if len(changes) > 0 {
			ev := audit.New(actor, now, audit.ActionUserUpdated, "user", u.ID, u.Name)
			ev.Changes = changes
			if err := s.store.AppendAudit(ctx, ev); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	return out, err
}

func (s *Service) lookup(ctx context.Context, tid tenant.ID, id string) (User, error) {
	if !tenant.ValidID(id) {
		return User{}, apperr.NotFound("user")
	}
	return s.store.User(ctx, tid, id)
}

func (s *Service) keepOneAdmin(ctx context.Context, tid tenant.ID) error {
	n, err := s.store.CountActiveAdmins(ctx, tid)
	if err != nil {
		return err
	}
	if n <= 1 {
		return apperr.Conflict("the tenant must keep at least one active admin")
	}
	return nil
}

// Deactivate disables a user and ends all their sessions at once.
func (s *Service) Deactivate(ctx context.Context, actor tenant.Actor, id string) (User, error) {
	if !access.CanManageUsers(actor) {
		return User{}, apperr.Forbidden()
	}
	if id == actor.UserID {
		return User{}, apperr.Conflict("you cannot deactivate yourself")
	}
	now := s.now().UTC()
	var out User
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		u, err := s.lookup(ctx, actor.TenantID, id)
		if err != nil {
			return err
		}
		if u.Status == StatusDeactivated {
			out = u
			return nil
		}
		if u.Role == access.RoleAdmin {
			if err := s.keepOneAdmin(ctx, actor.TenantID); err != nil {
				return err
			}
		}
		before := userAuditFields(u)
		u.Status, u.UpdatedAt = StatusDeactivated, now
		if err := s.store.UpdateUser(ctx, actor.TenantID, u); err != nil {
			return err
		}
		n, err := s.store.RevokeUserSessions(ctx, actor.TenantID, u.ID, "", now)
		if err != nil {
			return err
		}
		ev := audit.New(actor, now, audit.ActionUserDeactivated, "user", u.ID, u.Name)
		ev.Changes = audit.Diff(before, userAuditFields(u))
		ev.Changes["sessions_revoked"] = audit.Change{After: n}
		out = u
		return s.store.AppendAudit(ctx, ev)
	})
	return out, err
}

// ResetPassword gives a user a new one-time password (admins only) and
// ends all their sessions.
func (s *Service) ResetPassword(ctx context.Context, actor tenant.Actor, id string) (string, error) {
	if !access.CanManageUsers(actor) {
		return "", apperr.Forbidden()
	}
	otp, err := OneTimePassword()
	if err != nil {
		return "", apperr.Internal(err)
	}
	hash, err := s.hasher.Hash(otp)
	if err != nil {
		return "", apperr.Internal(err)
	}
	now := s.now().UTC()
	err = s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		u, err := s.lookup(ctx, actor.TenantID, id)
		if err != nil {
			return err
		}
		if err := s.rememberPassword(ctx, actor.TenantID, u, now); err != nil {
			return err
		}
		u.PasswordHash, u.MustChangePassword, u.PasswordChangedAt, u.UpdatedAt = hash, true, now, now
		if err := s.store.UpdateUser(ctx, actor.TenantID, u); err != nil {
			return err
		}
		if _, err := s.store.RevokeUserSessions(ctx, actor.TenantID, u.ID, "", now); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, audit.New(actor, now, audit.ActionPasswordReset, "user", u.ID, u.Name))
	})
	if err != nil {
		return "", err
	}
	return otp, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// printable drops invalid UTF-8 and control characters.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}
