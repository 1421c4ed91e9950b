package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// FullExportService runs one-click exports of all of a tenant's data.
type FullExportService interface {
	Start(ctx context.Context, actor tenant.Actor, in export.Request) (export.Export, error)
	Get(ctx context.Context, actor tenant.Actor, id string) (export.Export, error)
	Open(ctx context.Context, actor tenant.Actor, id string) (*export.Download, error)
}

// CreateExportRequest is POST /api/v1/exports. Recipient is an age
// X25519 public key (age1…); Passphrase encrypts with age's scrypt mode.
type CreateExportRequest struct {
	Scope      string `json:"scope"`
	Recipient  string `json:"recipient,omitempty"`
	Passphrase string `json:"passphrase,omitempty"`
}

// CreateExportResponse answers POST /api/v1/exports (202).
type CreateExportResponse struct {
	ID string `json:"id"`
}

// ExportDTO is the state of one export.
type ExportDTO struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Progress is 0..1; Records the records written so far (of
	// RecordsTotal).
	Progress     float64 `json:"progress"`
	Records      int64   `json:"records"`
	RecordsTotal int64   `json:"records_total"`
	Encryption   string  `json:"encryption"`
	// DownloadURL is set only while the finished file may be downloaded.
	DownloadURL string     `json:"download_url,omitempty"`
	Size        int64      `json:"size,omitempty"`
	SHA256      string     `json:"sha256,omitempty"`
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Deleted     bool       `json:"deleted,omitempty"`
}

// CodeGone is the error code of a download past its expiry (410).
const CodeGone = "gone"

func (a *API) fullExportRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/exports", handler: a.createExport},
		{Method: "GET", Pattern: "/api/v1/exports/{id}", handler: a.getExport},
		{Method: "GET", Pattern: "/api/v1/exports/{id}/download", handler: a.downloadExport},
	}
}

// ExportDTOOf maps an export to its DTO as of now.
func ExportDTOOf(e export.Export, now time.Time) ExportDTO {
	d := ExportDTO{ID: e.ID, Status: string(e.Status), Progress: e.Progress(), Records: e.RecordsDone, RecordsTotal: e.RecordsTotal,
		Encryption: string(e.Encryption), Error: e.Error, CreatedAt: e.CreatedAt, FinishedAt: e.FinishedAt, ExpiresAt: e.ExpiresAt,
		Deleted: e.DeletedAt != nil}
	if e.Status == export.StatusDone {
		d.Size, d.SHA256 = e.Size, e.SHA256
	}
	if e.Downloadable(now) {
		d.DownloadURL = "/api/v1/exports/" + e.ID + "/download"
	}
	return d
}

func (a *API) fullExportsOr(w http.ResponseWriter, r *http.Request) (FullExportService, bool) {
	if a.d.FullExports == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return nil, false
	}
	return a.d.FullExports, true
}

func (a *API) createExport(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.fullExportsOr(w, r)
	if !ok {
		return
	}
	var req CreateExportRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err := svc.Start(r.Context(), p.Actor, export.Request{Scope: req.Scope, Recipient: req.Recipient, Passphrase: req.Passphrase})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/exports/"+e.ID)
	writeJSON(w, http.StatusAccepted, CreateExportResponse{ID: e.ID})
}

func (a *API) getExport(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.fullExportsOr(w, r)
	if !ok {
		return
	}
	e, err := svc.Get(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ExportDTOOf(e, time.Now()))
}

func (a *API) downloadExport(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.fullExportsOr(w, r)
	if !ok {
		return
	}
	d, err := svc.Open(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		WriteExportError(w, r, a.d.Log, err)
		return
	}
	defer d.Close()
	ServeExport(w, r, d)
}

// WriteExportError answers a download error: 410 Gone past expiry, the
// usual envelope otherwise. The web UI answers with it too.
func WriteExportError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if e, ok := apperr.As(err); ok && errors.Is(err, export.ErrExpired) {
		writeJSON(w, http.StatusGone, ErrorBody{Error: ErrorDTO{Code: CodeGone, Message: e.Message}})
		return
	}
	WriteError(w, r, log, err)
}

// ServeExport sends an export file: as an attachment, never cached,
// never rendered by the browser. Ranges are honoured so a large download
// can resume.
func ServeExport(w http.ResponseWriter, r *http.Request, d *export.Download) {
	h := w.Header()
	if d.Export.Encryption == export.EncryptNone {
		h.Set("Content-Type", "application/zip")
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Disposition", attachments.ContentDisposition(d.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	var mod time.Time
	if d.Export.FinishedAt != nil {
		mod = *d.Export.FinishedAt
	}
	http.ServeContent(w, r, "", mod, d.File)
}
