package api

import (
	"context"
	"net/http"
	"time"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// MFAService enrols, confirms, disables and resets authenticators.
type MFAService interface {
	MFA(ctx context.Context, actor tenant.Actor, userID string) (identity.MFAStatus, error)
	BeginTOTP(ctx context.Context, actor tenant.Actor, tenantSlug string) (identity.TOTPSetup, error)
	ConfirmTOTP(ctx context.Context, actor tenant.Actor, code string) ([]string, error)
	DisableTOTP(ctx context.Context, actor tenant.Actor, password string) error
	ResetMFA(ctx context.Context, actor tenant.Actor, userID string) error
}

// MFAStatusDTO says whether a user has an authenticator.
type MFAStatusDTO struct {
	Enabled           bool       `json:"enabled"`
	EnabledAt         *time.Time `json:"enabled_at,omitempty"`
	RecoveryCodesLeft int        `json:"recovery_codes_left"`
	RequiredByTenant  bool       `json:"required_by_tenant"`
	PendingEnrolment  bool       `json:"pending_enrolment"`
}

// TOTPSetupDTO starts an enrolment: scan the QR code or type the secret.
type TOTPSetupDTO struct {
	Secret    string    `json:"secret"`
	URL       string    `json:"otpauth_url"`
	QRCodePNG string    `json:"qr_code_png"` // data: URI
	ExpiresAt time.Time `json:"expires_at"`
}

// ConfirmTOTPRequest carries a code from the new authenticator.
type ConfirmTOTPRequest struct {
	Code string `json:"code"`
}

// RecoveryCodesDTO lists recovery codes, shown only once.
type RecoveryCodesDTO struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// DisableTOTPRequest re-confirms the password before removing the authenticator.
type DisableTOTPRequest struct {
	CurrentPassword string `json:"current_password"`
}

func (a *API) mfaRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/users/{id}/mfa", AllowUnenrolled: true, handler: a.mfaStatus},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/totp", AllowUnenrolled: true, handler: a.beginTOTP},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/totp/confirm", AllowUnenrolled: true, handler: a.confirmTOTP},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/totp/disable", handler: a.disableTOTP},
		{Method: "POST", Pattern: "/api/v1/users/{id}/mfa/reset", handler: a.resetMFA},
	}
}

func (a *API) mfaStatus(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	st, err := a.d.MFA.MFA(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, MFAStatusDTO{Enabled: st.Enabled, EnabledAt: st.EnabledAt, RecoveryCodesLeft: st.RecoveryCodesLeft,
		RequiredByTenant: st.RequiredByTenant, PendingEnrolment: st.PendingEnrolment})
}

func (a *API) beginTOTP(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	setup, err := a.d.MFA.BeginTOTP(r.Context(), p.Actor, p.Tenant.Slug)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, TOTPSetupDTO{Secret: setup.Secret, URL: setup.URL, QRCodePNG: identity.QRDataURI(setup.QRCode), ExpiresAt: setup.Expires})
}

func (a *API) confirmTOTP(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req ConfirmTOTPRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	codes, err := a.d.MFA.ConfirmTOTP(r.Context(), p.Actor, req.Code)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RecoveryCodesDTO{RecoveryCodes: codes})
}

func (a *API) disableTOTP(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req DisableTOTPRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.d.MFA.DisableTOTP(r.Context(), p.Actor, req.CurrentPassword); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) resetMFA(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if err := a.d.MFA.ResetMFA(r.Context(), p.Actor, r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
