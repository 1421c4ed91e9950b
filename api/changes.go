package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// ChangeFeed is what the API needs from the change feed (records.Feed).
type ChangeFeed interface {
	Head(ctx context.Context, actor tenant.Actor) (string, error)
	Changes(ctx context.Context, actor tenant.Actor, cursor string, limit int) ([]records.ChangeItem, string, bool, error)
}

// ChangeItemDTO is one change-feed item. Record is the record's current state
// as the caller may see it (as GET returns it); it is absent for deletes
// and for records deleted since.
type ChangeItemDTO struct {
	Seq    int64      `json:"seq"`
	Op     string     `json:"op"`
	Object string     `json:"object"`
	ID     string     `json:"id"`
	Record *RecordDTO `json:"record,omitempty"`
}

// ChangeList answers GET /api/v1/changes. NextCursor is always set: it is
// where to continue, also when no change was waiting.
type ChangeList struct {
	Items      []ChangeItemDTO `json:"items"`
	NextCursor string          `json:"next_cursor"`
	// HasMore is true when more changes were already waiting after this
	// page; items may be fewer than limit even then (changes to objects
	// the caller cannot read in full are skipped).
	HasMore bool `json:"has_more"`
}

// ChangeHeadDTO answers GET /api/v1/changes/head.
type ChangeHeadDTO struct {
	Cursor string `json:"cursor"`
}

func (a *API) changeRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/changes", handler: a.listChanges},
		{Method: "GET", Pattern: "/api/v1/changes/head", handler: a.changeHead},
	}
}

func (a *API) listChanges(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Changes == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	qv := r.URL.Query()
	for key, vals := range qv {
		if !slices.Contains([]string{"since", "limit"}, key) {
			a.writeError(w, r, apperr.Invalid("unknown query parameter %q", truncate(key, 60)))
			return
		}
		if len(vals) > 1 {
			a.writeError(w, r, apperr.Invalid("%s may be given once", key))
			return
		}
	}
	limit, err := intParam(r, "limit", records.DefaultChangeLimit, 1, records.MaxChangeLimit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items, next, more, err := a.d.Changes.Changes(r.Context(), p.Actor, qv.Get("since"), limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := ChangeList{Items: make([]ChangeItemDTO, 0, len(items)), NextCursor: next, HasMore: more}
	for _, it := range items {
		dto := ChangeItemDTO{Seq: it.Seq, Op: string(it.Op), Object: it.Object, ID: it.RecordID}
		if it.Record != nil {
			rec := recordDTO(*it.Record)
			dto.Record = &rec
		}
		out.Items = append(out.Items, dto)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) changeHead(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Changes == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	if len(r.URL.Query()) > 0 {
		a.writeError(w, r, apperr.Invalid("this endpoint takes no query parameters"))
		return
	}
	cur, err := a.d.Changes.Head(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ChangeHeadDTO{Cursor: cur})
}
