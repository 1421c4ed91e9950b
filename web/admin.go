package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// ---- Users ------------------------------------------------------------

// UsersPage lists the tenant's users with the add-user form.
type UsersPage struct {
	Shell
	Rows      []UserRow
	Form      NewUserForm
	NextHref  string
	FirstHref string
}

// UserRow is one user of the list.
type UserRow struct {
	Name        string
	Login       string
	Role        string
	RoleLabel   string
	StatusLabel string
	Active      bool
	MustChange  bool
	LastLogin   string
	IsSelf      bool
	AccountHref string
	// Tokens counts the user's live API tokens: every credential that can
	// act in the tenant shows on this page.
	Tokens           int
	Lock             UserLock // sign-in lock (lockout.go)
	DeactivateAction string
	ResetAction      string
	DeactivateQ      string
	ResetQ           string
}

// NewUserForm is the add-user form with its input and errors.
type NewUserForm struct {
	Name     string
	Email    string
	Phone    string
	Roles    []Option
	NameErr  string
	EmailErr string
	PhoneErr string
	RoleErr  string
	Error    string
}

func roleOptions(l Lang, selected string) []Option {
	var out []Option
	for _, r := range access.Roles {
		out = append(out, Option{Value: r, Label: translate(l, "role."+r), Selected: r == selected})
	}
	return out
}

func (w *Web) usersPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderUsers(rw, r, rc, NewUserForm{Roles: roleOptions(rc.lang, access.RoleSales)}, http.StatusOK)
}

func (w *Web) renderUsers(rw http.ResponseWriter, r *http.Request, rc *reqCtx, form NewUserForm, status int) {
	if !access.CanManageUsers(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	l := rc.lang
	after := r.URL.Query().Get("after")
	if r.Method != http.MethodGet || !tenant.ValidID(after) {
		after = ""
	}
	users, next, err := w.d.Identity.Users(r.Context(), rc.actor(), after, 50)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	locks, err := w.userLocks(r.Context(), rc, users)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	tokens, err := w.d.Accounts.LiveTokensByUser(r.Context(), rc.actor())
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	p := &UsersPage{Shell: w.shell(rw, r, rc, l, translate(l, "users.title"), "users"), Form: form}
	loc := w.location(l)
	for _, u := range users {
		row := UserRow{
			Name: u.Name, Login: u.Login(), Role: u.Role, RoleLabel: translateOr(l, "role."+u.Role, u.Role),
			StatusLabel: translateOr(l, "status."+string(u.Status), string(u.Status)), Active: u.Status == identity.StatusActive,
			MustChange: u.MustChangePassword, LastLogin: translate(l, "users.never"), IsSelf: u.ID == rc.p.User.ID,
			AccountHref:      "/users/" + url.PathEscape(u.ID),
			Tokens:           len(tokens[u.ID]),
			Lock:             locks[u.ID],
			DeactivateAction: "/users/" + url.PathEscape(u.ID) + "/deactivate",
			ResetAction:      "/users/" + url.PathEscape(u.ID) + "/reset-password",
			DeactivateQ:      translate(l, "users.deactivate_q", u.Name),
			ResetQ:           translate(l, "users.reset_q", u.Name),
		}
		if u.LastLoginAt != nil {
			row.LastLogin = formatDateTime(l, loc, *u.LastLoginAt)
		}
		p.Rows = append(p.Rows, row)
	}
	if next != "" {
		p.NextHref = "/users?" + url.Values{"after": {next}}.Encode()
	}
	if after != "" {
		p.FirstHref = "/users"
	}
	w.render(rw, r, status, "users", p)
}

// SecretPage shows a one-time password exactly once.
type SecretPage struct {
	Shell
	Heading string
	Text    string
	Login   string
	Tenant  string
	OTP     string
}

func (w *Web) showSecret(rw http.ResponseWriter, r *http.Request, rc *reqCtx, titleKey, textKey, name, login, otp string) {
	l := rc.lang
	p := &SecretPage{Shell: w.shell(rw, r, rc, l, translate(l, titleKey), "users"), Heading: translate(l, titleKey),
		Text: translate(l, textKey, name), Login: login, Tenant: rc.tenant.Slug, OTP: otp}
	// Rendered in the POST's own response rather than after a redirect, so
	// the password is never stored anywhere to survive until a later GET.
	rw.Header().Set("Pragma", "no-cache")
	w.render(rw, r, http.StatusOK, "secret", p)
}

func (w *Web) createUser(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanManageUsers(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	l := rc.lang
	f := r.PostForm
	form := NewUserForm{
		Name: strings.TrimSpace(f.Get("name")), Email: strings.TrimSpace(f.Get("email")), Phone: strings.TrimSpace(f.Get("phone")),
		Roles: roleOptions(l, f.Get("role")),
	}
	role := f.Get("role")
	in := identity.UserInput{Name: &form.Name, Role: &role}
	if form.Email != "" {
		in.Email = &form.Email
	}
	if form.Phone != "" {
		in.Phone = &form.Phone
	}
	nu, err := w.d.Identity.CreateUser(r.Context(), rc.actor(), in)
	if err == nil {
		w.showSecret(rw, r, rc, "secret.created_title", "secret.created", nu.User.Name, nu.User.Login(), nu.OneTimePassword)
		return
	}
	if fe, ok := fieldErrors(err); ok {
		for k, msg := range fe {
			m := fieldMessage(l, msg)
			switch k {
			case "name":
				form.NameErr = m
			case "email":
				form.EmailErr = m
			case "phone":
				form.PhoneErr = m
			case "role":
				form.RoleErr = m
			default:
				form.Error = m
			}
		}
		w.renderUsers(rw, r, rc, form, http.StatusUnprocessableEntity)
		return
	}
	if apperr.Is(err, apperr.KindConflict) {
		form.Error = translate(l, "users.conflict")
		w.renderUsers(rw, r, rc, form, http.StatusConflict)
		return
	}
	w.fail(rw, r, rc, err)
}

func (w *Web) deactivateUser(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanManageUsers(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	_, err := w.d.Identity.Deactivate(r.Context(), rc.actor(), r.PathValue("id"))
	switch {
	case err == nil:
		w.setFlash(rw, "user_deactivated")
	case apperr.Is(err, apperr.KindConflict):
		w.setFlash(rw, "deactivate_failed")
	default:
		w.fail(rw, r, rc, err)
		return
	}
	http.Redirect(rw, r, "/users", http.StatusSeeOther)
}

func (w *Web) resetPassword(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanManageUsers(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	ctx := r.Context()
	u, err := w.d.Identity.User(ctx, rc.actor(), r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	otp, err := w.d.Identity.ResetPassword(ctx, rc.actor(), u.ID)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.showSecret(rw, r, rc, "secret.reset_title", "secret.reset", u.Name, u.Login(), otp)
}
