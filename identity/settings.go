package identity

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Presets of the security settings.
const (
	PresetMLPS3  = "mlps3"  // China MLPS level 3 (等保三级) practice
	PresetNIST   = "nist"   // NIST SP 800-63B
	PresetCustom = "custom" // every value chosen by the admin
)

// SecuritySettings are a tenant's login-protection rules.
type SecuritySettings struct {
	Preset string `json:"preset"`

	PasswordMinLength int `json:"password_min_length"`
	PasswordMaxLength int `json:"password_max_length"`
	// PasswordClasses is how many of the four character classes (lower,
	// upper, digit, symbol) a password must contain.
	PasswordClasses     int  `json:"password_classes"`
	PasswordExpiryDays  int  `json:"password_expiry_days"` // 0: never expires
	PasswordHistory     int  `json:"password_history"`     // earlier passwords that may not be reused
	PasswordCheckCommon bool `json:"password_check_common"`

	// LockoutThreshold failures lock the account; 0 never locks.
	LockoutThreshold int `json:"lockout_threshold"`
	// LockoutMinutes is how long a lock lasts; 0 until an admin unlocks.
	LockoutMinutes int `json:"lockout_minutes"`
	// CaptchaAfter failures on an account demand a CAPTCHA.
	CaptchaAfter int `json:"captcha_after"`
	// IPCaptchaAfter failures from one IP address across accounts within
	// an hour demand a CAPTCHA from that address.
	IPCaptchaAfter int `json:"ip_captcha_after"`

	SessionIdleMinutes int `json:"session_idle_minutes"`
	SessionMaxHours    int `json:"session_max_hours"`
	MaxSessions        int `json:"max_sessions"` // per user; 0: unlimited

	MFARequired   bool     `json:"mfa_required"`
	LoginIPRanges []string `json:"login_ip_ranges"` // CIDR; empty: anywhere
}

// PresetSettings returns the values a preset stands for.
func PresetSettings(preset string) (SecuritySettings, bool) {
	switch preset {
	case PresetMLPS3:
		return SecuritySettings{
			Preset: PresetMLPS3, PasswordMinLength: 8, PasswordMaxLength: 128, PasswordClasses: 3, PasswordExpiryDays: 90,
			PasswordHistory: 5, PasswordCheckCommon: true, LockoutThreshold: 5, LockoutMinutes: 30, CaptchaAfter: 3,
			IPCaptchaAfter: 20, SessionIdleMinutes: 30, SessionMaxHours: 12, MaxSessions: 5, LoginIPRanges: []string{},
		}, true
	case PresetNIST:
		// 800-63B §5.1.1.2: at least 8, allow at least 64, no composition
		// rules, no periodic expiry, screen against common passwords;
		// §5.2.2: throttle, at most 100 consecutive failures.
		return SecuritySettings{
			Preset: PresetNIST, PasswordMinLength: 8, PasswordMaxLength: 64, PasswordClasses: 0, PasswordExpiryDays: 0,
			PasswordHistory: 0, PasswordCheckCommon: true, LockoutThreshold: 100, LockoutMinutes: 15, CaptchaAfter: 3,
			IPCaptchaAfter: 20, SessionIdleMinutes: 30, SessionMaxHours: 12, MaxSessions: 0, LoginIPRanges: []string{},
		}, true
	}
	return SecuritySettings{}, false
}

// DefaultSecuritySettings are what a tenant starts with.
func DefaultSecuritySettings() SecuritySettings {
	s, _ := PresetSettings(PresetMLPS3)
	return s
}

// Validate checks every value lies within safe bounds and returns
// per-field messages.
func (s SecuritySettings) Validate() error {
	bad := map[string]string{}
	in := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			bad[name] = fmt.Sprintf("must be between %d and %d", lo, hi)
		}
	}
	if s.Preset != PresetMLPS3 && s.Preset != PresetNIST && s.Preset != PresetCustom {
		bad["preset"] = "must be mlps3, nist or custom"
	}
	in("password_min_length", s.PasswordMinLength, 8, 64)
	in("password_max_length", s.PasswordMaxLength, 64, MaxPasswordBytes/2)
	in("password_classes", s.PasswordClasses, 0, 4)
	in("password_expiry_days", s.PasswordExpiryDays, 0, 3650)
	in("password_history", s.PasswordHistory, 0, 24)
	in("lockout_threshold", s.LockoutThreshold, 0, 100)
	in("lockout_minutes", s.LockoutMinutes, 0, 24*60)
	in("captcha_after", s.CaptchaAfter, 1, 10)
	in("ip_captcha_after", s.IPCaptchaAfter, 3, 1000)
	in("session_idle_minutes", s.SessionIdleMinutes, 1, 24*60)
	in("session_max_hours", s.SessionMaxHours, 1, 30*24)
	in("max_sessions", s.MaxSessions, 0, 100)
	if s.LockoutThreshold > 0 && s.CaptchaAfter >= s.LockoutThreshold {
		bad["captcha_after"] = "must be below lockout_threshold, so a CAPTCHA is asked before the lock"
	}
	if s.SessionIdleMinutes > s.SessionMaxHours*60 {
		bad["session_idle_minutes"] = "must not exceed session_max_hours"
	}
	if len(s.LoginIPRanges) > 100 {
		bad["login_ip_ranges"] = "at most 100 ranges"
	}
	for _, r := range s.LoginIPRanges {
		if _, err := netip.ParsePrefix(r); err != nil {
			bad["login_ip_ranges"] = fmt.Sprintf("%q is not a CIDR range like 203.0.113.0/24", truncate(r, 60))
			break
		}
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad)
	}
	return nil
}

// SessionConfig derives session lifetimes from the settings.
func (s SecuritySettings) SessionConfig() SessionConfig {
	return SessionConfig{IdleTimeout: time.Duration(s.SessionIdleMinutes) * time.Minute, AbsoluteTimeout: time.Duration(s.SessionMaxHours) * time.Hour}
}

// AllowsIP reports whether a login from ip is allowed by LoginIPRanges.
func (s SecuritySettings) AllowsIP(ip string) bool {
	if len(s.LoginIPRanges) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, r := range s.LoginIPRanges {
		if p, err := netip.ParsePrefix(r); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// SettingsStore persists security settings; a tenant without a row has
// the defaults.
type SettingsStore interface {
	SecuritySettings(ctx context.Context, tenantID tenant.ID) (SecuritySettings, bool, error)
	PutSecuritySettings(ctx context.Context, tenantID tenant.ID, s SecuritySettings, at time.Time) error
}

// Settings is the security settings service.
type Settings struct {
	store interface {
		TxRunner
		SettingsStore
		AuditAppender
	}
	now func() time.Time
}

// NewSettings returns the security settings service.
func NewSettings(store interface {
	TxRunner
	SettingsStore
	AuditAppender
}, now func() time.Time) *Settings {
	if now == nil {
		now = time.Now
	}
	return &Settings{store: store, now: now}
}

// Effective returns a tenant's settings, the defaults when none are stored.
func (s *Settings) Effective(ctx context.Context, tid tenant.ID) (SecuritySettings, error) {
	st, ok, err := s.store.SecuritySettings(ctx, tid)
	if err != nil {
		return SecuritySettings{}, err
	}
	if !ok {
		return DefaultSecuritySettings(), nil
	}
	return st, nil
}

// Get returns the settings to an admin.
func (s *Settings) Get(ctx context.Context, actor tenant.Actor) (SecuritySettings, error) {
	if !access.CanManageSettings(actor) {
		return SecuritySettings{}, apperr.Forbidden()
	}
	return s.Effective(ctx, actor.TenantID)
}

// Put replaces the settings. A preset other than custom fills every value
// from the preset; custom takes the values given. The change is audited
// with before and after.
func (s *Settings) Put(ctx context.Context, actor tenant.Actor, in SecuritySettings) (SecuritySettings, error) {
	if !access.CanManageSettings(actor) {
		return SecuritySettings{}, apperr.Forbidden()
	}
	next := in
	if p, ok := PresetSettings(in.Preset); ok {
		next = p
	}
	if next.LoginIPRanges == nil {
		next.LoginIPRanges = []string{}
	}
	if err := next.Validate(); err != nil {
		return SecuritySettings{}, err
	}
	now := s.now().UTC()
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		before, err := s.Effective(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		if err := s.store.PutSecuritySettings(ctx, actor.TenantID, next, now); err != nil {
			return err
		}
		changes := settingsDiff(before, next)
		if len(changes) == 0 {
			return nil
		}
		ev := audit.New(actor, now, audit.ActionSettingsUpdated, "settings", "security", "security settings")
		ev.Changes = changes
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return SecuritySettings{}, err
	}
	return next, nil
}

// settingsDiff lists changed settings by their JSON names.
func settingsDiff(a, b SecuritySettings) map[string]audit.Change {
	out := map[string]audit.Change{}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := range t.NumField() {
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		if !reflect.DeepEqual(x, y) {
			name := t.Field(i).Tag.Get("json")
			out[name] = audit.Change{Before: x, After: y}
		}
	}
	return out
}
