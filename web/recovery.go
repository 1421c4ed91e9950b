package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
)

// Recovery is what the "forgot password" pages need.
type Recovery interface {
	StartRecovery(ctx context.Context, in identity.RecoveryStartInput) (identity.RecoveryStart, error)
	FinishRecovery(ctx context.Context, in identity.RecoveryFinishInput) error
}

func init() {
	flashKinds["recovery_sent"] = false
	flashKinds["password_recovered"] = false
	// The recovery pages' templates, parsed by New like every other page.
	pageNames = append(pageNames, "recover", "recover_finish")
}

// recoverCookie carries the tenant and login typed on /recover to the
// finish form, so they stay out of URLs (and so out of browser history).
// They are what the visitor typed, nothing the server vouches for.
const recoverCookie = "haven_recover"

// RecoverPage asks for a recovery code.
type RecoverPage struct {
	Shell
	Tenant   string
	Login    string
	Channels []Option
	Error    string
}

// RecoverFinishPage sets a new password with the code.
type RecoverFinishPage struct {
	Shell
	Tenant     string
	Login      string
	Error      string
	CodeErr    string
	NewErr     string
	ConfirmErr string
	Violations []string
}

func (w *Web) registerRecovery(mux *http.ServeMux) {
	mux.HandleFunc("GET /recover", w.recoverForm)
	mux.HandleFunc("POST /recover", w.recoverSubmit)
	mux.HandleFunc("GET /recover/finish", w.recoverFinishForm)
	mux.HandleFunc("POST /recover/finish", w.recoverFinishSubmit)
}

func (w *Web) recoverPage(rw http.ResponseWriter, r *http.Request, lang Lang, tenantSlug, login, channel string) *RecoverPage {
	p := &RecoverPage{Shell: w.shell(rw, r, nil, lang, translate(lang, "recover.title"), ""),
		Tenant: truncateRunes(tenantSlug, 63), Login: truncateRunes(login, 254)}
	if channel != identity.ChannelSMS {
		channel = identity.ChannelEmail
	}
	for _, c := range []string{identity.ChannelEmail, identity.ChannelSMS} {
		p.Channels = append(p.Channels, Option{Value: c, Label: translate(lang, "recover.channel."+c), Selected: c == channel})
	}
	return p
}

func (w *Web) recoverForm(rw http.ResponseWriter, r *http.Request) {
	if w.d.Recovery == nil {
		w.notFound(rw, r)
		return
	}
	lang := requestLang(r)
	w.render(rw, r, http.StatusOK, "recover", w.recoverPage(rw, r, lang, r.URL.Query().Get("tenant"), "", ""))
}

func (w *Web) recoverSubmit(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if w.d.Recovery == nil {
		w.notFound(rw, r)
		return
	}
	lang := requestLang(r)
	if !w.parsePost(rw, r, nil, lang) {
		return
	}
	if !doubleSubmitOK(r) {
		w.csrfFailed(rw, r, nil, lang)
		return
	}
	f := r.PostForm
	slug, login, channel := strings.TrimSpace(f.Get("tenant")), strings.TrimSpace(f.Get("login")), f.Get("channel")
	if slug == "" || login == "" || (channel != identity.ChannelEmail && channel != identity.ChannelSMS) {
		p := w.recoverPage(rw, r, lang, slug, login, channel)
		p.Error = translate(lang, "recover.missing")
		w.render(rw, r, http.StatusBadRequest, "recover", p)
		return
	}
	ctx := r.Context()
	rid := httpx.RequestID(ctx)
	res, err := w.d.Recovery.StartRecovery(ctx, identity.RecoveryStartInput{
		TenantSlug: slug, Login: login, Channel: channel, IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: rid,
	})
	identity.PadRecoveryResponse(ctx, start)
	if err != nil {
		e, ok := apperr.As(err)
		if !ok || e.Kind == apperr.KindInternal {
			w.internalError(rw, r, nil, lang, err)
			return
		}
		p := w.recoverPage(rw, r, lang, slug, login, channel)
		status := http.StatusBadRequest
		p.Error = translate(lang, "recover.missing")
		if e.Kind == apperr.KindRateLimited {
			status = http.StatusTooManyRequests
			rw.Header().Set("Retry-After", strconv.Itoa(retrySeconds(e)))
			p.Error = translate(lang, "recover.rate", (retrySeconds(e)+59)/60)
		}
		w.render(rw, r, status, "recover", p)
		return
	}
	if res.DeliveryErr != nil {
		w.log.Error("recovery code not handed over for delivery", "request_id", rid, "channel", channel, "err", res.DeliveryErr)
	}
	v := url.Values{"t": {slug}, "l": {login}}
	http.SetCookie(rw, w.cookie(recoverCookie, base64.RawURLEncoding.EncodeToString([]byte(v.Encode())), int(identity.RecoveryCodeTTL/time.Second)+300, http.SameSiteStrictMode))
	w.setFlash(rw, "recovery_sent")
	http.Redirect(rw, r, "/recover/finish", http.StatusSeeOther)
}

func retrySeconds(e *apperr.Error) int {
	switch v := e.Details["retry_after_seconds"].(type) {
	case int64:
		return int(v)
	case int:
		return v
	}
	return 60
}

// recoverTyped reads what the visitor typed on /recover.
func recoverTyped(r *http.Request) (slug, login string) {
	c, err := r.Cookie(recoverCookie)
	if err != nil || len(c.Value) > 1024 {
		return "", ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return "", ""
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return "", ""
	}
	return truncateRunes(v.Get("t"), 63), truncateRunes(v.Get("l"), 254)
}

func (w *Web) recoverFinishPage(rw http.ResponseWriter, r *http.Request, lang Lang, slug, login string) *RecoverFinishPage {
	return &RecoverFinishPage{Shell: w.shell(rw, r, nil, lang, translate(lang, "recover.finish_title"), ""),
		Tenant: truncateRunes(slug, 63), Login: truncateRunes(login, 254)}
}

func (w *Web) recoverFinishForm(rw http.ResponseWriter, r *http.Request) {
	if w.d.Recovery == nil {
		w.notFound(rw, r)
		return
	}
	lang := requestLang(r)
	slug, login := recoverTyped(r)
	if slug == "" {
		slug = r.URL.Query().Get("tenant")
	}
	w.render(rw, r, http.StatusOK, "recover_finish", w.recoverFinishPage(rw, r, lang, slug, login))
}

func (w *Web) recoverFinishSubmit(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if w.d.Recovery == nil {
		w.notFound(rw, r)
		return
	}
	lang := requestLang(r)
	if !w.parsePost(rw, r, nil, lang) {
		return
	}
	if !doubleSubmitOK(r) {
		w.csrfFailed(rw, r, nil, lang)
		return
	}
	f := r.PostForm
	slug, login := strings.TrimSpace(f.Get("tenant")), strings.TrimSpace(f.Get("login"))
	code, next, confirm := strings.TrimSpace(f.Get("code")), f.Get("new_password"), f.Get("confirm_password")
	p := w.recoverFinishPage(rw, r, lang, slug, login)
	req := translate(lang, "password.required")
	if slug == "" || login == "" {
		p.Error = translate(lang, "recover.missing")
	}
	if code == "" {
		p.CodeErr = req
	}
	if next == "" {
		p.NewErr = req
	}
	if confirm == "" {
		p.ConfirmErr = req
	} else if next != confirm {
		p.ConfirmErr = translate(lang, "password.mismatch")
	}
	if p.Error != "" || p.CodeErr != "" || p.NewErr != "" || p.ConfirmErr != "" {
		w.render(rw, r, http.StatusUnprocessableEntity, "recover_finish", p)
		return
	}
	ctx := r.Context()
	err := w.d.Recovery.FinishRecovery(ctx, identity.RecoveryFinishInput{
		TenantSlug: slug, Login: login, Code: code, NewPassword: next,
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(ctx),
	})
	identity.PadRecoveryResponse(ctx, start)
	if err == nil {
		w.clearCookie(rw, recoverCookie)
		w.setFlash(rw, "password_recovered")
		http.Redirect(rw, r, "/login?"+url.Values{"tenant": {slug}}.Encode(), http.StatusSeeOther)
		return
	}
	e, ok := apperr.As(err)
	status := http.StatusUnprocessableEntity
	switch {
	case !ok || e.Kind == apperr.KindInternal:
		w.internalError(rw, r, nil, lang, err)
		return
	case e.Code == apperr.CodePasswordPolicy:
		p.NewErr = translate(lang, "password.policy")
		p.Violations = violationTexts(lang, e)
	case e.Kind == apperr.KindUnauthenticated:
		status = http.StatusUnauthorized
		p.CodeErr = translate(lang, "recover.bad_code")
	case e.Kind == apperr.KindRateLimited:
		status = http.StatusTooManyRequests
		rw.Header().Set("Retry-After", strconv.Itoa(retrySeconds(e)))
		p.Error = translate(lang, "recover.rate", (retrySeconds(e)+59)/60)
	default:
		status = http.StatusBadRequest
		p.Error = translate(lang, "recover.missing")
	}
	w.render(rw, r, status, "recover_finish", p)
}
