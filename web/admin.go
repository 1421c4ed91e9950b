package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/records"
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

// ---- Audit ------------------------------------------------------------

// AuditPage is one page of the audit log with its filters.
type AuditPage struct {
	Shell
	From       string
	To         string
	Users      []Option
	Actions    []Option
	Objects    []Option
	Rows       []AuditRow
	OlderHref  string
	NewestHref string
	Notice     string
	Filtered   bool
}

// AuditRow is one event.
type AuditRow struct {
	At         string
	Actor      string
	Action     string
	ActionCode string
	Badge      string
	ObjectType string
	ObjectName string
	ObjectHref string
	IP         string
	Changes    []ChangeView
	More       string
}

// auditActions are the action names the filter offers.
var auditActions = []string{
	audit.ActionRecordCreated, audit.ActionRecordUpdated, audit.ActionRecordDeleted,
	audit.ActionLoginSucceeded, audit.ActionLoginFailed, audit.ActionLogout, audit.ActionPasswordChanged,
	audit.ActionUserCreated, audit.ActionUserUpdated, audit.ActionUserDeactivated, audit.ActionPasswordReset,
	audit.ActionFieldCreated, audit.ActionTenantCreated,
}

const maxAuditChanges = 6

func (w *Web) auditPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanReadAudit(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	ctx, l := r.Context(), rc.lang
	loc := w.location(l)
	qv := r.URL.Query()
	p := &AuditPage{Shell: w.shell(rw, r, rc, l, translate(l, "audit.title"), "audit")}
	f := audit.Filter{Limit: 50}
	if s := qv.Get("from"); s != "" {
		if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			f.From, p.From = t, s
		} else {
			p.Notice = translate(l, "audit.bad_date")
		}
	}
	if s := qv.Get("to"); s != "" {
		if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			f.To, p.To = t.AddDate(0, 0, 1), s
		} else {
			p.Notice = translate(l, "audit.bad_date")
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		p.Notice = translate(l, "audit.bad_range")
		f.To, p.To = time.Time{}, ""
	}
	if s := qv.Get("actor"); tenant.ValidID(s) {
		f.ActorID = s
	}
	if s := qv.Get("action"); contains(auditActions, s) {
		f.Action = s
	}
	objectTypes := []Option{{Value: "", Label: translate(l, "audit.any")}}
	known := map[string]records.Object{}
	for _, o := range rc.objects {
		known[o.Name] = o
		objectTypes = append(objectTypes, Option{Value: o.Name, Label: objectLabel(l, o.Label, o.LabelZH)})
	}
	for _, t := range []string{"user", "field", "tenant"} {
		objectTypes = append(objectTypes, Option{Value: t, Label: translate(l, "objtype."+t)})
	}
	if s := qv.Get("object"); s != "" {
		for _, o := range objectTypes {
			if o.Value == s {
				f.ObjectType = s
			}
		}
	}
	if s := qv.Get("before"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			f.BeforeSeq = n
		}
	}
	p.Filtered = !f.From.IsZero() || !f.To.IsZero() || f.ActorID != "" || f.Action != "" || f.ObjectType != ""
	for i := range objectTypes {
		objectTypes[i].Selected = objectTypes[i].Value == f.ObjectType
	}
	p.Objects = objectTypes
	p.Actions = []Option{{Value: "", Label: translate(l, "audit.any")}}
	for _, a := range auditActions {
		p.Actions = append(p.Actions, Option{Value: a, Label: actionLabel(l, a) + " (" + a + ")", Selected: a == f.Action})
	}
	users, _, err := w.d.Identity.Users(ctx, rc.actor(), "", 200)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	p.Users = []Option{{Value: "", Label: translate(l, "audit.any")}}
	for _, u := range users {
		p.Users = append(p.Users, Option{Value: u.ID, Label: u.Name + " (" + u.Login() + ")", Selected: u.ID == f.ActorID})
	}
	events, older, err := w.d.Audit.Query(ctx, rc.actor(), f)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	for _, e := range events {
		p.Rows = append(p.Rows, w.auditRow(ctx, rc, known, e))
	}
	filters := url.Values{}
	for k, v := range map[string]string{"from": p.From, "to": p.To, "actor": f.ActorID, "action": f.Action, "object": f.ObjectType} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	if older > 0 {
		v := url.Values{}
		for k, vals := range filters {
			v[k] = vals
		}
		v.Set("before", strconv.FormatInt(older, 10))
		p.OlderHref = "/audit?" + v.Encode()
	}
	if f.BeforeSeq > 0 {
		p.NewestHref = "/audit"
		if len(filters) > 0 {
			p.NewestHref += "?" + filters.Encode()
		}
	}
	w.render(rw, r, http.StatusOK, "audit", p)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (w *Web) auditRow(ctx context.Context, rc *reqCtx, known map[string]records.Object, e audit.Event) AuditRow {
	l, loc := rc.lang, w.location(rc.lang)
	row := AuditRow{
		At: formatDateTime(l, loc, e.At), Actor: actorName(l, e), Action: actionLabel(l, e.Action), ActionCode: e.Action,
		Badge: actionBadge(e.Action), ObjectName: e.ObjectName, IP: e.IP,
	}
	obj, isRecord := known[e.ObjectType]
	switch {
	case isRecord:
		row.ObjectType = objectLabel(l, obj.Label, obj.LabelZH)
		if e.Action != audit.ActionRecordDeleted && tenant.ValidID(e.ObjectID) {
			row.ObjectHref = recordHref(e.ObjectType, e.ObjectID)
		}
	case e.ObjectType != "":
		row.ObjectType = genericObjectType(l, e.ObjectType)
	}
	keys := changeKeys(obj, e.Changes)
	for i, k := range keys {
		if i == maxAuditChanges {
			row.More = translate(l, "audit.more", len(keys)-maxAuditChanges)
			break
		}
		c := e.Changes[k]
		cv := newChangeView("", c)
		if f, ok := obj.Field(k); ok && isRecord {
			cv.Label = fieldLabel(l, f)
			cv.Before, cv.After = plainValue(l, loc, &f, c.Before), plainValue(l, loc, &f, c.After)
		} else {
			cv.Label = genericFieldLabel(l, e.ObjectType, k)
			cv.Before, cv.After = plainValue(l, loc, nil, c.Before), plainValue(l, loc, nil, c.After)
			switch k {
			case "owner_id":
				if s, ok := c.Before.(string); ok {
					cv.Before = w.userName(ctx, rc, s)
				}
				if s, ok := c.After.(string); ok {
					cv.After = w.userName(ctx, rc, s)
				}
			case "role":
				cv.Before, cv.After = roleValue(l, c.Before, cv.Before), roleValue(l, c.After, cv.After)
			case "status":
				cv.Before, cv.After = statusValue(l, c.Before, cv.Before), statusValue(l, c.After, cv.After)
			case "reason":
				if s, ok := c.After.(string); ok {
					cv.After = translateOr(l, "reason."+s, cv.After)
				}
			}
		}
		row.Changes = append(row.Changes, cv)
	}
	return row
}

func genericObjectType(l Lang, t string) string {
	if _, ok := catalog["objtype."+t]; ok {
		return translate(l, "objtype."+t)
	}
	return t
}

func roleValue(l Lang, v any, def string) string {
	if s, ok := v.(string); ok && access.ValidRole(s) {
		return translate(l, "role."+s)
	}
	return def
}

func statusValue(l Lang, v any, def string) string {
	if s, ok := v.(string); ok {
		if _, known := catalog["status."+s]; known {
			return translate(l, "status."+s)
		}
	}
	return def
}
