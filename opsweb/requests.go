package opsweb

import (
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// standardObjects are offered as checkboxes; a tenant's custom objects
// are named in a free-text field.
var standardObjects = []string{"account", "contact", "lead", "opportunity", "activity"}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func tenantIndex(ts []operators.TenantSummary) map[tenant.ID]operators.TenantSummary {
	m := make(map[tenant.ID]operators.TenantSummary, len(ts))
	for _, t := range ts {
		m[t.ID] = t
	}
	return m
}

// RequestRow is one request or grant as the operator sees it.
type RequestRow struct {
	ID, Href                string
	TenantName, TenantSlug  string
	Kind                    string
	State, StateCode        string
	Reason, Ticket          string
	Requested               string
	RequestedScope          string
	RequestedWrite          bool
	RequestedHours          string
	Scope                   string
	Write                   bool
	Hours                   string
	From, Until, Ended      string
	ApprovalCount, Required int
	Approvals               []DecisionView
	Denial, Revocation      []DecisionView
	Open                    []NavItem // links to the scoped views while active
	// WithdrawHref is where the withdraw form posts; set only while the
	// request is pending, the one state the operator may take it back in.
	WithdrawHref string
}

// DecisionView is one admin decision as the operator sees it: when, and
// the statement. The admin's IP address stays on the tenant's side.
type DecisionView struct {
	At        string
	Statement string
}

// stateCode names a request's state, with the state machine's pending
// split in two: nobody approved yet, or approved by one admin of a tenant
// that requires two.
func stateCode(g supportaccess.Grant) string {
	if g.State == supportaccess.Pending && len(g.Approvals) > 0 {
		return "awaiting_second"
	}
	return string(g.State)
}

func hoursText(d time.Duration) string {
	return strconv.FormatFloat(d.Hours(), 'f', -1, 64)
}

func (c *Console) scopeText(l Lang, s supportaccess.Scope) string {
	names := make([]string, len(s.Objects))
	for i, o := range s.Objects {
		names[i] = objectLabel(l, o, "", "")
	}
	return strings.Join(names, ", ")
}

func decisions(ds ...supportaccess.Decision) []DecisionView {
	out := make([]DecisionView, 0, len(ds))
	for _, d := range ds {
		out = append(out, DecisionView{At: formatTime(d.At), Statement: d.Statement})
	}
	return out
}

func (c *Console) requestRow(l Lang, g supportaccess.Grant, idx map[tenant.ID]operators.TenantSummary) RequestRow {
	t := idx[tenant.ID(g.TenantID)]
	code := stateCode(g)
	row := RequestRow{ID: g.ID, Href: Prefix + "/requests/" + url.PathEscape(g.ID), TenantName: t.Name, TenantSlug: t.Slug,
		Kind: translateOr(l, "kind."+string(g.Kind), string(g.Kind)), StateCode: code, State: translateOr(l, "state."+code, code),
		Reason: g.Reason, Ticket: g.Ticket, Requested: formatTime(g.CreatedAt),
		RequestedScope: c.scopeText(l, g.Requested), RequestedWrite: g.Requested.Write, RequestedHours: hoursText(g.RequestedDuration),
		Scope: c.scopeText(l, g.Scope), Write: g.Scope.Write, Hours: hoursText(g.Duration),
		From: formatTimePtr(g.ActiveFrom), Until: formatTimePtr(g.ExpiresAt), Ended: formatTimePtr(g.EndedAt),
		ApprovalCount: len(g.Approvals), Required: g.RequiredApprovals}
	if row.TenantName == "" {
		row.TenantName = g.TenantID
	}
	for _, a := range g.Approvals {
		row.Approvals = append(row.Approvals, decisions(a.Decision)...)
	}
	if g.Denial != nil {
		row.Denial = decisions(*g.Denial)
	}
	if g.Revocation != nil {
		row.Revocation = decisions(*g.Revocation)
	}
	if g.State == supportaccess.Pending {
		row.WithdrawHref = row.Href + "/withdraw"
	}
	if g.State == supportaccess.Active && t.Slug != "" {
		for _, o := range g.Scope.Objects {
			row.Open = append(row.Open, NavItem{Label: objectLabel(l, o, "", ""), Href: recordsHref(t.Slug, o)})
		}
	}
	return row
}

func recordsHref(slug, object string) string {
	return Prefix + "/tenants/" + url.PathEscape(slug) + "/objects/" + url.PathEscape(object) + "/records"
}

// ---- The request form -------------------------------------------------------

// RequestFormPage asks a tenant for access.
type RequestFormPage struct {
	Shell
	Tenants   []Option
	Kinds     []Option
	Objects   []ObjectCheck
	Custom    string
	Reason    string
	Ticket    string
	Write     bool
	Hours     string
	Errors    map[string]string
	FormError string // the service's refusal, shown above the form
	MaxHours  int
	HasErrors bool
}

// ObjectCheck is one object checkbox.
type ObjectCheck struct {
	Name, Label, ID string
	Checked         bool
}

type requestInput struct {
	tenant, kind, reason, ticket, custom, hours string
	objects                                     []string
	write                                       bool
}

func (c *Console) requestFormPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx, ts []operators.TenantSummary, in requestInput) *RequestFormPage {
	l := rc.lang
	p := &RequestFormPage{Shell: c.shell(rw, r, rc, l, translate(l, "req.new_title"), "new"), Custom: in.custom, Reason: in.reason,
		Ticket: in.ticket, Write: in.write, Hours: in.hours, Errors: map[string]string{}, MaxHours: int(supportaccess.MaxDuration.Hours())}
	p.Tenants = append(p.Tenants, Option{Value: "", Label: translate(l, "req.tenant_choose"), Selected: in.tenant == ""})
	for _, t := range ts {
		p.Tenants = append(p.Tenants, Option{Value: t.Slug, Label: t.Name + " (" + t.Slug + ")", Selected: t.Slug == in.tenant})
	}
	for _, k := range supportaccess.Kinds {
		p.Kinds = append(p.Kinds, Option{Value: string(k), Label: translateOr(l, "kind."+string(k), string(k)), Selected: string(k) == in.kind})
	}
	for _, o := range standardObjects {
		p.Objects = append(p.Objects, ObjectCheck{Name: o, Label: objectLabel(l, o, "", ""), ID: "obj-" + o, Checked: slices.Contains(in.objects, o)})
	}
	return p
}

func (c *Console) requestForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ts, err := c.d.Operators.Tenants(r.Context(), rc.p)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	in := requestInput{tenant: r.URL.Query().Get("tenant"), kind: string(supportaccess.KindSupport), hours: "4"}
	c.render(rw, r, http.StatusOK, "request_form", c.requestFormPage(rw, r, rc, ts, in))
}

var objectName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (c *Console) requestSubmit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	f := r.PostForm
	in := requestInput{tenant: strings.TrimSpace(f.Get("tenant")), kind: f.Get("kind"), reason: f.Get("reason"), ticket: f.Get("ticket"),
		custom: f.Get("custom_objects"), hours: strings.TrimSpace(f.Get("hours")), write: f.Get("access") == "write"}
	for _, o := range f["objects"] {
		if slices.Contains(standardObjects, o) && !slices.Contains(in.objects, o) {
			in.objects = append(in.objects, o)
		}
	}
	ts, err := c.d.Operators.Tenants(ctx, rc.p)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	p := c.requestFormPage(rw, r, rc, ts, in)
	l := rc.lang
	// The form checks what it can name beside a field; the service
	// decides the rest and its refusal is shown above the form.
	scope := slices.Clone(in.objects)
	for _, part := range strings.FieldsFunc(in.custom, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '，' }) {
		if !objectName.MatchString(part) {
			p.Errors["custom"] = translate(l, "req.err_custom")
			break
		}
		if !slices.Contains(scope, part) {
			scope = append(scope, part)
		}
	}
	var tid tenant.ID
	if in.tenant == "" {
		p.Errors["tenant"] = translate(l, "req.err_tenant")
	} else if t, err := c.d.Tenants.TenantBySlug(ctx, in.tenant); err != nil {
		p.Errors["tenant"] = translate(l, "req.err_tenant")
	} else {
		tid = t.ID
	}
	if strings.TrimSpace(in.reason) == "" {
		p.Errors["reason"] = translate(l, "req.err_required")
	}
	if strings.TrimSpace(in.ticket) == "" {
		p.Errors["ticket"] = translate(l, "req.err_required")
	}
	if len(scope) == 0 && p.Errors["custom"] == "" {
		p.Errors["objects"] = translate(l, "req.err_objects")
	}
	hours, err := strconv.ParseFloat(in.hours, 64)
	if err != nil || math.IsNaN(hours) || hours <= 0 || hours > supportaccess.MaxDuration.Hours() {
		p.Errors["hours"] = translate(l, "req.err_hours")
	}
	if len(p.Errors) == 0 {
		g, err := c.d.Support.Request(ctx, rc.operator(r), tid, supportaccess.Kind(in.kind), in.reason, in.ticket,
			supportaccess.Scope{Objects: scope, Write: in.write}, time.Duration(hours*float64(time.Hour)))
		if err == nil {
			c.setFlash(rw, "requested")
			http.Redirect(rw, r, Prefix+"/requests/"+url.PathEscape(g.ID), http.StatusSeeOther)
			return
		}
		e, ok := apperr.As(err)
		if !ok || (e.Kind != apperr.KindInvalid && e.Kind != apperr.KindConflict) {
			c.fail(rw, r, rc, err)
			return
		}
		// The service's messages are public by construction (apperr).
		p.FormError = e.Message
	}
	p.HasErrors = true
	c.render(rw, r, http.StatusUnprocessableEntity, "request_form", p)
}

// ---- Status pages ------------------------------------------------------------

// RequestsPage lists the operator's requests in every tenant.
type RequestsPage struct {
	Shell
	Requests []RequestRow
}

func (c *Console) requestsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	gs, err := c.d.Support.OperatorRequests(ctx, rc.p.Operator.ID)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	ts, err := c.d.Operators.Tenants(ctx, rc.p)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	idx := tenantIndex(ts)
	p := &RequestsPage{Shell: c.shell(rw, r, rc, rc.lang, translate(rc.lang, "req.list_title"), "requests")}
	for _, g := range gs {
		p.Requests = append(p.Requests, c.requestRow(rc.lang, g, idx))
	}
	c.render(rw, r, http.StatusOK, "requests", p)
}

// RequestPage is one request in detail.
type RequestPage struct {
	Shell
	Request RequestRow
	// WithdrawError says why a withdrawal was refused (the request was
	// decided meanwhile); the page then shows the request as it stands.
	WithdrawError string
}

// ownRequest loads the operator's own request; ok false means the 404
// (or an error page) was already written. Another operator's request
// answers exactly like a missing one.
func (c *Console) ownRequest(rw http.ResponseWriter, r *http.Request, rc *reqCtx) (tenant.ID, supportaccess.Grant, bool) {
	id := r.PathValue("id")
	if !tenant.ValidID(id) {
		c.renderError(rw, r, rc, rc.lang, http.StatusNotFound, "error.404.title", "error.404.text")
		return "", supportaccess.Grant{}, false
	}
	tid, g, err := c.d.Grants.GrantByID(r.Context(), id)
	if err != nil || g.OperatorID != rc.p.Operator.ID {
		if err != nil && !apperr.Is(err, apperr.KindNotFound) {
			c.fail(rw, r, rc, err)
			return "", supportaccess.Grant{}, false
		}
		c.renderError(rw, r, rc, rc.lang, http.StatusNotFound, "error.404.title", "error.404.text")
		return "", supportaccess.Grant{}, false
	}
	return tid, g, true
}

func (c *Console) requestDetail(rw http.ResponseWriter, r *http.Request, rc *reqCtx, g supportaccess.Grant) (*RequestPage, error) {
	ts, err := c.d.Operators.Tenants(r.Context(), rc.p)
	if err != nil {
		return nil, err
	}
	return &RequestPage{Shell: c.shell(rw, r, rc, rc.lang, translate(rc.lang, "req.detail_title"), "requests"),
		Request: c.requestRow(rc.lang, g.At(c.d.Now()), tenantIndex(ts))}, nil
}

func (c *Console) requestPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	_, g, ok := c.ownRequest(rw, r, rc)
	if !ok {
		return
	}
	p, err := c.requestDetail(rw, r, rc, g)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	c.render(rw, r, http.StatusOK, "request", p)
}

// withdrawRequest takes back the operator's pending request. The
// service decides (only pending, only the requesting operator) and
// writes the event in the tenant's trail; a request decided meanwhile is
// shown as it now stands, with why it can no longer be withdrawn.
func (c *Console) withdrawRequest(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	tid, g, ok := c.ownRequest(rw, r, rc)
	if !ok {
		return
	}
	ctx := r.Context()
	_, err := c.d.Support.Withdraw(ctx, rc.operator(r), tid, g.ID)
	if err == nil {
		c.setFlash(rw, "withdrawn")
		http.Redirect(rw, r, Prefix+"/requests/"+url.PathEscape(g.ID), http.StatusSeeOther)
		return
	}
	if !apperr.Is(err, apperr.KindConflict) {
		c.fail(rw, r, rc, err)
		return
	}
	_, cur, err := c.d.Grants.GrantByID(ctx, g.ID)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	p, err := c.requestDetail(rw, r, rc, cur)
	if err != nil {
		c.fail(rw, r, rc, err)
		return
	}
	p.WithdrawError = translate(rc.lang, "req.withdraw_refused", p.Request.State)
	c.render(rw, r, http.StatusConflict, "request", p)
}
