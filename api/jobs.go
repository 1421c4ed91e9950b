package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/tenant"
)

// JobsService shows a tenant's background jobs; both answer forbidden to
// anyone but an admin, and another tenant's job as not found.
type JobsService interface {
	ListFor(ctx context.Context, actor tenant.Actor, limit int) ([]jobs.Job, error)
	GetFor(ctx context.Context, actor tenant.Actor, id string) (jobs.Job, error)
}

// JobDTO is one background job (export, re-encryption, backup...). It
// carries neither the job's input nor its resume position.
type JobDTO struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Total   int64  `json:"total"`
	Done    int64  `json:"done"`
	Percent int    `json:"percent"`
	// Error is the last failure's public message ("" when none).
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// JobList answers GET /api/v1/jobs.
type JobList struct {
	Items []JobDTO `json:"items"`
}

func (a *API) jobRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/jobs", handler: a.listJobs},
		{Method: "GET", Pattern: "/api/v1/jobs/{id}", handler: a.getJob},
	}
}

func jobDTO(j jobs.Job) JobDTO {
	return JobDTO{ID: j.ID, Kind: j.Kind, State: string(j.State), Total: j.Total, Done: j.Done, Percent: j.Percent(),
		Error: j.Error, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt}
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Jobs == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	for key := range r.URL.Query() {
		if !slices.Contains([]string{"limit"}, key) {
			a.writeError(w, r, apperr.Invalid("unknown query parameter %q", truncate(key, 60)))
			return
		}
	}
	limit, err := intParam(r, "limit", 50, 1, jobs.MaxListLimit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list, err := a.d.Jobs.ListFor(r.Context(), p.Actor, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := JobList{Items: make([]JobDTO, 0, len(list))}
	for _, j := range list {
		out.Items = append(out.Items, jobDTO(j))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Jobs == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	j, err := a.d.Jobs.GetFor(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobDTO(j))
}
