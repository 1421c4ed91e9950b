package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/tenant"
)

// Per-list export from the list page: its "Export CSV" and "Export XLSX"
// buttons post the list's search and sort to /o/{object}/export, which
// answers the file. Package exportgov decides, counts, charges the daily
// quota and audits; rows come through the records service's list path,
// so the file holds exactly what the page lists, as this user sees it.
//
// The export is a POST with the session's CSRF token rather than a GET
// link: the session cookie is SameSite=Lax, which a cross-site top-level
// GET would carry, and an export is not harmless to repeat (it uses up
// the user's quota and may e-mail every admin).

// ExportGovernance is what the web UI needs from package exportgov.
type ExportGovernance interface {
	Get(ctx context.Context, actor tenant.Actor) (exportgov.Settings, error)
	Put(ctx context.Context, actor tenant.Actor, s exportgov.Settings) (exportgov.Settings, error)
	AllowListExport(ctx context.Context, actor tenant.Actor) error
	Usage(ctx context.Context, actor tenant.Actor) (used, quota int64, err error)
	StartListExport(ctx context.Context, actor tenant.Actor, lister exportgov.Lister, req exportgov.ListRequest) (*exportgov.ListExport, error)
}

func (w *Web) registerListExport(mux *http.ServeMux) {
	mux.Handle("POST /o/{object}/export", w.authed(w.exportList))
	mux.Handle("GET "+exportRulesPath, w.authed(w.exportRulesPage))
	mux.Handle("POST "+exportRulesPath, w.authed(w.saveExportRules))
}

// ListExport is the export form of the list page (nil: not offered).
type ListExport struct {
	Action string
	Q      string
	Sort   string
}

// listExportFor returns the export form for a list page when the user may
// export lists now, nil otherwise (the service decides again on submit).
func (w *Web) listExportFor(ctx context.Context, rc *reqCtx, object, q, sort string) *ListExport {
	if w.d.ExportGov == nil || w.d.ExportGov.AllowListExport(ctx, rc.actor()) != nil {
		return nil
	}
	return &ListExport{Action: objectHref(object) + "/export", Q: q, Sort: sort}
}

func (w *Web) exportList(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.d.ExportGov == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	form := r.PostForm
	for _, k := range []string{"format", "q", "sort"} {
		if len(form[k]) > 1 {
			w.fail(rw, r, rc, apperr.Invalid("%s may be given once", k))
			return
		}
	}
	req := exportgov.ListRequest{Object: r.PathValue("object"), Format: form.Get("format"), Q: strings.TrimSpace(form.Get("q")), Sort: form.Get("sort"),
		Labels: true, Chinese: rc.lang == LangZH}
	e, err := w.d.ExportGov.StartListExport(r.Context(), rc.actor(), w.d.Records, req)
	if err != nil {
		w.exportRefused(rw, r, rc, err)
		return
	}
	for k, v := range e.Headers() {
		rw.Header().Set(k, v)
	}
	rw.WriteHeader(http.StatusOK)
	if err := e.Write(r.Context(), rw); err != nil {
		w.log.Error("list export interrupted", "request_id", httpx.RequestID(r.Context()), "export_id", e.ID, "err", err)
	}
}

// exportRefused shows why an export was refused, in the UI's language,
// for the refusals a user can act on; anything else is the usual page.
func (w *Web) exportRefused(rw http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	e, ok := apperr.As(err)
	if !ok {
		w.fail(rw, r, rc, err)
		return
	}
	l := rc.lang
	day := func(key string) string {
		t, _ := e.Details[key].(time.Time)
		return t.In(w.location(l)).Format(time.DateOnly)
	}
	num := func(key string) int64 { n, _ := e.Details[key].(int64); return n }
	var text string
	status := http.StatusForbidden
	switch {
	case e.Kind == apperr.KindRateLimited && e.Details["reason"] == "export_quota":
		status, text = http.StatusTooManyRequests, translate(l, "listexport.quota", num("rows"), num("remaining"), num("daily_row_quota"))
	case e.Code == exportgov.CodeContractEnded && e.Details["admins_only"] == true:
		text = translate(l, "listexport.contract", day("contract_end"), day("grace_period_end"))
	case e.Code == exportgov.CodeContractEnded:
		text = translate(l, "listexport.contract_end", day("contract_end"), day("grace_period_end"))
	case e.Code == exportgov.CodeContractNotStarted:
		text = translate(l, "listexport.not_started")
	case e.Code == apperr.CodeForbidden && e.Details["reason"] != nil:
		text = translate(l, "listexport.role")
	default:
		w.fail(rw, r, rc, err)
		return
	}
	title := translate(l, "listexport.refused")
	w.render(rw, r, status, "error", &ErrorPage{Shell: w.shell(rw, r, rc, l, title, ""), Status: status, Heading: title, Text: text})
}
