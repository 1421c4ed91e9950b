package api

import (
	"context"
	"net/http"
	"time"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/keyops"
	"github.com/havencrm/haven/tenant"
)

// KeyService lists and rotates a tenant's data keys.
type KeyService interface {
	Terms(ctx context.Context, actor tenant.Actor) ([]keyops.TermInfo, error)
	RotateDataKey(ctx context.Context, actor tenant.Actor) (uint32, jobs.Job, error)
}

// DataKeyDTO is one data-key term; key material never leaves the server.
type DataKeyDTO struct {
	Term      uint32     `json:"term"`
	State     string     `json:"state"`
	KEKID     string     `json:"kek_id"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

// DataKeyList answers GET /api/v1/keys.
type DataKeyList struct {
	Items []DataKeyDTO `json:"items"`
}

// RotateKeyResponse answers POST /api/v1/keys/rotate.
type RotateKeyResponse struct {
	Term  uint32 `json:"term"`
	JobID string `json:"job_id"`
}

func (a *API) keyRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/keys", handler: a.listKeys},
		{Method: "POST", Pattern: "/api/v1/keys/rotate", handler: a.rotateKey},
	}
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	terms, err := a.d.Keys.Terms(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := DataKeyList{Items: make([]DataKeyDTO, 0, len(terms))}
	for _, t := range terms {
		out.Items = append(out.Items, DataKeyDTO{Term: t.Term, State: string(t.State), KEKID: t.KEKID, CreatedAt: t.CreatedAt, RetiredAt: t.RetiredAt})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if r.ContentLength > 0 {
		var empty struct{}
		if err := a.decode(w, r, &empty); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	term, job, err := a.d.Keys.RotateDataKey(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, RotateKeyResponse{Term: term, JobID: job.ID})
}
