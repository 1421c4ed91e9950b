package api

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// SettingsService reads and replaces a tenant's security settings; both
// answer forbidden to anyone but an admin.
type SettingsService interface {
	Get(ctx context.Context, actor tenant.Actor) (identity.SecuritySettings, error)
	Put(ctx context.Context, actor tenant.Actor, in identity.SecuritySettings) (identity.SecuritySettings, error)
}

// SecuritySettingsDTO is a tenant's login-protection rules
// (GET/PUT /api/v1/settings/security).
type SecuritySettingsDTO struct {
	Preset              string   `json:"preset"`
	PasswordMinLength   int      `json:"password_min_length"`
	PasswordMaxLength   int      `json:"password_max_length"`
	PasswordClasses     int      `json:"password_classes"`
	PasswordExpiryDays  int      `json:"password_expiry_days"`
	PasswordHistory     int      `json:"password_history"`
	PasswordCheckCommon bool     `json:"password_check_common"`
	LockoutThreshold    int      `json:"lockout_threshold"`
	LockoutMinutes      int      `json:"lockout_minutes"`
	CaptchaAfter        int      `json:"captcha_after"`
	IPCaptchaAfter      int      `json:"ip_captcha_after"`
	SessionIdleMinutes  int      `json:"session_idle_minutes"`
	SessionMaxHours     int      `json:"session_max_hours"`
	MaxSessions         int      `json:"max_sessions"`
	MFARequired         bool     `json:"mfa_required"`
	LoginIPRanges       []string `json:"login_ip_ranges"`
}

// PutSecuritySettingsRequest is the body of PUT /api/v1/settings/security.
// With preset mlps3 or nist every other value comes from the preset (any
// given are ignored); with custom every value is required.
type PutSecuritySettingsRequest struct {
	Preset              *string   `json:"preset"`
	PasswordMinLength   *int      `json:"password_min_length,omitempty"`
	PasswordMaxLength   *int      `json:"password_max_length,omitempty"`
	PasswordClasses     *int      `json:"password_classes,omitempty"`
	PasswordExpiryDays  *int      `json:"password_expiry_days,omitempty"`
	PasswordHistory     *int      `json:"password_history,omitempty"`
	PasswordCheckCommon *bool     `json:"password_check_common,omitempty"`
	LockoutThreshold    *int      `json:"lockout_threshold,omitempty"`
	LockoutMinutes      *int      `json:"lockout_minutes,omitempty"`
	CaptchaAfter        *int      `json:"captcha_after,omitempty"`
	IPCaptchaAfter      *int      `json:"ip_captcha_after,omitempty"`
	SessionIdleMinutes  *int      `json:"session_idle_minutes,omitempty"`
	SessionMaxHours     *int      `json:"session_max_hours,omitempty"`
	MaxSessions         *int      `json:"max_sessions,omitempty"`
	MFARequired         *bool     `json:"mfa_required,omitempty"`
	LoginIPRanges       *[]string `json:"login_ip_ranges,omitempty"`
}

func (a *API) settingsRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/settings/security", handler: a.getSecuritySettings},
		{Method: "PUT", Pattern: "/api/v1/settings/security", handler: a.putSecuritySettings},
	}
}

func securitySettingsDTO(s identity.SecuritySettings) SecuritySettingsDTO {
	ranges := s.LoginIPRanges
	if ranges == nil {
		ranges = []string{}
	}
	return SecuritySettingsDTO{
		Preset: s.Preset, PasswordMinLength: s.PasswordMinLength, PasswordMaxLength: s.PasswordMaxLength,
		PasswordClasses: s.PasswordClasses, PasswordExpiryDays: s.PasswordExpiryDays, PasswordHistory: s.PasswordHistory,
		PasswordCheckCommon: s.PasswordCheckCommon, LockoutThreshold: s.LockoutThreshold, LockoutMinutes: s.LockoutMinutes,
		CaptchaAfter: s.CaptchaAfter, IPCaptchaAfter: s.IPCaptchaAfter, SessionIdleMinutes: s.SessionIdleMinutes,
		SessionMaxHours: s.SessionMaxHours, MaxSessions: s.MaxSessions, MFARequired: s.MFARequired, LoginIPRanges: ranges,
	}
}

func (a *API) getSecuritySettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Settings == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	s, err := a.d.Settings.Get(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, securitySettingsDTO(s))
}

func (a *API) putSecuritySettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Settings == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	var req PutSecuritySettingsRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := req.settings()
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s, err := a.d.Settings.Put(r.Context(), p.Actor, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, securitySettingsDTO(s))
}

// settings turns the request into settings for the service, reporting a
// missing or unknown preset and, for custom, every missing value.
func (req PutSecuritySettingsRequest) settings() (identity.SecuritySettings, error) {
	var s identity.SecuritySettings
	if req.Preset == nil || *req.Preset == "" {
		return s, apperr.InvalidFields(map[string]string{"preset": "required"})
	}
	s.Preset = *req.Preset
	switch s.Preset {
	case identity.PresetMLPS3, identity.PresetNIST:
		return s, nil // the service fills every value from the preset
	case identity.PresetCustom:
	default:
		return s, apperr.InvalidFields(map[string]string{"preset": "must be mlps3, nist or custom"})
	}
	missing := map[string]string{}
	num := func(name string, v *int, dst *int) {
		if v == nil {
			missing[name] = "required"
			return
		}
		*dst = *v
	}
	flag := func(name string, v *bool, dst *bool) {
		if v == nil {
			missing[name] = "required"
			return
		}
		*dst = *v
	}
	num("password_min_length", req.PasswordMinLength, &s.PasswordMinLength)
	num("password_max_length", req.PasswordMaxLength, &s.PasswordMaxLength)
	num("password_classes", req.PasswordClasses, &s.PasswordClasses)
	num("password_expiry_days", req.PasswordExpiryDays, &s.PasswordExpiryDays)
	num("password_history", req.PasswordHistory, &s.PasswordHistory)
	flag("password_check_common", req.PasswordCheckCommon, &s.PasswordCheckCommon)
	num("lockout_threshold", req.LockoutThreshold, &s.LockoutThreshold)
	num("lockout_minutes", req.LockoutMinutes, &s.LockoutMinutes)
	num("captcha_after", req.CaptchaAfter, &s.CaptchaAfter)
	num("ip_captcha_after", req.IPCaptchaAfter, &s.IPCaptchaAfter)
	num("session_idle_minutes", req.SessionIdleMinutes, &s.SessionIdleMinutes)
	num("session_max_hours", req.SessionMaxHours, &s.SessionMaxHours)
	num("max_sessions", req.MaxSessions, &s.MaxSessions)
	flag("mfa_required", req.MFARequired, &s.MFARequired)
	if req.LoginIPRanges == nil {
		missing["login_ip_ranges"] = "required"
	} else {
		s.LoginIPRanges = append([]string{}, *req.LoginIPRanges...)
	}
	if len(missing) > 0 {
		return s, apperr.InvalidFields(missing)
	}
	return s, nil
}
