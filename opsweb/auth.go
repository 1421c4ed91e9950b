package opsweb

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/webkit"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/supportaccess"
)

// LoginPage is the operator sign-in form: e-mail, password and TOTP code,
// all three always asked for.
type LoginPage struct {
	Shell
	Email string
	Next  string
	Error string
}

func (c *Console) loginForm(rw http.ResponseWriter, r *http.Request) {
	lang := webkit.RequestLang(r)
	if rc := c.optionalSession(r); rc != nil {
		http.Redirect(rw, r, Prefix, http.StatusSeeOther)
		return
	}
	p := &LoginPage{Shell: c.shell(rw, r, nil, lang, translate(lang, "login.title"), ""), Next: nextParam(r.URL.Query().Get("next"))}
	c.render(rw, r, http.StatusOK, "login", p)
}

func nextParam(s string) string {
	if s == "" {
		return ""
	}
	if p := consolePath(s); p != Prefix {
		return p
	}
	return ""
}

func truncateRunes(s string, n int) string {
	rs := []rune(s)
	if len(rs) > n {
		return string(rs[:n])
	}
	return s
}

func (c *Console) loginSubmit(rw http.ResponseWriter, r *http.Request) {
	lang := webkit.RequestLang(r)
	if !c.parsePost(rw, r, nil, lang) {
		return
	}
	if !doubleSubmitOK(r) {
		c.csrfFailed(rw, r, nil, lang)
		return
	}
	f := r.PostForm
	email := strings.TrimSpace(f.Get("email"))
	next := nextParam(f.Get("next"))
	ctx := r.Context()
	// operators.Service.Login decides everything (lockout, replay, the
	// platform trail); the console only maps its answer to a page.
	res, err := c.d.Operators.Login(ctx, operators.LoginInput{Email: email, Password: f.Get("password"), TOTP: strings.TrimSpace(f.Get("totp")),
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(ctx)})
	if err != nil {
		e, ok := apperr.As(err)
		if !ok || e.Kind == apperr.KindInternal {
			c.internalError(rw, r, nil, lang, err)
			return
		}
		status, key := webkit.LoginRefusal(e)
		// The password and the code are never echoed back.
		p := &LoginPage{Shell: c.shell(rw, r, nil, lang, translate(lang, "login.title"), ""), Email: truncateRunes(email, 254), Next: next,
			Error: translate(lang, key)}
		c.render(rw, r, status, "login", p)
		return
	}
	http.SetCookie(rw, c.cookie(sessionCookie, res.Token, 0))
	c.clearCookie(rw, csrfCookie)
	if res.MustChangePassword {
		http.Redirect(rw, r, Prefix+"/password", http.StatusSeeOther)
		return
	}
	if next == "" {
		next = Prefix
	}
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

// setLanguage stores an explicit language choice, protected like every
// other POST by the session's token or, before sign-in, the double-submit
// cookie.
func (c *Console) setLanguage(rw http.ResponseWriter, r *http.Request) {
	lang := webkit.RequestLang(r)
	if !c.parsePost(rw, r, nil, lang) {
		return
	}
	ok := webkit.SignedInOrOutCSRFOK(r, csrfCookie, csrfField, func() string {
		if rc := c.optionalSession(r); rc != nil {
			return rc.csrf
		}
		return ""
	})
	if !ok {
		c.csrfFailed(rw, r, nil, lang)
		return
	}
	if l, valid := webkit.ParseLangTag(r.PostForm.Get("lang")); valid {
		// Path "/": the same choice as the tenant UI's switch makes.
		http.SetCookie(rw, webkit.LangChoiceCookie(l, c.d.SecureCookies))
	}
	http.Redirect(rw, r, consolePath(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (c *Console) logout(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := c.d.Operators.Logout(r.Context(), rc.p); err != nil {
		c.log.Error("ops logout", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	c.clearCookie(rw, sessionCookie)
	c.setFlash(rw, "signed_out")
	http.Redirect(rw, r, Prefix+"/login", http.StatusSeeOther)
}

// PasswordPage replaces the operator's password (first the one-time one).
type PasswordPage struct {
	Shell
	Forced     bool
	CurrentErr string
	NewErr     string
	ConfirmErr string
	Violations []string
}

func (c *Console) passwordPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) *PasswordPage {
	return &PasswordPage{Shell: c.shell(rw, r, rc, rc.lang, translate(rc.lang, "password.title"), ""), Forced: rc.p.Operator.MustChangePassword}
}

func (c *Console) passwordForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	c.render(rw, r, http.StatusOK, "password", c.passwordPage(rw, r, rc))
}

func (c *Console) passwordSubmit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	f := r.PostForm
	current, next, confirm := f.Get("current_password"), f.Get("new_password"), f.Get("confirm_password")
	p := c.passwordPage(rw, r, rc)
	req := translate(rc.lang, "password.required")
	fe, ok := webkit.CheckPasswordChange(current, next, confirm, req, translate(rc.lang, "password.mismatch"))
	p.CurrentErr, p.NewErr, p.ConfirmErr = fe.Current, fe.New, fe.Confirm
	if !ok {
		c.render(rw, r, http.StatusUnprocessableEntity, "password", p)
		return
	}
	err := c.d.Operators.ChangePassword(r.Context(), rc.p, current, next)
	if err == nil {
		c.setFlash(rw, "password_changed")
		http.Redirect(rw, r, Prefix, http.StatusSeeOther)
		return
	}
	e, ok := apperr.As(err)
	switch {
	case ok && e.Kind == apperr.KindUnauthenticated:
		p.CurrentErr = translate(rc.lang, "password.wrong")
	case ok && e.Code == apperr.CodePasswordPolicy:
		p.NewErr = translate(rc.lang, "password.policy")
		// The policy's messages are English only; they are safe to show.
		if msgs, ok := e.Details["messages"].([]string); ok {
			p.Violations = msgs
		}
	case ok && e.Kind == apperr.KindInvalid:
		p.NewErr = req
	default:
		c.fail(rw, r, rc, err)
		return
	}
	c.render(rw, r, http.StatusUnprocessableEntity, "password", p)
}

// DashboardPage lists the tenants' metadata and the operator's grants in
// force.
type DashboardPage struct {
	Shell
	Tenants []TenantRow
	Active  []RequestRow
}

// TenantRow is one tenant's metadata: no user or record content.
type TenantRow struct {
	Name, Slug, Status, StatusCode string
	Users, Records                 string
	Contract, Created              string
	RequestHref                    string
}

func (c *Console) dashboard(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	ts, err := c.d.Operators.Tenants(ctx, rc.p)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	gs, err := c.d.Support.OperatorRequests(ctx, rc.p.Operator.ID)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	p := &DashboardPage{Shell: c.shell(rw, r, rc, rc.lang, translate(rc.lang, "dash.title"), "tenants")}
	idx := tenantIndex(ts)
	for _, t := range ts {
		row := TenantRow{Name: t.Name, Slug: t.Slug, StatusCode: string(t.Status), Status: translateOr(rc.lang, "status."+string(t.Status), string(t.Status)),
			Users: strconv.FormatInt(t.Users, 10), Records: strconv.FormatInt(t.Records, 10), Created: formatTime(t.CreatedAt),
			Contract: translate(rc.lang, "dash.no_contract"), RequestHref: Prefix + "/requests/new?tenant=" + urlQueryEscape(t.Slug)}
		if t.ContractEnd != nil {
			row.Contract = t.ContractEnd.UTC().Format("2006-01-02")
		}
		p.Tenants = append(p.Tenants, row)
	}
	for _, g := range gs {
		if g.State == supportaccess.Active {
			p.Active = append(p.Active, c.requestRow(rc.lang, g, idx))
		}
	}
	c.render(rw, r, http.StatusOK, "dashboard", p)
}
