package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/tenant"
)

// Attachments is what the web UI needs from the attachments service.
type Attachments interface {
	List(ctx context.Context, actor tenant.Actor, object, recordID string) ([]attachments.Attachment, error)
	Upload(ctx context.Context, actor tenant.Actor, in attachments.UploadInput) (attachments.Attachment, error)
	Open(ctx context.Context, actor tenant.Actor, object, recordID, id string) (*attachments.Download, error)
	Delete(ctx context.Context, actor tenant.Actor, object, recordID, id string) error
	MaxBytes() int64
}

// streamedBody marks a POST route whose handler reads the body itself,
// as a stream, and checks the CSRF token in it: authed must not parse
// (and so buffer) the form first.
const streamedBody authOption = 3

// uploadOverhead is what an upload form may hold beyond the file: the
// CSRF token, part headers and boundaries.
const uploadOverhead = 64 << 10

func (w *Web) registerAttachments(mux *http.ServeMux) {
	mux.Handle("POST /o/{object}/{id}/attachments", w.authed(w.uploadAttachment, streamedBody))
	mux.Handle("GET /o/{object}/{id}/attachments/{aid}", w.authed(w.downloadAttachment))
	mux.Handle("POST /o/{object}/{id}/attachments/{aid}/delete", w.authed(w.deleteAttachment))
}

// AttachmentSection is the attachments part of the record detail page.
type AttachmentSection struct {
	Enabled      bool
	Failed       bool // the list could not be shown (e.g. the keys are unavailable)
	CanEdit      bool
	Items        []AttachmentItem
	UploadAction string
	Accept       string
	Hint         string
}

// AttachmentItem is one attached file.
type AttachmentItem struct {
	Name          string
	Href          string
	Type          string
	Size          string
	Created       string
	CreatedBy     string
	DeleteAction  string
	DeleteConfirm string
}

// attachmentSection builds the section for a record the actor can read.
// A listing failure shows in the section instead of failing the page:
// the record itself is still worth seeing.
func (w *Web) attachmentSection(ctx context.Context, rc *reqCtx, object, recordID string, canEdit bool) AttachmentSection {
	svc := w.d.Attachments
	if svc == nil {
		return AttachmentSection{}
	}
	l := rc.lang
	href := recordHref(object, recordID) + "/attachments"
	s := AttachmentSection{Enabled: true, CanEdit: canEdit, UploadAction: href, Accept: strings.Join(attachments.AllowedExtensions, ","),
		Hint: translate(l, "att.hint", humanSize(l, svc.MaxBytes()))}
	list, err := svc.List(ctx, rc.actor(), object, recordID)
	if err != nil {
		w.log.Warn("listing attachments", "request_id", httpx.RequestID(ctx), "record_id", recordID, "err", err)
		s.Failed = true
		return s
	}
	loc := w.location(l)
	for _, a := range list {
		item := AttachmentItem{Name: a.Filename, Href: href + "/" + a.ID, Type: typeLabel(l, a.ContentType), Size: humanSize(l, a.Size),
			Created: formatDateTime(l, loc, a.CreatedAt), CreatedBy: w.userName(ctx, rc, a.CreatedBy)}
		if canEdit {
			item.DeleteAction = href + "/" + a.ID + "/delete"
			item.DeleteConfirm = translate(l, "att.delete_confirm", a.Filename)
		}
		s.Items = append(s.Items, item)
	}
	return s
}

// typeLabel names a content type the way people know it.
func typeLabel(l Lang, contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return translateOr(l, "att.type."+mt, mt)
}

// humanSize formats a byte count with binary units.
func humanSize(l Lang, n int64) string {
	const unit = 1024
	if n < unit {
		return translate(l, "att.bytes", n)
	}
	v, suffix := float64(n)/unit, "KB"
	for _, s := range []string{"MB", "GB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	if v >= 10 || v == float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 0, 64) + " " + suffix
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + suffix
}

func (w *Web) attachmentsBack(rw http.ResponseWriter, r *http.Request, flash string) {
	if r.Method == http.MethodPost && flash != "attachment_uploaded" && flash != "attachment_deleted" {
		// A browser still sending a refused file may report a broken
		// connection instead of following the redirect; the rest of the
		// body (bounded by the upload limit) is cheaper than that.
		_, _ = io.Copy(io.Discard, r.Body)
	}
	w.setFlash(rw, flash)
	http.Redirect(rw, r, recordHref(r.PathValue("object"), r.PathValue("id"))+"#attachments", http.StatusSeeOther)
}

// uploadAttachment streams a multipart upload into the service. The form
// puts the CSRF token before the file, and browsers send fields in form
// order, so the token is checked before a byte of the file is read and
// the file never sits in memory or in a temporary file of the form
// parser.
func (w *Web) uploadAttachment(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc := w.d.Attachments
	if svc == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	if !sameOrigin(r) {
		w.csrfFailed(rw, r, rc, rc.lang)
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, svc.MaxBytes()+uploadOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		w.renderError(rw, r, rc, rc.lang, http.StatusBadRequest, "error.400.title", "error.400.text")
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != csrfField {
		w.csrfFailed(rw, r, rc, rc.lang)
		return
	}
	token, err := io.ReadAll(io.LimitReader(part, maxTokenLen))
	if err != nil || !tokensEqual(rc.csrf, string(token)) {
		w.csrfFailed(rw, r, rc, rc.lang)
		return
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "file" || part.FileName() == "" {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.attachmentsBack(rw, r, "attachment_"+attachments.ReasonTooLarge)
			return
		}
		w.attachmentsBack(rw, r, "attachment_missing")
		return
	}
	defer part.Close()
	_, err = svc.Upload(r.Context(), rc.actor(), attachments.UploadInput{Object: r.PathValue("object"), RecordID: r.PathValue("id"),
		Filename: part.FileName(), DeclaredType: part.Header.Get("Content-Type"), Body: part})
	if e, ok := apperr.As(err); ok && e.Kind == apperr.KindInvalid {
		// The reason picks a translated message; the service's English
		// text (which may quote the file's type) is not shown.
		reason, _ := e.Details["reason"].(string)
		if _, known := flashKinds["attachment_"+reason]; !known {
			reason = "failed"
		}
		w.attachmentsBack(rw, r, "attachment_"+reason)
		return
	}
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.attachmentsBack(rw, r, "attachment_uploaded")
}

func (w *Web) downloadAttachment(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc := w.d.Attachments
	if svc == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	d, err := svc.Open(r.Context(), rc.actor(), r.PathValue("object"), r.PathValue("id"), r.PathValue("aid"))
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	defer d.Close()
	attachments.Serve(rw, r, w.log, d)
}

func (w *Web) deleteAttachment(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc := w.d.Attachments
	if svc == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	if err := svc.Delete(r.Context(), rc.actor(), r.PathValue("object"), r.PathValue("id"), r.PathValue("aid")); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.attachmentsBack(rw, r, "attachment_deleted")
}
