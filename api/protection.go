package api

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Protection changes field protection and reveals masked values.
type Protection interface {
	SetProtection(ctx context.Context, actor tenant.Actor, object, field string, p records.Protection) (records.Field, string, error)
	Reveal(ctx context.Context, actor tenant.Actor, object, id, field, reason string) (any, error)
}

func (a *API) protectionRoutes() []Route {
	return []Route{
		{Method: "PATCH", Pattern: "/api/v1/objects/{object}/fields/{field}", handler: a.updateField},
		{Method: "POST", Pattern: "/api/v1/objects/{object}/records/{id}/reveal", handler: a.revealValue},
	}
}

func protectionDTO(f records.Field) FieldProtectionDTO {
	out := FieldProtectionDTO{Encrypted: f.Encrypted, Searchable: f.Searchable, Mask: string(f.Policy.Mask),
		KeepFirst: f.Policy.KeepFirst, KeepLast: f.Policy.KeepLast, Reveal: f.Policy.Reveal}
	if len(f.Policy.Levels) > 0 {
		out.Levels = make(map[string]string, len(f.Policy.Levels))
		for role, l := range f.Policy.Levels {
			out.Levels[role] = string(l)
		}
	}
	return out
}

func policyFromDTO(d FieldProtectionDTO) access.FieldPolicy {
	p := access.FieldPolicy{Mask: access.MaskRule(d.Mask), KeepFirst: d.KeepFirst, KeepLast: d.KeepLast, Reveal: d.Reveal}
	if len(d.Levels) > 0 {
		p.Levels = make(map[string]access.FieldLevel, len(d.Levels))
		for role, l := range d.Levels {
			p.Levels[role] = access.FieldLevel(l)
		}
	}
	return p
}

func (a *API) updateField(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req FieldProtectionDTO
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	f, jobID, err := a.d.Protection.SetProtection(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("field"),
		records.Protection{Encrypted: req.Encrypted, Searchable: req.Searchable, Policy: policyFromDTO(req)})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if jobID != "" {
		status = http.StatusAccepted
	}
	writeJSON(w, status, UpdateFieldResponse{Field: fieldDTO(f), JobID: jobID})
}

func (a *API) revealValue(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req RevealRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	v, err := a.d.Protection.Reveal(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"), req.Field, req.Reason)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// The value must not linger in shared caches.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, RevealResponse{Field: req.Field, Value: v})
}
