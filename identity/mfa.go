package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/tenant"
)

// Audit actions of multi-factor authentication.
const (
	ActionMFAEnabled          = "mfa.enable"
	ActionMFADisabled         = "mfa.disable"
	ActionMFAReset            = "mfa.reset"
	ActionMFARecoveryCodeUsed = "mfa.recovery_code_used"
)

const (
	totpPeriod        = 30
	totpDigits        = otp.DigitsSix
	recoveryCodeCount = 10
	// enrolmentLifetime bounds how long an unconfirmed secret may be confirmed.
	enrolmentLifetime = 15 * time.Minute
)

// TOTPEnrolment is a user's RFC 6238 authenticator.
type TOTPEnrolment struct {
	UserID      string
	Secret      string // base32
	CreatedAt   time.Time
	ConfirmedAt *time.Time // nil until the user proved the authenticator works
	LastStep    int64      // the last time step accepted, against replay
}

// MFAStore persists authenticators and recovery codes.
type MFAStore interface {
	TOTP(ctx context.Context, tenantID tenant.ID, userID string) (TOTPEnrolment, error)
	PutTOTP(ctx context.Context, tenantID tenant.ID, e TOTPEnrolment) error
	AdvanceTOTPStep(ctx context.Context, tenantID tenant.ID, userID string, step int64) (bool, error)
	DeleteMFA(ctx context.Context, tenantID tenant.ID, userID string) error
	ReplaceRecoveryCodes(ctx context.Context, tenantID tenant.ID, userID string, hashes [][]byte, at time.Time) error
	UseRecoveryCode(ctx context.Context, tenantID tenant.ID, userID string, hash []byte, at time.Time) (bool, error)
	UnusedRecoveryCodes(ctx context.Context, tenantID tenant.ID, userID string) (int, error)
}

// MFAStatus says whether a user has an authenticator.
type MFAStatus struct {
	Enabled            bool
	RecoveryCodesLeft  int
	RequiredByTenant   bool
	PendingEnrolment   bool
	EnabledAt          *time.Time
	PendingEnrolmentAt *time.Time
}

// TOTPSetup is a started enrolment: the secret as text, URL and QR code.
type TOTPSetup struct {
	Secret  string
	URL     string // otpauth://totp/...
	QRCode  []byte // PNG
	Expires time.Time
}

// MFA returns a user's multi-factor status: your own, or anyone's as an admin.
func (s *Service) MFA(ctx context.Context, actor tenant.Actor, userID string) (MFAStatus, error) {
	if userID != actor.UserID && !access.CanManageUsers(actor) {
		return MFAStatus{}, apperr.NotFound("user")
	}
	if _, err := s.lookup(ctx, actor.TenantID, userID); err != nil {
		return MFAStatus{}, err
	}
	st := MFAStatus{}
	settings, err := s.effectiveSettings(ctx, actor.TenantID)
	if err != nil {
		return MFAStatus{}, err
	}
	st.RequiredByTenant = settings.MFARequired
	e, err := s.totp(ctx, actor.TenantID, userID)
	switch {
	case apperr.Is(err, apperr.KindNotFound):
		return st, nil
	case err != nil:
		return MFAStatus{}, err
	}
	if e.ConfirmedAt != nil {
		st.Enabled, st.EnabledAt = true, e.ConfirmedAt
		if st.RecoveryCodesLeft, err = s.store.UnusedRecoveryCodes(ctx, actor.TenantID, userID); err != nil {
			return MFAStatus{}, err
		}
	} else {
		st.PendingEnrolment, st.PendingEnrolmentAt = true, &e.CreatedAt
	}
	return st, nil
}

// BeginTOTP starts enrolling an authenticator for the actor. An enabled
// authenticator must be disabled first, so a stolen session cannot
// silently replace it.
func (s *Service) BeginTOTP(ctx context.Context, actor tenant.Actor, tenantSlug string) (TOTPSetup, error) {
	if err := sessionOnly(actor); err != nil {
		return TOTPSetup{}, err
	}
	u, err := s.store.User(ctx, actor.TenantID, actor.UserID)
	if err != nil {
		return TOTPSetup{}, err
	}
	now := s.now().UTC()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Haven (" + tenantSlug + ")", AccountName: u.Login(), Period: totpPeriod,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return TOTPSetup{}, apperr.Internal(err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return TOTPSetup{}, apperr.Internal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPSetup{}, apperr.Internal(err)
	}
	err = s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		cur, err := s.totp(ctx, actor.TenantID, u.ID)
		if err == nil && cur.ConfirmedAt != nil {
			return apperr.Conflict("an authenticator is already enabled; disable it first")
		}
		if err != nil && !apperr.Is(err, apperr.KindNotFound) {
			return err
		}
		return s.putTOTP(ctx, actor.TenantID, TOTPEnrolment{UserID: u.ID, Secret: key.Secret(), CreatedAt: now})
	})
	if err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: key.Secret(), URL: key.URL(), QRCode: buf.Bytes(), Expires: now.Add(enrolmentLifetime)}, nil
}

// ConfirmTOTP enables the pending authenticator once the user shows a
// code from it, and returns fresh recovery codes, shown only now.
func (s *Service) ConfirmTOTP(ctx context.Context, actor tenant.Actor, code string) ([]string, error) {
	if err := sessionOnly(actor); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	codes, hashes, err := newRecoveryCodes(actor.TenantID, actor.UserID)
	if err != nil {
		return nil, apperr.Internal(err)
	}
	err = s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		e, err := s.totp(ctx, actor.TenantID, actor.UserID)
		if apperr.Is(err, apperr.KindNotFound) || (err == nil && (e.ConfirmedAt != nil || now.Sub(e.CreatedAt) > enrolmentLifetime)) {
			return apperr.Conflict("no authenticator is waiting for confirmation; start again")
		}
		if err != nil {
			return err
		}
		step, ok := matchTOTP(e.Secret, code, now)
		if !ok {
			return apperr.InvalidFields(map[string]string{"code": "does not match the authenticator; check the phone's clock"})
		}
		e.ConfirmedAt, e.LastStep = &now, step
		if err := s.putTOTP(ctx, actor.TenantID, e); err != nil {
			return err
		}
		if err := s.store.ReplaceRecoveryCodes(ctx, actor.TenantID, actor.UserID, hashes, now); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, audit.New(actor, now, ActionMFAEnabled, "user", actor.UserID, actor.Name))
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP removes the actor's authenticator after re-checking their
// password; a tenant that requires MFA will ask them to enrol again.
func (s *Service) DisableTOTP(ctx context.Context, actor tenant.Actor, password string) error {
	if err := sessionOnly(actor); err != nil {
		return err
	}
	u, err := s.store.User(ctx, actor.TenantID, actor.UserID)
	if err != nil {
		return err
	}
	if len(password) > MaxPasswordBytes || !s.hasher.Verify(u.PasswordHash, password) {
		return apperr.InvalidCredentials()
	}
	now := s.now().UTC()
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.DeleteMFA(ctx, actor.TenantID, u.ID); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, audit.New(actor, now, ActionMFADisabled, "user", u.ID, u.Name))
	})
}

// ResetMFA removes another user's authenticator (admins), e.g. after a
// lost phone; the user's sessions end so the next sign-in enrols again.
func (s *Service) ResetMFA(ctx context.Context, actor tenant.Actor, userID string) error {
	if !access.CanManageUsers(actor) {
		return apperr.Forbidden()
	}
	if err := sessionOnly(actor); err != nil {
		return err
	}
	now := s.now().UTC()
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		u, err := s.lookup(ctx, actor.TenantID, userID)
		if err != nil {
			return err
		}
		if err := s.store.DeleteMFA(ctx, actor.TenantID, u.ID); err != nil {
			return err
		}
		if _, err := s.store.RevokeUserSessions(ctx, actor.TenantID, u.ID, "", now); err != nil {
			return err
		}
		return s.store.AppendAudit(ctx, audit.New(actor, now, ActionMFAReset, "user", u.ID, u.Name))
	})
}

// secondFactor checks the code given at login for a user with an enabled
// authenticator: a current TOTP code (each time step accepted once) or an
// unused recovery code. It reports whether the user has an authenticator.
func (s *Service) secondFactor(ctx context.Context, actor tenant.Actor, u User, code string, now time.Time) (enrolled bool, err error) {
	e, err := s.totp(ctx, actor.TenantID, u.ID)
	if apperr.Is(err, apperr.KindNotFound) || (err == nil && e.ConfirmedAt == nil) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return true, apperr.MFARequired()
	}
	if step, ok := matchTOTP(e.Secret, code, now); ok {
		fresh, err := s.store.AdvanceTOTPStep(ctx, actor.TenantID, u.ID, step)
		if err != nil {
			return true, err
		}
		if fresh {
			return true, nil
		}
		return true, apperr.InvalidCredentials() // a replayed code
	}
	used, err := s.store.UseRecoveryCode(ctx, actor.TenantID, u.ID, recoveryCodeHash(actor.TenantID, u.ID, code), now)
	if err != nil {
		return true, err
	}
	if !used {
		return true, apperr.InvalidCredentials()
	}
	ev := audit.New(actor, now, ActionMFARecoveryCodeUsed, "user", u.ID, u.Login())
	if err := s.store.AppendAudit(ctx, ev); err != nil {
		return true, err
	}
	return true, nil
}

// hasAuthenticator reports whether the user has a confirmed authenticator.
func (s *Service) hasAuthenticator(ctx context.Context, tid tenant.ID, userID string) (bool, error) {
	e, err := s.totp(ctx, tid, userID)
	if apperr.Is(err, apperr.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return e.ConfirmedAt != nil, nil
}

// matchTOTP accepts a code of the current time step or one step either
// side (clock drift), comparing in constant time, and returns its step.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	match, matched := int64(0), 0
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			match, matched = step, 1
		}
	}
	return match, matched == 1
}

const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// newRecoveryCodes returns codes like "k7m2p-x9qrt" (about 49 bits each)
// and their hashes; only the hashes are stored.
func newRecoveryCodes(tid tenant.ID, userID string) ([]string, [][]byte, error) {
	codes := make([]string, recoveryCodeCount)
	hashes := make([][]byte, recoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		out := make([]byte, 0, 11)
		for j, c := range b {
			if j == 5 {
				out = append(out, '-')
			}
			out = append(out, recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		codes[i] = string(out)
		hashes[i] = recoveryCodeHash(tid, userID, codes[i])
	}
	return codes, hashes, nil
}

// recoveryCodeHash binds a code to its user, so a hash copied to another
// user's row matches nothing. Codes carry ~49 random bits and die on use,
// so a fast hash is enough.
func recoveryCodeHash(tid tenant.ID, userID, code string) []byte {
	norm := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	h := sha256.Sum256([]byte("haven-mfa-recovery\x00" + string(tid) + "\x00" + userID + "\x00" + norm))
	return h[:]
}

// QRDataURI renders a PNG as a data: URI for an <img>.
func QRDataURI(pngBytes []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)
}

// SetKeys makes the service seal TOTP secrets with the tenant's data key,
// so a copy of the database alone does not yield second factors.
func (s *Service) SetKeys(keys fieldcrypt.KeySource) { s.keys = keys }

func totpBinding(tid tenant.ID, userID string) fieldcrypt.Binding {
	return fieldcrypt.Binding{Tenant: tid, Object: "user", RecordID: userID, Field: "totp_secret"}
}

// totp reads an enrolment and opens its secret. Secrets stored before
// sealing was introduced (base32, never an envelope) are used as they are.
func (s *Service) totp(ctx context.Context, tid tenant.ID, userID string) (TOTPEnrolment, error) {
	e, err := s.store.TOTP(ctx, tid, userID)
	if err != nil || !fieldcrypt.IsEnvelope(e.Secret) {
		return e, err
	}
	if s.keys == nil {
		return TOTPEnrolment{}, apperr.Internal(errors.New("identity: sealed TOTP secret without a keyring"))
	}
	pt, err := fieldcrypt.Decrypt(ctx, s.keys, totpBinding(tid, userID), e.Secret)
	if err != nil {
		return TOTPEnrolment{}, apperr.Internal(fmt.Errorf("identity: open TOTP secret of user %s: %w", userID, err))
	}
	e.Secret = string(pt)
	return e, nil
}

// putTOTP stores an enrolment with its secret sealed.
func (s *Service) putTOTP(ctx context.Context, tid tenant.ID, e TOTPEnrolment) error {
	if s.keys != nil {
		sealed, err := fieldcrypt.Encrypt(ctx, s.keys, totpBinding(tid, e.UserID), []byte(e.Secret))
		if err != nil {
			return fmt.Errorf("identity: seal TOTP secret: %w", err)
		}
		e.Secret = sealed
	}
	return s.store.PutTOTP(ctx, tid, e)
}
