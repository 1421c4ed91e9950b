package web

import (
	"net/http"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/webkit"
)

// LoginPage is the sign-in form.
type LoginPage struct {
	Shell
	Tenant string
	Login  string
	Next   string
	Error  string
	// Captcha is the challenge to solve after captcha_required (lockout.go).
	Captcha         LoginCaptcha
	CaptchaAnswered bool
	// AskTOTP shows the authenticator-code field (after mfa_required).
	AskTOTP bool
}

func (w *Web) loginForm(rw http.ResponseWriter, r *http.Request) {
	lang := requestLang(r)
	if rc := w.optionalSession(r); rc != nil {
		http.Redirect(rw, r, "/", http.StatusSeeOther)
		return
	}
	q := r.URL.Query()
	p := &LoginPage{Shell: w.shell(rw, r, nil, lang, translate(lang, "login.title"), ""),
		Tenant: truncateRunes(q.Get("tenant"), 63), Next: nextParam(q.Get("next"))}
	w.render(rw, r, http.StatusOK, "login", p)
}

// nextParam keeps a post-login destination only when it is a local path.
func nextParam(s string) string {
	if s == "" {
		return ""
	}
	if p := localPath(s); p != "/" {
		return p
	}
	return ""
}

func (w *Web) loginSubmit(rw http.ResponseWriter, r *http.Request) {
	lang := requestLang(r)
	if !w.parsePost(rw, r, nil, lang) {
		return
	}
	if !doubleSubmitOK(r) {
		w.csrfFailed(rw, r, nil, lang)
		return
	}
	f := r.PostForm
	slug, login, password := strings.TrimSpace(f.Get("tenant")), strings.TrimSpace(f.Get("login")), f.Get("password")
	next := nextParam(f.Get("next"))
	ctx := r.Context()
	res, err := w.d.Identity.Login(ctx, identity.LoginInput{
		TenantSlug: slug, Login: login, Password: password,
		CaptchaID: f.Get("captcha_id"), CaptchaAnswer: f.Get("captcha_answer"), TOTP: f.Get("totp"),
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(ctx),
	})
	if err != nil {
		e, ok := apperr.As(err)
		if !ok || e.Kind == apperr.KindInternal {
			w.internalError(rw, r, nil, lang, err)
			return
		}
		// The refusals the console shares, after the tenant realm's own.
		var status int
		var key string
		switch {
		case e.Code == apperr.CodeCaptchaRequired:
			status, key = http.StatusUnauthorized, "login.captcha"
		case e.Code == apperr.CodeMFARequired:
			status, key = http.StatusUnauthorized, "login.extra"
		case e.Kind == apperr.KindForbidden:
			status, key = http.StatusForbidden, "login.ip_denied"
		default:
			status, key = webkit.LoginRefusal(e)
		}
		p := &LoginPage{Shell: w.shell(rw, r, nil, lang, translate(lang, "login.title"), ""),
			Tenant: truncateRunes(slug, 63), Login: truncateRunes(login, 254), Next: next, Error: translate(lang, key),
			CaptchaAnswered: f.Get("captcha_answer") != "",
			// Keep asking for the code once it was asked for; the password
			// is never echoed back, so it is typed again with the code.
			AskTOTP: e.Code == apperr.CodeMFARequired || f.Get("totp") != ""}
		w.applyLoginError(p, lang, e)
		w.render(rw, r, status, "login", p)
		return
	}
	w.setSessionCookie(rw, res.Token)
	w.clearCookie(rw, csrfCookie)
	if res.MustChangePassword {
		http.Redirect(rw, r, "/password", http.StatusSeeOther)
		return
	}
	if res.MustEnrolMFA {
		http.Redirect(rw, r, "/account/mfa", http.StatusSeeOther)
		return
	}
	if next == "" {
		next = "/"
	}
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

// setLanguage stores an explicit language choice. It is a POST like every
// other change, protected by the session's token or, before sign-in, by
// the double-submit cookie.
func (w *Web) setLanguage(rw http.ResponseWriter, r *http.Request) {
	lang := requestLang(r)
	if !w.parsePost(rw, r, nil, lang) {
		return
	}
	ok := webkit.SignedInOrOutCSRFOK(r, csrfCookie, csrfField, func() string {
		if rc := w.optionalSession(r); rc != nil {
			return rc.csrf
		}
		return ""
	})
	if !ok {
		w.csrfFailed(rw, r, nil, lang)
		return
	}
	if l, valid := parseLangTag(r.PostForm.Get("lang")); valid {
		http.SetCookie(rw, webkit.LangChoiceCookie(l, w.d.SecureCookies))
	}
	http.Redirect(rw, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := w.d.Identity.Logout(r.Context(), rc.actor()); err != nil {
		w.log.Error("logout", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	w.clearCookie(rw, sessionCookie)
	w.setFlash(rw, "signed_out")
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

// PasswordPage is the change-password form.
type PasswordPage struct {
	Shell
	Forced     bool
	CurrentErr string
	NewErr     string
	ConfirmErr string
	Violations []string
	Expired    bool          // forced because the password expired, not a one-time password
	Rules      PasswordRules // the live checklist of the tenant's rules
}

func (w *Web) passwordPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) *PasswordPage {
	return &PasswordPage{Shell: w.shell(rw, r, rc, rc.lang, translate(rc.lang, "password.title"), ""), Forced: rc.p.MustChangePassword,
		Expired: rc.p.MustChangePassword && !rc.p.User.MustChangePassword, Rules: w.passwordRulesFor(r, rc)}
}

func (w *Web) passwordForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.render(rw, r, http.StatusOK, "password", w.passwordPage(rw, r, rc))
}

func (w *Web) passwordSubmit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	f := r.PostForm
	current, next, confirm := f.Get("current_password"), f.Get("new_password"), f.Get("confirm_password")
	p := w.passwordPage(rw, r, rc)
	req := translate(rc.lang, "password.required")
	fe, ok := webkit.CheckPasswordChange(current, next, confirm, req, translate(rc.lang, "password.mismatch"))
	p.CurrentErr, p.NewErr, p.ConfirmErr = fe.Current, fe.New, fe.Confirm
	if !ok {
		w.render(rw, r, http.StatusUnprocessableEntity, "password", p)
		return
	}
	err := w.d.Identity.ChangePassword(r.Context(), rc.actor(), current, next)
	if err == nil {
		w.setFlash(rw, "password_changed")
		http.Redirect(rw, r, "/", http.StatusSeeOther)
		return
	}
	e, ok := apperr.As(err)
	switch {
	case ok && e.Kind == apperr.KindUnauthenticated:
		p.CurrentErr = translate(rc.lang, "password.wrong")
	case ok && e.Code == apperr.CodePasswordPolicy:
		p.NewErr = translate(rc.lang, "password.policy")
		p.Violations = violationTexts(rc.lang, e)
	case ok && e.Kind == apperr.KindInvalid:
		p.NewErr = req
	default:
		w.fail(rw, r, rc, err)
		return
	}
	w.render(rw, r, http.StatusUnprocessableEntity, "password", p)
}
