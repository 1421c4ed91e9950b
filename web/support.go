package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// The tenant admins' side of vendor support access: the operator's
// pending requests with an approve and a deny form each, the grants in
// force with a revoke form and a link to what the operator did, and the
// history of every decision. The supportaccess service decides; this page
// only presents grants and forwards each decision with the admin's
// written statement, so a mistake here can hide a form but never widen a
// grant (the service refuses anything broader than the request).

// SupportAccess is what the page needs from the support access service;
// *supportaccess.Service implements it. Every method is admin-only there.
type SupportAccess interface {
	List(ctx context.Context, actor tenant.Actor) ([]supportaccess.Grant, error)
	Approve(ctx context.Context, actor tenant.Actor, id, statement string, scope *supportaccess.Scope, duration time.Duration) (supportaccess.Grant, error)
	Deny(ctx context.Context, actor tenant.Actor, id, statement string) (supportaccess.Grant, error)
	Revoke(ctx context.Context, actor tenant.Actor, id, statement string) (supportaccess.Grant, error)
	RequiredApprovals(ctx context.Context, actor tenant.Actor) (int, error)
	SetRequiredApprovals(ctx context.Context, actor tenant.Actor, n int) error
	PendingCount(ctx context.Context, actor tenant.Actor) (int, error)
}

const supportPath = "/settings/support-access"

func init() {
	flashKinds["support_approved"] = false
	flashKinds["support_denied"] = false
	flashKinds["support_revoked"] = false
	flashKinds["support_settings"] = false
}

func (w *Web) registerSupport(mux *http.ServeMux) {
	mux.Handle("GET "+supportPath, w.authed(w.supportPage))
	mux.Handle("POST "+supportPath+"/{id}/approve", w.authed(w.supportDecide("approve")))
	mux.Handle("POST "+supportPath+"/{id}/deny", w.authed(w.supportDecide("deny")))
	mux.Handle("POST "+supportPath+"/{id}/revoke", w.authed(w.supportDecide("revoke")))
	mux.Handle("POST "+supportPath+"/settings", w.authed(w.supportSettings))
}

// SupportNavActive reports whether the page is the support access page,
// for the layout's navigation link.
func (s *Shell) SupportNavActive() bool {
	return s.Path == supportPath || strings.HasPrefix(s.Path, supportPath+"/") || strings.HasPrefix(s.Path, supportPath+"?")
}

// ---- View model -------------------------------------------------------------

// SupportPage is the support access page.
type SupportPage struct {
	Shell
	Pending []SupportGrantView
	Active  []SupportGrantView
	History []SupportGrantView
	// Error reports a failed decision whose form is no longer on the page
	// (another admin decided first and the grant moved on).
	Error string
	// RequiredApprovals is the tenant's rule (1 or 2 admins), offered
	// with a form that changes it.
	RequiredApprovals int
	SettingsAction    string
	SettingsErr       string
}

// SupportDecisionView is one admin decision as shown.
type SupportDecisionView struct {
	Admin     string
	At        string
	IP        string
	Statement string
}

// SupportObjectView is one object of a scope, with its checkbox state on
// the approve form.
type SupportObjectView struct {
	Name    string
	Label   string
	ID      string
	Checked bool
}

// SupportGrantView is one request or grant and the forms it offers.
type SupportGrantView struct {
	ID, Anchor        string
	OperatorID        string
	Kind              string
	Reason, Ticket    string
	State, StateCode  string
	Created           string
	RequestedObjects  string
	RequestedWrite    bool
	RequestedHours    string
	Objects           []SupportObjectView // current scope (approve form: the choices)
	ScopeText         string
	Write             bool
	Hours             string
	RequiredApprovals int
	ApprovalCount     int
	Approvals         []SupportDecisionView
	Denial            []SupportDecisionView // at most one; a slice for the template's "decisions"
	Revocation        []SupportDecisionView
	From, Until       string
	Ended             string
	AuditHref         string

	// Forms (pending: approve and deny; active: revoke).
	ApproveAction, DenyAction, RevokeAction string
	ApproveStatement                        string
	WriteOffered, WriteChecked              bool
	HoursValue, MaxHours                    string
	ApproveErr                              string
	DenyStatement, DenyErr                  string
	RevokeStatement, RevokeErr              string
}

// supportForm is a submitted decision that failed, shown again with the
// admin's input and the error beside its form.
type supportForm struct {
	grantID, verb string
	statement     string
	objects       []string
	write         bool
	hours         string
	err           string
}

func supportHref(id, verb string) string {
	return supportPath + "/" + url.PathEscape(id) + "/" + verb
}

// formatHours shows a duration in hours without trailing zeros ("24",
// "1.5"), the form the hours input accepts back.
func formatHours(d time.Duration) string {
	return strconv.FormatFloat(d.Hours(), 'f', -1, 64)
}

func (w *Web) supportAllowed(rw http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if w.d.Support == nil {
		w.notFoundRC(rw, r, rc)
		return false
	}
	// The service checks again; answering here keeps non-admins from
	// learning even that the page exists in a useful form.
	if !access.CanManageSettings(rc.actor()) {
		w.forbidden(rw, r, rc)
		return false
	}
	return true
}

func (w *Web) supportPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.supportAllowed(rw, r, rc) {
		return
	}
	w.renderSupport(rw, r, rc, nil, http.StatusOK)
}

func (w *Web) renderSupport(rw http.ResponseWriter, r *http.Request, rc *reqCtx, failed *supportForm, status int) {
	shownSettings := false
	gs, err := w.d.Support.List(r.Context(), rc.actor())
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	n, err := w.d.Support.RequiredApprovals(r.Context(), rc.actor())
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	l := rc.lang
	p := &SupportPage{Shell: w.shell(rw, r, rc, l, translate(l, "support.title"), "support"),
		RequiredApprovals: n, SettingsAction: supportPath + "/settings"}
	if failed != nil && failed.verb == "settings" {
		p.SettingsErr, shownSettings = failed.err, true
	}
	shown := shownSettings
	for _, g := range gs {
		v := w.supportGrantView(rc, g)
		switch g.State {
		case supportaccess.Pending:
			if failed != nil && failed.grantID == g.ID && (failed.verb == "approve" || failed.verb == "deny") {
				applySupportForm(&v, failed)
				shown = true
			}
			p.Pending = append(p.Pending, v)
		case supportaccess.Active, supportaccess.Approved:
			if failed != nil && failed.grantID == g.ID && failed.verb == "revoke" {
				v.RevokeStatement, v.RevokeErr = failed.statement, failed.err
				shown = true
			}
			p.Active = append(p.Active, v)
		default:
			p.History = append(p.History, v)
		}
	}
	if failed != nil && !shown {
		p.Error = failed.err
	}
	// The oldest pending request first: it has waited longest.
	slices.Reverse(p.Pending)
	w.render(rw, r, status, "support", p)
}

// applySupportForm puts a failed submission back into its form.
func applySupportForm(v *SupportGrantView, f *supportForm) {
	if f.verb == "deny" {
		v.DenyStatement, v.DenyErr = f.statement, f.err
		return
	}
	v.ApproveStatement, v.ApproveErr, v.HoursValue = f.statement, f.err, f.hours
	v.WriteChecked = v.WriteOffered && f.write
	for i := range v.Objects {
		v.Objects[i].Checked = slices.Contains(f.objects, v.Objects[i].Name)
	}
}

func (w *Web) decisionView(l Lang, d supportaccess.Decision) SupportDecisionView {
	return SupportDecisionView{Admin: d.AdminName, At: formatDateTime(l, w.location(l), d.At), IP: d.IP, Statement: d.Statement}
}

func (w *Web) supportGrantView(rc *reqCtx, g supportaccess.Grant) SupportGrantView {
	l := rc.lang
	loc := w.location(l)
	label := func(name string) string {
		if o, ok := rc.object(name); ok {
			return objectLabel(l, o.Label, o.LabelZH)
		}
		return name
	}
	join := func(names []string) string {
		var out []string
		for _, n := range names {
			out = append(out, label(n))
		}
		return strings.Join(out, translate(l, "support.list_sep"))
	}
	v := SupportGrantView{
		ID: g.ID, Anchor: "grant-" + g.ID, OperatorID: g.OperatorID,
		Kind:   translateOr(l, "support.kind."+string(g.Kind), string(g.Kind)),
		Reason: g.Reason, Ticket: g.Ticket,
		State: translateOr(l, "support.state."+string(g.State), string(g.State)), StateCode: string(g.State),
		Created:          formatDateTime(l, loc, g.CreatedAt),
		RequestedObjects: join(g.Requested.Objects), RequestedWrite: g.Requested.Write, RequestedHours: formatHours(g.RequestedDuration),
		ScopeText: join(g.Scope.Objects), Write: g.Scope.Write, Hours: formatHours(g.Duration),
		RequiredApprovals: g.RequiredApprovals, ApprovalCount: len(g.Approvals),
		ApproveAction: supportHref(g.ID, "approve"), DenyAction: supportHref(g.ID, "deny"), RevokeAction: supportHref(g.ID, "revoke"),
	}
	// The approve form offers the grant's current scope: the request, or
	// what an earlier approval narrowed it to, since a further approval
	// may only narrow again.
	for _, o := range g.Scope.Objects {
		v.Objects = append(v.Objects, SupportObjectView{Name: o, Label: label(o), ID: "g-" + g.ID + "-obj-" + o, Checked: true})
	}
	v.WriteOffered, v.WriteChecked = g.Scope.Write, g.Scope.Write
	v.HoursValue, v.MaxHours = formatHours(g.Duration), formatHours(g.Duration)
	for _, a := range g.Approvals {
		v.Approvals = append(v.Approvals, w.decisionView(l, a.Decision))
	}
	if g.Denial != nil {
		v.Denial = []SupportDecisionView{w.decisionView(l, *g.Denial)}
	}
	if g.Revocation != nil {
		v.Revocation = []SupportDecisionView{w.decisionView(l, *g.Revocation)}
	}
	if g.ActiveFrom != nil {
		v.From = formatDateTime(l, loc, *g.ActiveFrom)
	}
	if g.ExpiresAt != nil {
		v.Until = formatDateTime(l, loc, *g.ExpiresAt)
	}
	if g.EndedAt != nil {
		v.Ended = formatDateTime(l, loc, *g.EndedAt)
	}
	v.ApproveStatement = suggestedStatement(l, rc.p.User.Name, g, join(g.Scope.Objects))
	if g.ActiveFrom != nil {
		v.AuditHref = operatorAuditHref(loc, g)
	}
	return v
}

// suggestedStatement is the approval text the form starts with. The admin
// confirms it by submitting or edits it; either way the words stored are
// the ones they sent.
func suggestedStatement(l Lang, admin string, g supportaccess.Grant, objects string) string {
	key := "support.suggest_read"
	if g.Scope.Write {
		key = "support.suggest_write"
	}
	return translate(l, key, admin, g.OperatorID, objects, g.Ticket, formatHours(g.Duration))
}

// operatorAuditHref links to the audit page filtered to support.use events
// over the grant's window (the dates are in the page's time zone, as the
// audit page reads them), and to the operator when their ID is one the
// audit filter accepts. The audit filter has no "via" criterion, so on
// days with two grants both show; each row names its grant.
func operatorAuditHref(loc *time.Location, g supportaccess.Grant) string {
	q := url.Values{"action": {supportaccess.ActionUsed}}
	if g.ActiveFrom != nil {
		q.Set("from", g.ActiveFrom.In(loc).Format(time.DateOnly))
	}
	end := g.ExpiresAt
	if g.EndedAt != nil {
		end = g.EndedAt
	}
	if end != nil {
		q.Set("to", end.In(loc).Format(time.DateOnly))
	}
	if tenant.ValidID(g.OperatorID) {
		q.Set("actor", g.OperatorID)
	}
	return "/audit?" + q.Encode()
}

// ---- Decisions --------------------------------------------------------------

func (w *Web) supportDecide(verb string) handlerFunc {
	return func(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
		if !w.supportAllowed(rw, r, rc) {
			return
		}
		l := rc.lang
		id := r.PathValue("id")
		f := &supportForm{grantID: id, verb: verb, statement: strings.TrimSpace(r.PostForm.Get("statement"))}
		// Checked before the service (which refuses it too) so that the
		// message names exactly what is missing.
		if f.statement == "" {
			f.err = translate(l, "support.err.statement")
		}
		var err error
		var scope *supportaccess.Scope
		var duration time.Duration
		if verb == "approve" {
			f.objects = r.PostForm["objects"]
			f.write = r.PostForm.Get("write") == "true"
			f.hours = strings.TrimSpace(r.PostForm.Get("hours"))
			if len(f.objects) == 0 && f.err == "" {
				f.err = translate(l, "support.err.objects")
			}
			if f.hours != "" {
				h, perr := strconv.ParseFloat(f.hours, 64)
				if perr != nil || h <= 0 || h > supportaccess.MaxDuration.Hours() {
					if f.err == "" {
						f.err = translate(l, "support.err.hours")
					}
				} else {
					duration = time.Duration(h * float64(time.Hour))
				}
			}
			scope = &supportaccess.Scope{Objects: f.objects, Write: f.write}
		}
		if f.err != "" {
			w.renderSupport(rw, r, rc, f, http.StatusUnprocessableEntity)
			return
		}
		flash := "support_revoked"
		switch verb {
		case "approve":
			_, err = w.d.Support.Approve(r.Context(), rc.actor(), id, f.statement, scope, duration)
			flash = "support_approved"
		case "deny":
			_, err = w.d.Support.Deny(r.Context(), rc.actor(), id, f.statement)
			flash = "support_denied"
		default:
			_, err = w.d.Support.Revoke(r.Context(), rc.actor(), id, f.statement)
		}
		if err != nil {
			msg, status, ok := supportErrMessage(l, err)
			if !ok {
				w.fail(rw, r, rc, err)
				return
			}
			f.err = msg
			w.renderSupport(rw, r, rc, f, status)
			return
		}
		w.setFlash(rw, flash)
		http.Redirect(rw, r, supportPath+"#grant-"+url.PathEscape(id), http.StatusSeeOther)
	}
}

// supportErrMessage words a refused decision for the form; ok is false
// for errors that deserve the error page (not found, forbidden, internal).
func supportErrMessage(l Lang, err error) (msg string, status int, ok bool) {
	switch {
	case errors.Is(err, supportaccess.ErrSameAdmin):
		return translate(l, "support.err.same_admin"), http.StatusConflict, true
	case errors.Is(err, supportaccess.ErrIllegal):
		return translate(l, "support.err.conflict"), http.StatusConflict, true
	case errors.Is(err, supportaccess.ErrBroaderAsk):
		return translate(l, "support.err.wider"), http.StatusUnprocessableEntity, true
	case apperr.Is(err, apperr.KindConflict):
		// The store's version check: another admin saved first.
		return translate(l, "support.err.conflict"), http.StatusConflict, true
	case apperr.Is(err, apperr.KindInvalid):
		if e, isApp := apperr.As(err); isApp && strings.Contains(e.Message, "statement") {
			return translate(l, "support.err.statement"), http.StatusUnprocessableEntity, true
		}
		return translate(l, "support.err.invalid"), http.StatusUnprocessableEntity, true
	}
	return "", 0, false
}

// supportSettings changes how many different admins must approve an
// operator's request; requests already made keep their number.
func (w *Web) supportSettings(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.supportAllowed(rw, r, rc) {
		return
	}
	n, convErr := strconv.Atoi(r.PostForm.Get("required_approvals"))
	if convErr != nil || (n != 1 && n != 2) {
		w.renderSupport(rw, r, rc, &supportForm{verb: "settings", err: translate(rc.lang, "support.err.required")}, http.StatusBadRequest)
		return
	}
	if err := w.d.Support.SetRequiredApprovals(r.Context(), rc.actor(), n); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.setFlash(rw, "support_settings")
	http.Redirect(rw, r, supportPath, http.StatusSeeOther)
}
