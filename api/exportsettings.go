package api

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// ExportGovernance is what the API needs from package exportgov: the
// admins' export rules and the per-list export. Get and Put answer
// forbidden to anyone but an admin.
type ExportGovernance interface {
	Get(ctx context.Context, actor tenant.Actor) (exportgov.Settings, error)
	Put(ctx context.Context, actor tenant.Actor, s exportgov.Settings) (exportgov.Settings, error)
	StartListExport(ctx context.Context, actor tenant.Actor, lister exportgov.Lister, req exportgov.ListRequest) (*exportgov.ListExport, error)
}

// ExportSettingsDTO answers GET|PUT /api/v1/settings/export: who may
// export what, and how much per day.
type ExportSettingsDTO struct {
	ListRoles       []string `json:"list_roles"`
	FullRoles       []string `json:"full_roles"`
	DailyRowQuota   int64    `json:"daily_row_quota"`
	NotifyThreshold int64    `json:"notify_threshold"`
}

// PutExportSettingsRequest is the body of PUT /api/v1/settings/export;
// every field is required.
type PutExportSettingsRequest struct {
	ListRoles       *[]string `json:"list_roles"`
	FullRoles       *[]string `json:"full_roles"`
	DailyRowQuota   *int64    `json:"daily_row_quota"`
	NotifyThreshold *int64    `json:"notify_threshold"`
}

// listExportRoutes are the export rules and the per-list export
// (api/listexport.go).
func (a *API) listExportRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/settings/export", handler: a.getExportSettings},
		{Method: "PUT", Pattern: "/api/v1/settings/export", handler: a.putExportSettings},
		{Method: "GET", Pattern: "/api/v1/objects/{object}/records/export", handler: a.exportList},
	}
}

func exportSettingsDTO(s exportgov.Settings) ExportSettingsDTO {
	out := ExportSettingsDTO{ListRoles: s.ListRoles, FullRoles: s.FullRoles, DailyRowQuota: s.DailyRowQuota, NotifyThreshold: s.NotifyThreshold}
	if out.ListRoles == nil {
		out.ListRoles = []string{}
	}
	if out.FullRoles == nil {
		out.FullRoles = []string{}
	}
	return out
}

func (a *API) getExportSettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.ExportGov == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	s, err := a.d.ExportGov.Get(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, exportSettingsDTO(s))
}

func (a *API) putExportSettings(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.ExportGov == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	var req PutExportSettingsRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	missing := map[string]string{}
	if req.ListRoles == nil {
		missing["list_roles"] = "required (an empty list is allowed)"
	}
	if req.FullRoles == nil {
		missing["full_roles"] = "required (admin is always included)"
	}
	if req.DailyRowQuota == nil {
		missing["daily_row_quota"] = "required"
	}
	if req.NotifyThreshold == nil {
		missing["notify_threshold"] = "required"
	}
	if len(missing) > 0 {
		a.writeError(w, r, apperr.InvalidFields(missing))
		return
	}
	s, err := a.d.ExportGov.Put(r.Context(), p.Actor, exportgov.Settings{ListRoles: *req.ListRoles, FullRoles: *req.FullRoles,
		DailyRowQuota: *req.DailyRowQuota, NotifyThreshold: *req.NotifyThreshold})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, exportSettingsDTO(s))
}
