package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// MFA enrols, confirms, disables and resets authenticators.
type MFA interface {
	MFA(ctx context.Context, actor tenant.Actor, userID string) (identity.MFAStatus, error)
	BeginTOTP(ctx context.Context, actor tenant.Actor, tenantSlug string) (identity.TOTPSetup, error)
	ConfirmTOTP(ctx context.Context, actor tenant.Actor, code string) ([]string, error)
	DisableTOTP(ctx context.Context, actor tenant.Actor, password string) error
	ResetMFA(ctx context.Context, actor tenant.Actor, userID string) error
}

func init() {
	pageNames = append(pageNames, "mfa", "recoverycodes")
	flashKinds["mfa_disabled"] = false
	flashKinds["mfa_reset"] = false
	flashKinds["mfa_disable_failed"] = true
}

// MFASetupPage shows a new authenticator's QR code and the confirmation form.
type MFASetupPage struct {
	Shell
	Intro  bool         // before a secret exists: explain and offer to begin
	QRCode template.URL // a data: URI we rendered ourselves
	Secret string
	Error  string
}

// mfaIntro is where users whose tenant requires two-step sign-in land
// until they set it up.
func (w *Web) mfaIntro(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	l := rc.lang
	p := &MFASetupPage{Shell: w.shell(rw, r, rc, l, translate(l, "mfa.setup_title"), ""), Intro: true}
	w.render(rw, r, http.StatusOK, "mfa", p)
}

// RecoveryCodesPage shows recovery codes exactly once.
type RecoveryCodesPage struct {
	Shell
	Codes []string
}

func (w *Web) beginMFA(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	setup, err := w.d.MFA.BeginTOTP(r.Context(), rc.actor(), rc.tenant.Slug)
	if err != nil {
		if apperr.Is(err, apperr.KindConflict) {
			http.Redirect(rw, r, "/account", http.StatusSeeOther)
			return
		}
		w.fail(rw, r, rc, err)
		return
	}
	w.renderMFASetup(rw, r, rc, setup.QRCode, setup.Secret, "", http.StatusOK)
}

func (w *Web) renderMFASetup(rw http.ResponseWriter, r *http.Request, rc *reqCtx, qr []byte, secret, errMsg string, status int) {
	l := rc.lang
	p := &MFASetupPage{Shell: w.shell(rw, r, rc, l, translate(l, "mfa.setup_title"), ""), Secret: secret, Error: errMsg}
	if qr != nil {
		// Safe to mark as a URL: the bytes are our own PNG, base64-encoded.
		p.QRCode = template.URL(identity.QRDataURI(qr))
	}
	// The secret is on this page only; never cache it.
	rw.Header().Set("Pragma", "no-cache")
	w.render(rw, r, status, "mfa", p)
}

func (w *Web) confirmMFA(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	codes, err := w.d.MFA.ConfirmTOTP(r.Context(), rc.actor(), r.PostForm.Get("code"))
	if err != nil {
		if apperr.Is(err, apperr.KindInvalid) {
			// The pending secret stays; the user retries with the app they scanned.
			w.renderMFASetup(rw, r, rc, nil, "", translate(rc.lang, "mfa.bad_code"), http.StatusUnprocessableEntity)
			return
		}
		if apperr.Is(err, apperr.KindConflict) {
			w.renderMFASetup(rw, r, rc, nil, "", translate(rc.lang, "mfa.expired"), http.StatusConflict)
			return
		}
		w.fail(rw, r, rc, err)
		return
	}
	l := rc.lang
	p := &RecoveryCodesPage{Shell: w.shell(rw, r, rc, l, translate(l, "mfa.codes_title"), ""), Codes: codes}
	rw.Header().Set("Pragma", "no-cache")
	w.render(rw, r, http.StatusOK, "recoverycodes", p)
}

func (w *Web) disableMFA(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	err := w.d.MFA.DisableTOTP(r.Context(), rc.actor(), r.PostForm.Get("current_password"))
	switch {
	case err == nil:
		w.setFlash(rw, "mfa_disabled")
	case apperr.Is(err, apperr.KindUnauthenticated):
		w.setFlash(rw, "mfa_disable_failed")
	default:
		w.fail(rw, r, rc, err)
		return
	}
	http.Redirect(rw, r, "/account", http.StatusSeeOther)
}

func (w *Web) resetUserMFA(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	if err := w.d.MFA.ResetMFA(r.Context(), rc.actor(), id); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.setFlash(rw, "mfa_reset")
	http.Redirect(rw, r, "/users/"+url.PathEscape(id), http.StatusSeeOther)
}
