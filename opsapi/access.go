package opsapi

import (
	"context"
	"net/http"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// Support is the grant service as the operator side uses it.
type Support interface {
	Request(ctx context.Context, op supportaccess.Operator, tid tenant.ID, kind supportaccess.Kind, reason, ticket string, scope supportaccess.Scope, duration time.Duration) (supportaccess.Grant, error)
	ActiveGrant(ctx context.Context, operatorID string, tid tenant.ID, object string, write bool) (supportaccess.Grant, error)
	RecordUse(ctx context.Context, op supportaccess.Operator, tid tenant.ID, g supportaccess.Grant, what, object string, ids []string) error
}

// Grants finds a grant by ID across tenants.
type Grants interface {
	GrantByID(ctx context.Context, id string) (tenant.ID, supportaccess.Grant, error)
}

// Tenants finds a tenant by slug.
type Tenants interface {
	TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error)
}

// Records reads records as an operator actor (masked, never decrypted).
type Records interface {
	Get(ctx context.Context, actor tenant.Actor, object, id string) (records.Record, error)
	List(ctx context.Context, actor tenant.Actor, object string, q records.ListQuery) ([]records.Record, string, error)
	Update(ctx context.Context, actor tenant.Actor, object, id string, version int64, ownerID string, in records.Values) (records.Record, error)
}

// AccessRequest is the body of POST /ops/api/v1/access-requests.
type AccessRequest struct {
	Tenant        string            `json:"tenant"`
	Kind          string            `json:"kind,omitempty"`
	Reason        string            `json:"reason"`
	Ticket        string            `json:"ticket"`
	Scope         api.GrantScopeDTO `json:"scope"`
	DurationHours float64           `json:"duration_hours"`
}

func (a *API) registerAccess(mux *http.ServeMux) {
	mux.Handle("POST "+Prefix+"/access-requests", a.authed(a.requestAccess, false))
	mux.Handle("GET "+Prefix+"/access-requests/{id}", a.authed(a.accessRequest, false))
	mux.Handle("GET "+Prefix+"/tenants/{tenant}/objects/{object}/records", a.authed(a.grantedList, false))
	mux.Handle("GET "+Prefix+"/tenants/{tenant}/objects/{object}/records/{id}", a.authed(a.grantedGet, false))
	mux.Handle("PATCH "+Prefix+"/tenants/{tenant}/objects/{object}/records/{id}", a.authed(a.grantedUpdate, false))
}

func (a *API) operator(r *http.Request) supportaccess.Operator {
	o := principal(r).Operator
	return supportaccess.Operator{ID: o.ID, Name: o.Name, IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(r.Context())}
}

// tenantID resolves a slug; an unknown one answers not_found like any
// tenant the operator has no grant for.
func (a *API) tenantID(ctx context.Context, slug string) (tenant.ID, error) {
	t, err := a.d.Tenants.TenantBySlug(ctx, slug)
	if err != nil {
		return "", apperr.NotFound("tenant")
	}
	return t.ID, nil
}

func (a *API) requestAccess(w http.ResponseWriter, r *http.Request) {
	var req AccessRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	tid, err := a.tenantID(r.Context(), req.Tenant)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	kind := supportaccess.Kind(req.Kind)
	if kind == "" {
		kind = supportaccess.KindSupport
	}
	g, err := a.d.Support.Request(r.Context(), a.operator(r), tid, kind, req.Reason, req.Ticket,
		supportaccess.Scope{Objects: req.Scope.Objects, Write: req.Scope.Write}, time.Duration(req.DurationHours*float64(time.Hour)))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.GrantToDTO(g))
}

func (a *API) accessRequest(w http.ResponseWriter, r *http.Request) {
	_, g, err := a.d.Grants.GrantByID(r.Context(), r.PathValue("id"))
	// Another operator's request answers exactly like a missing one.
	if err != nil || g.OperatorID != principal(r).Operator.ID {
		a.writeError(w, r, apperr.NotFound("access request"))
		return
	}
	writeJSON(w, http.StatusOK, api.GrantToDTO(g.At(time.Now())))
}

// granted resolves the tenant and the operator's active grant for the
// object (one that allows changes when write), and the actor records are
// read or changed as. Without a grant the answer is forbidden, whatever
// the tenant or object.
func (a *API) granted(r *http.Request, write bool) (tenant.ID, supportaccess.Grant, tenant.Actor, error) {
	tid, err := a.tenantID(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return "", supportaccess.Grant{}, tenant.Actor{}, apperr.Forbidden()
	}
	op := a.operator(r)
	g, err := a.d.Support.ActiveGrant(r.Context(), op.ID, tid, r.PathValue("object"), write)
	if err != nil {
		return "", supportaccess.Grant{}, tenant.Actor{}, err
	}
	actor := tenant.Operator(tid, op.ID, op.Name, tenant.Grant{ID: g.ID, Objects: g.Scope.Objects, Write: g.Scope.Write}, op.IP, op.UserAgent, op.RequestID)
	return tid, g, actor, nil
}

func (a *API) grantedList(w http.ResponseWriter, r *http.Request) {
	tid, g, actor, err := a.granted(r, false)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	object := r.PathValue("object")
	items, next, err := a.d.Records.List(r.Context(), actor, object, records.ListQuery{Limit: 50, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ids := make([]string, len(items))
	out := api.RecordList{Items: make([]api.RecordDTO, 0, len(items)), NextCursor: next}
	for i, rec := range items {
		ids[i] = rec.ID
		out.Items = append(out.Items, api.RecordToDTO(rec))
	}
	// What the operator saw goes to the tenant's trail before it leaves.
	if err := a.d.Support.RecordUse(r.Context(), a.operator(r), tid, g, "list", object, ids); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) grantedGet(w http.ResponseWriter, r *http.Request) {
	tid, g, actor, err := a.granted(r, false)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	object := r.PathValue("object")
	rec, err := a.d.Records.Get(r.Context(), actor, object, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.d.Support.RecordUse(r.Context(), a.operator(r), tid, g, "read", object, []string{rec.ID}); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RecordToDTO(rec))
}

// grantedUpdate changes one record under a grant that allows changes. The
// records service writes the change and its audit event (the operator via
// the grant, with before and after) in one transaction; protected values
// stay masked in the answer.
func (a *API) grantedUpdate(w http.ResponseWriter, r *http.Request) {
	var req api.UpdateRecordRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	_, _, actor, err := a.granted(r, true)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.OwnerID != "" {
		// Reassigning records is the tenant's own decision.
		a.writeError(w, r, apperr.Forbidden())
		return
	}
	rec, err := a.d.Records.Update(r.Context(), actor, r.PathValue("object"), r.PathValue("id"), req.Version, "", records.Values(req.Fields))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RecordToDTO(rec))
}
