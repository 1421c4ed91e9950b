package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// AttachmentService is what the API needs from the attachments service.
type AttachmentService interface {
	List(ctx context.Context, actor tenant.Actor, object, recordID string) ([]attachments.Attachment, error)
	Upload(ctx context.Context, actor tenant.Actor, in attachments.UploadInput) (attachments.Attachment, error)
	Open(ctx context.Context, actor tenant.Actor, object, recordID, id string) (*attachments.Download, error)
	Delete(ctx context.Context, actor tenant.Actor, object, recordID, id string) error
	MaxBytes() int64
}

// AttachmentDTO describes a file attached to a record.
type AttachmentDTO struct {
	ID          string    `json:"id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
}

// AttachmentList answers GET .../records/{id}/attachments.
type AttachmentList struct {
	Items []AttachmentDTO `json:"items"`
}

// multipartOverhead is what an upload body may hold beyond the file: part
// headers and boundaries. The file itself is limited by the service while
// it streams, whatever Content-Length says.
const multipartOverhead = 64 << 10

func (a *API) attachmentRoutes() []Route {
	const base = "/api/v1/objects/{object}/records/{id}/attachments"
	return []Route{
		{Method: "GET", Pattern: base, handler: a.listAttachments},
		{Method: "POST", Pattern: base, handler: a.uploadAttachment},
		{Method: "GET", Pattern: base + "/{attachment_id}", handler: a.downloadAttachment},
		{Method: "DELETE", Pattern: base + "/{attachment_id}", handler: a.deleteAttachment},
	}
}

func attachmentDTO(at attachments.Attachment) AttachmentDTO {
	return AttachmentDTO{ID: at.ID, Filename: at.Filename, ContentType: at.ContentType, Size: at.Size, CreatedAt: at.CreatedAt, CreatedBy: at.CreatedBy}
}

// attachmentsOr answers not found while the feature is not wired.
func (a *API) attachmentsOr(w http.ResponseWriter, r *http.Request) (AttachmentService, bool) {
	if a.d.Attachments == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return nil, false
	}
	return a.d.Attachments, true
}

func (a *API) listAttachments(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.attachmentsOr(w, r)
	if !ok {
		return
	}
	list, err := svc.List(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := AttachmentList{Items: make([]AttachmentDTO, 0, len(list))}
	for _, at := range list {
		out.Items = append(out.Items, attachmentDTO(at))
	}
	writeJSON(w, http.StatusOK, out)
}

// uploadAttachment takes either a multipart/form-data body whose first
// part is the file (form name "file", with a filename), or the raw file
// as the body with its name in ?filename=. Either way the file streams
// through the encryptor to disk; nothing is buffered whole.
func (a *API) uploadAttachment(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.attachmentsOr(w, r)
	if !ok {
		return
	}
	// The API's 1 MiB JSON limit does not apply to files.
	r.Body = http.MaxBytesReader(w, r.Body, svc.MaxBytes()+multipartOverhead)
	in := attachments.UploadInput{Object: r.PathValue("object"), RecordID: r.PathValue("id")}
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			a.writeError(w, r, apperr.Invalid("malformed multipart body"))
			return
		}
		part, err := mr.NextPart()
		if err != nil {
			a.writeError(w, r, uploadReadErr(err, svc.MaxBytes(), "the multipart body holds no file"))
			return
		}
		defer part.Close()
		if part.FormName() != "file" || part.FileName() == "" {
			a.writeError(w, r, apperr.Invalid(`the first part of the multipart body must be the file: form name "file", with a filename`))
			return
		}
		in.Filename, in.DeclaredType, in.Body = part.FileName(), part.Header.Get("Content-Type"), part
	} else {
		in.Filename = r.URL.Query().Get("filename")
		if in.Filename == "" {
			a.writeError(w, r, apperr.Invalid("a raw upload needs the file name in the filename query parameter"))
			return
		}
		in.DeclaredType, in.Body = ct, r.Body
	}
	at, err := svc.Upload(r.Context(), p.Actor, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", r.URL.Path+"/"+at.ID)
	writeJSON(w, http.StatusCreated, attachmentDTO(at))
}

func uploadReadErr(err error, limit int64, otherwise string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.Invalid("the file exceeds the size limit of %d bytes", limit).WithDetail("reason", attachments.ReasonTooLarge)
	}
	return apperr.Invalid("%s", otherwise)
}

func (a *API) downloadAttachment(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.attachmentsOr(w, r)
	if !ok {
		return
	}
	d, err := svc.Open(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"), r.PathValue("attachment_id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	defer d.Close()
	attachments.Serve(w, r, a.d.Log, d)
}

func (a *API) deleteAttachment(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	svc, ok := a.attachmentsOr(w, r)
	if !ok {
		return
	}
	if err := svc.Delete(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"), r.PathValue("attachment_id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
