package api

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
)

// exportList answers GET /api/v1/objects/{object}/records/export: the
// list the caller would get from GET .../records with the same q, sort
// and filter[...] parameters, every page of it, as CSV or XLSX. Package
// exportgov checks the role and the contract, counts, charges the daily
// quota and audits (export.list) before a byte of data is written.
func (a *API) exportList(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.ExportGov == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	qv := r.URL.Query()
	req := exportgov.ListRequest{Object: r.PathValue("object"), Format: qv.Get("format"), Sort: qv.Get("sort"), Q: qv.Get("q"),
		Filters: map[string]string{}}
	for key, vals := range qv {
		switch key {
		case "format", "sort", "q", "header":
			if len(vals) > 1 {
				a.writeError(w, r, apperr.Invalid("%s may be given once", key))
				return
			}
			continue
		case "limit", "cursor":
			// The export is the whole list, not one page of it.
			a.writeError(w, r, apperr.Invalid("%s is not taken by an export: it always holds the whole list", key))
			return
		}
		name, ok := strings.CutPrefix(key, "filter[")
		if !ok || !strings.HasSuffix(name, "]") {
			a.writeError(w, r, apperr.Invalid("unknown query parameter %q", truncate(key, 60)))
			return
		}
		if len(vals) != 1 {
			a.writeError(w, r, apperr.Invalid("%s may be given once", truncate(key, 60)))
			return
		}
		req.Filters[strings.TrimSuffix(name, "]")] = vals[0]
	}
	switch qv.Get("header") {
	case "", "names":
	case "labels":
		req.Labels = true
		req.Chinese = strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "zh")
	default:
		a.writeError(w, r, apperr.InvalidFields(map[string]string{"header": "must be names or labels"}))
		return
	}
	e, err := a.d.ExportGov.StartListExport(r.Context(), p.Actor, a.d.Records, req)
	if err != nil {
		if ae, ok := apperr.As(err); ok && ae.Kind == apperr.KindRateLimited {
			if at, ok := ae.Details["resets_at"].(time.Time); ok {
				w.Header().Set("Retry-After", fmt.Sprint(max(int64(math.Ceil(time.Until(at).Seconds())), 1)))
			}
		}
		a.writeError(w, r, err)
		return
	}
	writeExportHeaders(w, e)
	if err := e.Write(r.Context(), w); err != nil {
		// The status line is gone; the client sees a truncated file, the
		// audit log has the export, and the cause is logged.
		a.d.Log.Error("list export interrupted", "request_id", httpx.RequestID(r.Context()), "export_id", e.ID, "err", err)
	}
}

// writeExportHeaders sets the headers of a list export download.
func writeExportHeaders(w http.ResponseWriter, e *exportgov.ListExport) {
	for k, v := range e.Headers() {
		w.Header().Set(k, v)
	}
	w.WriteHeader(http.StatusOK)
}
