package identity

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity/commonpw"
	"github.com/havencrm/haven/tenant"
)

// MaxPasswordHistory is how many replaced password hashes are kept per
// user: the upper bound of the password_history setting.
const MaxPasswordHistory = 24

// Password policy violation codes: stable machine names a client can
// translate; the human text travels beside them.
const (
	ViolationMinLength     = "min_length"     // fewer runes than password_min_length
	ViolationMaxLength     = "max_length"     // more runes than password_max_length
	ViolationMaxBytes      = "max_bytes"      // more than MaxPasswordBytes bytes
	ViolationInvalidText   = "invalid_text"   // invalid UTF-8 or control characters
	ViolationClasses       = "classes"        // fewer character classes than password_classes
	ViolationContainsLogin = "contains_login" // contains the e-mail's local part or the phone number
	ViolationContainsName  = "contains_name"  // contains the user's name or a part of it
	ViolationCommon        = "common"         // on the list of common passwords
	ViolationReused        = "reused"         // the current or one of the last password_history passwords
)

// Violation is one password rule a proposed password breaks.
type Violation struct {
	Code    string
	Message string // English
}

// PasswordPolicyError is the password_policy error listing every
// violation: details.violations holds the codes, details.messages the
// English text, in the same order, and details.policy the numbers of the
// rules in force (min_length, max_length, max_bytes, classes, history,
// check_common), so that a client can word the codes itself.
func (s SecuritySettings) PasswordPolicyError(vs []Violation) *apperr.Error {
	codes := make([]string, len(vs))
	msgs := make([]string, len(vs))
	for i, v := range vs {
		codes[i], msgs[i] = v.Code, v.Message
	}
	policy := map[string]any{
		"min_length": max(s.PasswordMinLength, 8), "max_length": s.PasswordMaxLength, "max_bytes": MaxPasswordBytes,
		"classes": s.PasswordClasses, "history": s.PasswordHistory, "check_common": s.PasswordCheckCommon,
	}
	return apperr.PasswordPolicy(codes).WithDetail("messages", msgs).WithDetail("policy", policy)
}

// SettingsSource gives the identity service a tenant's effective security
// settings (the server wires *Settings).
type SettingsSource interface {
	Effective(ctx context.Context, tid tenant.ID) (SecuritySettings, error)
}

// SetSettings makes the service apply each tenant's security settings;
// without a source (or after SetSettings(nil)) every tenant gets
// DefaultSecuritySettings.
func (s *Service) SetSettings(src SettingsSource) { s.settings = src }

// effectiveSettings returns the tenant's settings.
func (s *Service) effectiveSettings(ctx context.Context, tid tenant.ID) (SecuritySettings, error) {
	if s.settings == nil {
		return DefaultSecuritySettings(), nil
	}
	return s.settings.Effective(ctx, tid)
}

// PasswordHistoryStore keeps the hashes of replaced passwords.
type PasswordHistoryStore interface {
	// AddPasswordHistory records a replaced hash and keeps the newest keep.
	AddPasswordHistory(ctx context.Context, tenantID tenant.ID, userID, hash string, replacedAt time.Time, keep int) error
	// PasswordHistory returns up to limit hashes, newest first.
	PasswordHistory(ctx context.Context, tenantID tenant.ID, userID string, limit int) ([]string, error)
}

// validateNewPassword checks a password about to be set for u against the
// tenant's policy and returns a password_policy error listing every rule
// it breaks, including reuse of the current password or one of the last
// password_history ones. Every path that sets a password calls it.
func (s *Service) validateNewPassword(ctx context.Context, tid tenant.ID, u User, password string) error {
	st, err := s.effectiveSettings(ctx, tid)
	if err != nil {
		return err
	}
	vs := st.CheckPassword(password, u)
	reused, err := s.reusesPassword(ctx, tid, u, password, st.PasswordHistory)
	if err != nil {
		return err
	}
	if reused {
		vs = append(vs, reusedViolation(st.PasswordHistory))
	}
	if len(vs) > 0 {
		return st.PasswordPolicyError(vs)
	}
	return nil
}

func reusedViolation(history int) Violation {
	msg := "must differ from your current password"
	if history == 1 {
		msg = "must differ from your current and previous password"
	} else if history > 1 {
		msg = fmt.Sprintf("must differ from your current password and your last %d passwords", history)
	}
	return Violation{ViolationReused, msg}
}

// reusesPassword reports whether password verifies against u's current
// hash or one of the last history replaced hashes.
func (s *Service) reusesPassword(ctx context.Context, tid tenant.ID, u User, password string, history int) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, nil // no stored password is that long; spare the hashing
	}
	if u.PasswordHash != "" && s.hasher.Verify(u.PasswordHash, password) {
		return true, nil
	}
	if history <= 0 || u.ID == "" {
		return false, nil
	}
	old, err := s.store.PasswordHistory(ctx, tid, u.ID, min(history, MaxPasswordHistory))
	if err != nil {
		return false, err
	}
	for _, h := range old {
		if s.hasher.Verify(h, password) {
			return true, nil
		}
	}
	return false, nil
}

// rememberPassword records u's password hash in the history just before
// it is replaced, inside the caller's write transaction. One-time
// passwords (MustChangePassword) are not remembered: they were never the
// user's choice and would push real ones out of the history.
func (s *Service) rememberPassword(ctx context.Context, tid tenant.ID, u User, now time.Time) error {
	if u.MustChangePassword || u.PasswordHash == "" {
		return nil
	}
	return s.store.AddPasswordHistory(ctx, tid, u.ID, u.PasswordHash, now, MaxPasswordHistory)
}

// PasswordExpired reports whether a password set at changedAt has
// outlived password_expiry_days at now.
func (s SecuritySettings) PasswordExpired(changedAt, now time.Time) bool {
	if s.PasswordExpiryDays <= 0 {
		return false
	}
	return !now.Before(changedAt.Add(time.Duration(s.PasswordExpiryDays) * 24 * time.Hour))
}

// MustChangePassword reports whether u, under these settings, must change
// their password before anything else: a one-time password, or one past
// password_expiry_days.
func (s SecuritySettings) MustChangePassword(u User, now time.Time) bool {
	return u.MustChangePassword || s.PasswordExpired(u.PasswordChangedAt, now)
}

// Character classes counted by password_classes.
const (
	ClassLower  = "lower"
	ClassUpper  = "upper"
	ClassDigit  = "digit"
	ClassSymbol = "symbol" // anything else: punctuation, spaces, CJK and other scripts
)

// PasswordClasses returns which of the four classes password contains.
// Lower and upper are the Unicode categories Ll and Lu, digits Nd.
func PasswordClasses(password string) map[string]bool {
	out := map[string]bool{}
	for _, r := range password {
		switch {
		case unicode.IsLower(r):
			out[ClassLower] = true
		case unicode.IsUpper(r):
			out[ClassUpper] = true
		case unicode.IsDigit(r):
			out[ClassDigit] = true
		default:
			out[ClassSymbol] = true
		}
	}
	return out
}

// CheckPassword returns every rule of these settings that password, as a
// new password for u, breaks, apart from reuse (which needs the stored
// hashes; see Service.validateNewPassword).
func (s SecuritySettings) CheckPassword(password string, u User) []Violation {
	var vs []Violation
	n := utf8.RuneCountInString(password)
	minLen := max(s.PasswordMinLength, 8)
	if n < minLen {
		vs = append(vs, Violation{ViolationMinLength, fmt.Sprintf("at least %d characters", minLen)})
	}
	if s.PasswordMaxLength > 0 && n > s.PasswordMaxLength {
		vs = append(vs, Violation{ViolationMaxLength, fmt.Sprintf("at most %d characters", s.PasswordMaxLength)})
	}
	if len(password) > MaxPasswordBytes {
		vs = append(vs, Violation{ViolationMaxBytes, fmt.Sprintf("at most %d bytes", MaxPasswordBytes)})
	}
	if !utf8.ValidString(password) || strings.ContainsFunc(password, unicode.IsControl) {
		vs = append(vs, Violation{ViolationInvalidText, "only valid text, without control characters"})
	}
	if s.PasswordClasses > 0 && len(PasswordClasses(password)) < s.PasswordClasses {
		vs = append(vs, Violation{ViolationClasses, fmt.Sprintf(
			"at least %d of these 4 kinds of character: lower-case letters, upper-case letters, digits, symbols", s.PasswordClasses)})
	}
	lower := strings.ToLower(password)
	login, name := ForbiddenParts(u)
	if containsAny(lower, login) {
		vs = append(vs, Violation{ViolationContainsLogin, "must not contain your login"})
	}
	if containsAny(lower, name) {
		vs = append(vs, Violation{ViolationContainsName, "must not contain your name"})
	}
	if s.PasswordCheckCommon && commonpw.Default().Contains(password) {
		vs = append(vs, Violation{ViolationCommon, "must not be a commonly used password"})
	}
	return vs
}

func containsAny(s string, parts []string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// minPartRunes is the shortest login or name part a password may not
// contain; shorter ones (a surname like "Li") would forbid too much.
const minPartRunes = 3

// ForbiddenParts returns the lower-case strings a password of u may not
// contain: from the login, the e-mail's local part and its pieces
// (split at . _ - +), the phone number's digits and its last 8 digits;
// from the name, the whole name, the name without spaces and each word.
// Parts shorter than 3 characters are left out.
func ForbiddenParts(u User) (login, name []string) {
	add := func(list []string, s string) []string {
		s = strings.ToLower(strings.TrimSpace(s))
		if utf8.RuneCountInString(s) < minPartRunes {
			return list
		}
		for _, have := range list {
			if have == s {
				return list
			}
		}
		return append(list, s)
	}
	if u.Email != "" {
		local, _, _ := strings.Cut(u.Email, "@")
		login = add(login, local)
		for _, p := range strings.FieldsFunc(local, func(r rune) bool { return strings.ContainsRune("._-+", r) }) {
			login = add(login, p)
		}
	}
	if u.Phone != "" {
		digits := strings.TrimPrefix(u.Phone, "+")
		login = add(login, digits)
		if len(digits) > 8 {
			login = add(login, digits[len(digits)-8:])
		}
	}
	if u.Name != "" {
		name = add(name, u.Name)
		name = add(name, strings.Join(strings.Fields(u.Name), ""))
		for _, p := range strings.FieldsFunc(u.Name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }) {
			name = add(name, p)
		}
	}
	return login, name
}
