package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/tenant"
)

// The "Export all data" page: one button (with an optional age public key
// or passphrase) queues a full export of the tenant; the list below shows
// the signed-in user's own exports with their progress, reloading itself
// through the Refresh header while one runs (the CSP forbids script), and
// a download link once done and until it expires. The export service
// decides who may export and who may download; this page only forwards.

// FullExports is what the page needs from package export.
type FullExports interface {
	Allowed(ctx context.Context, actor tenant.Actor) error
	Start(ctx context.Context, actor tenant.Actor, in export.Request) (export.Export, error)
	List(ctx context.Context, actor tenant.Actor, limit int) ([]export.Export, error)
	Open(ctx context.Context, actor tenant.Actor, id string) (*export.Download, error)
}

const dataExportPath = "/settings/data-export"

func init() {
	flashKinds["data_export_started"] = false
}

func (w *Web) registerDataExport(mux *http.ServeMux) {
	mux.Handle("GET "+dataExportPath, w.authed(w.dataExportPage))
	mux.Handle("POST "+dataExportPath, w.authed(w.startDataExport))
	mux.Handle("GET "+dataExportPath+"/{id}/download", w.authed(w.downloadDataExport))
}

// DataExportNavActive reports whether the page is the data export page,
// for the layout's navigation link.
func (s *Shell) DataExportNavActive() bool {
	return s.Path == dataExportPath || strings.HasPrefix(s.Path, dataExportPath+"/") || strings.HasPrefix(s.Path, dataExportPath+"?")
}

// DataExportPage is the page's view model.
type DataExportPage struct {
	Shell
	Action string
	// Recipient is kept after a failed submission; a passphrase never is.
	Recipient  string
	Error      string
	FieldError map[string]string
	Exports    []DataExportView
	// Running is set while an export is queued or running.
	Running bool
}

// DataExportView is one export as listed.
type DataExportView struct {
	ID          string
	Created     string
	Status      string
	StatusCode  string
	Percent     int
	Records     string
	Total       string
	Encryption  string
	DownloadURL string
	Expires     string
	SHA256      string
	Size        string
	Error       string
}

func (w *Web) dataExportAllowed(rw http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if w.d.FullExports == nil {
		w.notFoundRC(rw, r, rc)
		return false
	}
	if err := w.d.FullExports.Allowed(r.Context(), rc.actor()); err != nil {
		w.fail(rw, r, rc, err)
		return false
	}
	return true
}

func (w *Web) dataExportPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.dataExportAllowed(rw, r, rc) {
		return
	}
	w.renderDataExport(rw, r, rc, &DataExportPage{}, http.StatusOK)
}

func (w *Web) renderDataExport(rw http.ResponseWriter, r *http.Request, rc *reqCtx, p *DataExportPage, status int) {
	list, err := w.d.FullExports.List(r.Context(), rc.actor(), 10)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	p.Shell = w.shell(rw, r, rc, rc.lang, translate(rc.lang, "dataexport.title"), "data-export")
	p.Action = dataExportPath
	now := time.Now()
	loc := w.location(rc.lang)
	for _, e := range list {
		v := DataExportView{ID: e.ID, Created: formatDateTime(rc.lang, loc, e.CreatedAt), StatusCode: string(e.Status),
			Status: translate(rc.lang, "dataexport.status."+string(e.Status)), Percent: int(e.Progress() * 100),
			Records: groupDigits(fmt.Sprint(e.RecordsDone)), Total: groupDigits(fmt.Sprint(e.RecordsTotal)),
			Encryption: translate(rc.lang, "dataexport.enc."+string(e.Encryption)), Error: e.Error}
		if e.Status == export.StatusQueued || e.Status == export.StatusRunning {
			p.Running = true
		}
		if e.Downloadable(now) {
			v.DownloadURL = dataExportPath + "/" + e.ID + "/download"
			v.Expires = formatDateTime(rc.lang, loc, *e.ExpiresAt)
			v.SHA256, v.Size = e.SHA256, groupDigits(fmt.Sprint(e.Size))
		} else if e.DeletedAt != nil || e.Status == export.StatusDone {
			v.Status = translate(rc.lang, "dataexport.status.expired")
			v.StatusCode = "expired"
		}
		p.Exports = append(p.Exports, v)
	}
	if p.Running {
		// Reload every 2 s while an export runs; the CSP forbids script.
		rw.Header().Set("Refresh", "2")
	}
	w.render(rw, r, status, "dataexport", p)
}

func (w *Web) startDataExport(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !w.dataExportAllowed(rw, r, rc) {
		return
	}
	in := export.Request{Scope: export.ScopeAll, Recipient: strings.TrimSpace(r.PostForm.Get("recipient")), Passphrase: r.PostForm.Get("passphrase")}
	_, err := w.d.FullExports.Start(r.Context(), rc.actor(), in)
	if err != nil {
		e, ok := apperr.As(err)
		if ok && (e.Kind == apperr.KindInvalid || e.Kind == apperr.KindConflict) {
			p := &DataExportPage{Recipient: in.Recipient, Error: e.Message, FieldError: map[string]string{}}
			if fields, ok := e.Details["fields"].(map[string]string); ok {
				for k, v := range fields {
					p.FieldError[k] = translateOr(rc.lang, "dataexport.err."+k, v)
				}
			}
			status := http.StatusBadRequest
			if e.Kind == apperr.KindConflict {
				status = http.StatusConflict
				p.Error = translate(rc.lang, "dataexport.err.running")
			} else if len(p.FieldError) > 0 {
				p.Error = translate(rc.lang, "dataexport.err.invalid")
			} else {
				p.Error = translate(rc.lang, "dataexport.err.one")
			}
			w.renderDataExport(rw, r, rc, p, status)
			return
		}
		w.fail(rw, r, rc, err)
		return
	}
	w.setFlash(rw, "data_export_started")
	http.Redirect(rw, r, dataExportPath, http.StatusSeeOther)
}

func (w *Web) downloadDataExport(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.d.FullExports == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	d, err := w.d.FullExports.Open(r.Context(), rc.actor(), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, export.ErrExpired) {
			w.renderError(rw, r, rc, rc.lang, http.StatusGone, "dataexport.gone.title", "dataexport.gone.text")
			return
		}
		w.fail(rw, r, rc, err)
		return
	}
	defer d.Close()
	api.ServeExport(rw, r, d)
}
