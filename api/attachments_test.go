package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// fakeAttachments records what the handlers hand the service.
type fakeAttachments struct {
	max      int64
	got      attachments.UploadInput
	body     []byte
	readErr  error
	err      error
	deleted  string
	listed   string
	listing  []attachments.Attachment
	uploaded attachments.Attachment
}

func (f *fakeAttachments) List(_ context.Context, _ tenant.Actor, object, recordID string) ([]attachments.Attachment, error) {
	f.listed = object + "/" + recordID
	return f.listing, f.err
}

func (f *fakeAttachments) Upload(_ context.Context, _ tenant.Actor, in attachments.UploadInput) (attachments.Attachment, error) {
	f.got = in
	f.body, f.readErr = io.ReadAll(in.Body)
	if f.err != nil {
		return attachments.Attachment{}, f.err
	}
	return f.uploaded, nil
}

func (f *fakeAttachments) Open(context.Context, tenant.Actor, string, string, string) (*attachments.Download, error) {
	return nil, apperr.NotFound("attachment")
}

func (f *fakeAttachments) Delete(_ context.Context, _ tenant.Actor, object, recordID, id string) error {
	f.deleted = object + "/" + recordID + "/" + id
	return f.err
}

func (f *fakeAttachments) MaxBytes() int64 { return f.max }

const (
	testRecordID     = "0190b6a0-0000-7000-8000-000000000001"
	testAttachmentID = "0190b6a0-0000-7000-8000-0000000000aa"
)

func attachmentRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.SetPathValue("object", "account")
	r.SetPathValue("id", testRecordID)
	r.SetPathValue("attachment_id", testAttachmentID)
	return r
}

var testPrincipal = &identity.Principal{Actor: tenant.Actor{Kind: tenant.ActorUser, TenantID: "t", UserID: "u", Role: "admin"}}

func multipartBody(t *testing.T, parts ...[3]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts { // name, filename, content; content type text/plain for files
		h := textproto.MIMEHeader{}
		if p[1] != "" {
			h.Set("Content-Disposition", `form-data; name="`+p[0]+`"; filename="`+p[1]+`"`)
			h.Set("Content-Type", "application/pdf")
		} else {
			h.Set("Content-Disposition", `form-data; name="`+p[0]+`"`)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(p[2]))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("not an error envelope: %s", w.Body.Bytes())
	}
	return body.Error.Code
}

func TestUploadAttachmentForms(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	uploaded := attachments.Attachment{ID: testAttachmentID, Filename: "张三身份证.pdf", ContentType: "application/pdf", Size: 9, CreatedAt: now, CreatedBy: "u"}

	t.Run("multipart", func(t *testing.T) {
		f := &fakeAttachments{max: 1 << 20, uploaded: uploaded}
		a := New(Deps{Attachments: f, Log: slog.New(slog.DiscardHandler)})
		ct, body := multipartBody(t, [3]string{"file", "张三身份证.pdf", "%PDF-1.7\n"}, [3]string{"ignored", "", "x"})
		r := attachmentRequest("POST", "/api/v1/objects/account/records/"+testRecordID+"/attachments", body)
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		a.uploadAttachment(w, r, testPrincipal)
		if w.Code != http.StatusCreated {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if f.got.Filename != "张三身份证.pdf" || f.got.DeclaredType != "application/pdf" || string(f.body) != "%PDF-1.7\n" ||
			f.got.Object != "account" || f.got.RecordID != testRecordID {
			t.Errorf("service got %+v with body %q", f.got, f.body)
		}
		var dto AttachmentDTO
		if err := json.Unmarshal(w.Body.Bytes(), &dto); err != nil || dto != attachmentDTO(uploaded) {
			t.Errorf("response %s", w.Body)
		}
		if loc := w.Header().Get("Location"); loc != "/api/v1/objects/account/records/"+testRecordID+"/attachments/"+testAttachmentID {
			t.Errorf("Location %q", loc)
		}
	})

	t.Run("raw", func(t *testing.T) {
		f := &fakeAttachments{max: 1 << 20, uploaded: uploaded}
		a := New(Deps{Attachments: f})
		r := attachmentRequest("POST", "/x?filename=%E5%90%88%E5%90%8C.pdf", strings.NewReader("%PDF-1.4 raw"))
		r.Header.Set("Content-Type", "application/pdf")
		w := httptest.NewRecorder()
		a.uploadAttachment(w, r, testPrincipal)
		if w.Code != http.StatusCreated || f.got.Filename != "合同.pdf" || f.got.DeclaredType != "application/pdf" || string(f.body) != "%PDF-1.4 raw" {
			t.Errorf("status %d, service got %+v %q", w.Code, f.got, f.body)
		}
	})

	t.Run("refused forms", func(t *testing.T) {
		fileFirst := func(parts ...[3]string) (string, io.Reader) { ct, b := multipartBody(t, parts...); return ct, b }
		cases := []struct {
			what   string
			target string
			ct     string
			body   io.Reader
		}{
			{"raw without a name", "/x", "application/pdf", strings.NewReader("%PDF")},
			{"broken multipart", "/x", "multipart/form-data", strings.NewReader("--")},
			{"empty multipart", "/x", "multipart/form-data; boundary=b", strings.NewReader("--b--\r\n")},
		}
		ct, b := fileFirst([3]string{"csrf_token", "", "x"}, [3]string{"file", "a.pdf", "%PDF"})
		cases = append(cases, struct {
			what, target, ct string
			body             io.Reader
		}{"file not first", "/x", ct, b})
		ct, b = fileFirst([3]string{"file", "", "%PDF"})
		cases = append(cases, struct {
			what, target, ct string
			body             io.Reader
		}{"file without a name", "/x", ct, b})
		for _, tc := range cases {
			f := &fakeAttachments{max: 1 << 20}
			r := attachmentRequest("POST", tc.target, tc.body)
			r.Header.Set("Content-Type", tc.ct)
			w := httptest.NewRecorder()
			New(Deps{Attachments: f}).uploadAttachment(w, r, testPrincipal)
			if w.Code != http.StatusBadRequest || errorCode(t, w) != "invalid_request" || f.got.Body != nil {
				t.Errorf("%s: status %d %s; service called: %v", tc.what, w.Code, w.Body, f.got.Body != nil)
			}
		}
	})

	t.Run("body limit", func(t *testing.T) {
		// The JSON limit (1 MiB) does not apply; the file limit plus the
		// multipart allowance does, whatever Content-Length says.
		f := &fakeAttachments{max: 2 << 20}
		r := attachmentRequest("POST", "/x?filename=big.pdf", io.MultiReader(strings.NewReader("%PDF"), bytes.NewReader(make([]byte, 3<<20))))
		r.ContentLength = -1
		w := httptest.NewRecorder()
		New(Deps{Attachments: f, MaxBodyBytes: 1 << 20}).uploadAttachment(w, r, testPrincipal)
		var mbe *http.MaxBytesError
		if !errors.As(f.readErr, &mbe) || int64(len(f.body)) != 2<<20+multipartOverhead {
			t.Errorf("read %d bytes, %v; want the limit then MaxBytesError", len(f.body), f.readErr)
		}
	})

	t.Run("service errors pass through", func(t *testing.T) {
		f := &fakeAttachments{max: 1 << 20, err: apperr.Invalid("the file exceeds the size limit").WithDetail("reason", attachments.ReasonTooLarge)}
		r := attachmentRequest("POST", "/x?filename=a.pdf", strings.NewReader("%PDF"))
		w := httptest.NewRecorder()
		New(Deps{Attachments: f}).uploadAttachment(w, r, testPrincipal)
		var body ErrorBody
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusBadRequest || body.Error.Details["reason"] != "too_large" {
			t.Errorf("status %d %s", w.Code, w.Body)
		}
	})
}

func TestAttachmentListDeleteAndUnwired(t *testing.T) {
	f := &fakeAttachments{max: 1 << 20, listing: []attachments.Attachment{{ID: testAttachmentID, Filename: "a.pdf", ContentType: "application/pdf", Size: 3}}}
	a := New(Deps{Attachments: f})
	w := httptest.NewRecorder()
	a.listAttachments(w, attachmentRequest("GET", "/x", nil), testPrincipal)
	var list AttachmentList
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 || len(list.Items) != 1 || list.Items[0].Filename != "a.pdf" ||
		f.listed != "account/"+testRecordID {
		t.Errorf("list: %d %s", w.Code, w.Body)
	}
	f.listing = nil
	w = httptest.NewRecorder()
	a.listAttachments(w, attachmentRequest("GET", "/x", nil), testPrincipal)
	if !strings.Contains(w.Body.String(), `"items":[]`) {
		t.Errorf("empty list is %s", w.Body)
	}
	w = httptest.NewRecorder()
	a.deleteAttachment(w, attachmentRequest("DELETE", "/x", nil), testPrincipal)
	if w.Code != http.StatusNoContent || f.deleted != "account/"+testRecordID+"/"+testAttachmentID {
		t.Errorf("delete: %d, %q", w.Code, f.deleted)
	}
	w = httptest.NewRecorder()
	a.downloadAttachment(w, attachmentRequest("GET", "/x", nil), testPrincipal)
	if w.Code != http.StatusNotFound || errorCode(t, w) != "not_found" {
		t.Errorf("download error: %d %s", w.Code, w.Body)
	}
	// Without the service wired every route is a JSON 404.
	bare := New(Deps{})
	for _, h := range []func(http.ResponseWriter, *http.Request, *identity.Principal){bare.listAttachments, bare.uploadAttachment, bare.downloadAttachment, bare.deleteAttachment} {
		w := httptest.NewRecorder()
		h(w, attachmentRequest("GET", "/x", nil), testPrincipal)
		if w.Code != http.StatusNotFound {
			t.Errorf("unwired: %d", w.Code)
		}
	}
}
