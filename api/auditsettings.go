package api

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// AuditSettingsService reads and changes a tenant's audit retention
// period; both answer forbidden to anyone but an admin.
type AuditSettingsService interface {
	Get(ctx context.Context, actor tenant.Actor) (int, error)
	Put(ctx context.Context, actor tenant.Actor, days int) (int, error)
}

// AuditSettingsDTO answers GET|PUT /api/v1/settings/audit: how long the
// tenant's audit events are kept, and the bounds an admin may choose in.
type AuditSettingsDTO struct {
	RetentionDays        int `json:"retention_days"`
	MinRetentionDays     int `json:"min_retention_days"`
	MaxRetentionDays     int `json:"max_retention_days"`
	DefaultRetentionDays int `json:"default_retention_days"`
}

// PutAuditSettingsRequest is the body of PUT /api/v1/settings/audit.
type PutAuditSettingsRequest struct {
	RetentionDays *int `json:"retention_days"`
}

func (a *API) auditSettingsRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/settings/audit", handler: a.getAuditSettings},
		{Method: "PUT", Pattern: "/api/v1/settings/audit", handler: a.putAuditSettings},
	}
}

func auditSettingsDTO(days int) AuditSettingsDTO {
	return AuditSettingsDTO{RetentionDays: days, MinRetentionDays: audit.MinRetentionDays, MaxRetentionDays: audit.MaxRetentionDays,
		DefaultRetentionDays: audit.DefaultRetentionDays}
}

func (a *API) getAuditSettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.AuditSettings == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	days, err := a.d.AuditSettings.Get(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditSettingsDTO(days))
}

func (a *API) putAuditSettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.AuditSettings == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	var req PutAuditSettingsRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.RetentionDays == nil {
		a.writeError(w, r, apperr.InvalidFields(map[string]string{"retention_days": "required"}))
		return
	}
	days, err := a.d.AuditSettings.Put(r.Context(), p.Actor, *req.RetentionDays)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditSettingsDTO(days))
}
