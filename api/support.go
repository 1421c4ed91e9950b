package api

import (
	"context"
	"net/http"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// SupportAccess is the tenant admins' side of operator access grants.
type SupportAccess interface {
	List(ctx context.Context, actor tenant.Actor) ([]supportaccess.Grant, error)
	Approve(ctx context.Context, actor tenant.Actor, id, statement string, scope *supportaccess.Scope, duration time.Duration) (supportaccess.Grant, error)
	Deny(ctx context.Context, actor tenant.Actor, id, statement string) (supportaccess.Grant, error)
	Revoke(ctx context.Context, actor tenant.Actor, id, statement string) (supportaccess.Grant, error)
	RequiredApprovals(ctx context.Context, actor tenant.Actor) (int, error)
	SetRequiredApprovals(ctx context.Context, actor tenant.Actor, n int) error
}

// SupportSettingsDTO answers GET|PUT /api/v1/settings/support-access:
// how many different admins must approve an operator's request (1 or 2).
// A change applies to requests made after it.
type SupportSettingsDTO struct {
	RequiredApprovals int `json:"required_approvals"`
}

// PutSupportSettingsRequest is the body of PUT /api/v1/settings/support-access.
type PutSupportSettingsRequest struct {
	RequiredApprovals *int `json:"required_approvals"`
}

// GrantScopeDTO is what a grant reaches.
type GrantScopeDTO struct {
	Objects []string `json:"objects"`
	Write   bool     `json:"write"`
}

// GrantDecisionDTO is one admin's decision.
type GrantDecisionDTO struct {
	AdminID   string    `json:"admin_id"`
	AdminName string    `json:"admin_name"`
	IP        string    `json:"ip"`
	At        time.Time `json:"at"`
	Statement string    `json:"statement"`
}

// GrantDTO is an operator's access request and what was decided.
type GrantDTO struct {
	ID                string             `json:"id"`
	OperatorID        string             `json:"operator_id"`
	Kind              string             `json:"kind"`
	Reason            string             `json:"reason"`
	Ticket            string             `json:"ticket"`
	State             string             `json:"state"`
	Requested         GrantScopeDTO      `json:"requested"`
	RequestedHours    float64            `json:"requested_hours"`
	Scope             GrantScopeDTO      `json:"scope"`
	Hours             float64            `json:"hours"`
	RequiredApprovals int                `json:"required_approvals"`
	Approvals         []GrantDecisionDTO `json:"approvals"`
	Denial            *GrantDecisionDTO  `json:"denial,omitempty"`
	Revocation        *GrantDecisionDTO  `json:"revocation,omitempty"`
	CreatedAt         time.Time          `json:"created_at"`
	ActiveFrom        *time.Time         `json:"active_from,omitempty"`
	ExpiresAt         *time.Time         `json:"expires_at,omitempty"`
	EndedAt           *time.Time         `json:"ended_at,omitempty"`
}

// GrantList answers GET /api/v1/support-access.
type GrantList struct {
	Items []GrantDTO `json:"items"`
}

// GrantDecisionRequest is the body of approve, deny and revoke. Statement
// is the written authorization (or reason) the admin types or confirms;
// an approval may narrow Scope and shorten Hours.
type GrantDecisionRequest struct {
	Statement string         `json:"statement"`
	Scope     *GrantScopeDTO `json:"scope,omitempty"`
	Hours     float64        `json:"hours,omitempty"`
}

func decisionDTO(d *supportaccess.Decision) *GrantDecisionDTO {
	if d == nil {
		return nil
	}
	return &GrantDecisionDTO{AdminID: d.AdminID, AdminName: d.AdminName, IP: d.IP, At: d.At, Statement: d.Statement}
}

func grantDTO(g supportaccess.Grant) GrantDTO {
	out := GrantDTO{ID: g.ID, OperatorID: g.OperatorID, Kind: string(g.Kind), Reason: g.Reason, Ticket: g.Ticket, State: string(g.State),
		Requested: GrantScopeDTO{Objects: g.Requested.Objects, Write: g.Requested.Write}, RequestedHours: g.RequestedDuration.Hours(),
		Scope: GrantScopeDTO{Objects: g.Scope.Objects, Write: g.Scope.Write}, Hours: g.Duration.Hours(), RequiredApprovals: g.RequiredApprovals,
		Approvals: []GrantDecisionDTO{}, Denial: decisionDTO(g.Denial), Revocation: decisionDTO(g.Revocation),
		CreatedAt: g.CreatedAt, ActiveFrom: g.ActiveFrom, ExpiresAt: g.ExpiresAt, EndedAt: g.EndedAt}
	for _, a := range g.Approvals {
		out.Approvals = append(out.Approvals, *decisionDTO(&a.Decision))
	}
	return out
}

func (a *API) supportRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/support-access", handler: a.listGrants},
		{Method: "POST", Pattern: "/api/v1/support-access/{id}/approve", handler: a.decideGrant("approve")},
		{Method: "POST", Pattern: "/api/v1/support-access/{id}/deny", handler: a.decideGrant("deny")},
		{Method: "POST", Pattern: "/api/v1/support-access/{id}/revoke", handler: a.decideGrant("revoke")},
		{Method: "GET", Pattern: "/api/v1/settings/support-access", handler: a.getSupportSettings},
		{Method: "PUT", Pattern: "/api/v1/settings/support-access", handler: a.putSupportSettings},
	}
}

func (a *API) getSupportSettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	n, err := a.d.SupportAccess.RequiredApprovals(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SupportSettingsDTO{RequiredApprovals: n})
}

func (a *API) putSupportSettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req PutSupportSettingsRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.RequiredApprovals == nil {
		a.writeError(w, r, apperr.InvalidFields(map[string]string{"required_approvals": "required"}))
		return
	}
	if err := a.d.SupportAccess.SetRequiredApprovals(r.Context(), p.Actor, *req.RequiredApprovals); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SupportSettingsDTO{RequiredApprovals: *req.RequiredApprovals})
}

func (a *API) listGrants(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	gs, err := a.d.SupportAccess.List(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := GrantList{Items: make([]GrantDTO, 0, len(gs))}
	for _, g := range gs {
		out.Items = append(out.Items, grantDTO(g))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) decideGrant(verb string) func(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	return func(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
		var req GrantDecisionRequest
		if err := a.decode(w, r, &req); err != nil {
			a.writeError(w, r, err)
			return
		}
		id := r.PathValue("id")
		var g supportaccess.Grant
		var err error
		switch verb {
		case "approve":
			var scope *supportaccess.Scope
			if req.Scope != nil {
				scope = &supportaccess.Scope{Objects: req.Scope.Objects, Write: req.Scope.Write}
			}
			if req.Hours < 0 {
				a.writeError(w, r, apperr.InvalidFields(map[string]string{"hours": "must not be negative"}))
				return
			}
			g, err = a.d.SupportAccess.Approve(r.Context(), p.Actor, id, req.Statement, scope, time.Duration(req.Hours*float64(time.Hour)))
		case "deny":
			g, err = a.d.SupportAccess.Deny(r.Context(), p.Actor, id, req.Statement)
		default:
			g, err = a.d.SupportAccess.Revoke(r.Context(), p.Actor, id, req.Statement)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, grantDTO(g))
	}
}

// GrantToDTO maps a grant for the operator API, which shares the shape.
func GrantToDTO(g supportaccess.Grant) GrantDTO { return grantDTO(g) }
