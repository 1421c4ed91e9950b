package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"html"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// uploadForm posts a multipart form as a browser does, fields in order.
// A field with a filename is a file.
func (b *browser) uploadForm(path string, fields ...[4]string) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields { // name, filename, content type, content
		h := textproto.MIMEHeader{}
		params := map[string]string{"name": f[0]}
		if f[1] != "" {
			params["filename"] = f[1]
			h.Set("Content-Type", f[2])
		}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", params))
		w, err := mw.CreatePart(h)
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = w.Write([]byte(f[3]))
	}
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.base+path, &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var downloadLink = regexp.MustCompile(`<a href="(/o/account/[0-9a-f-]{36}/attachments/[0-9a-f-]{36})" download>([^<]*)</a>`)

// TestAttachmentsPage drives the attachments section of the record page
// without JavaScript: list, streamed upload with its CSRF token, download,
// refusals and delete.
func TestAttachmentsPage(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			tn := srv.NewTenant(t, "files")
			ctx := context.Background()
			rec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Files Co"}})
			if err != nil {
				t.Fatal(err)
			}
			detail := "/o/account/" + rec.ID
			b := newBrowser(t, srv.URL)
			b.login(tn.Slug, tn.AdminLogin, adminPassword)

			p := b.get(detail)
			wantStatus(t, p, http.StatusOK)
			wantContains(t, p, `id="attachments"`, "<h2>Attachments</h2>", "No files attached yet.", `enctype="multipart/form-data"`,
				`action="`+detail+`/attachments"`, `accept=".pdf,.png,`, "at most 25 MB")
			section := p.Body[strings.Index(p.Body, `id="attachments"`):]
			if strings.Index(section, `name="csrf_token"`) > strings.Index(section, `type="file"`) {
				t.Error("the CSRF field must come before the file input: the upload is read as a stream")
			}
			token := csrfToken(t, p.Body)

			// Upload: a PDF with a Chinese name, several chunks long.
			content := make([]byte, 150<<10)
			_, _ = rand.Read(content)
			copy(content, "%PDF-1.7\n")
			p = b.uploadForm(detail+"/attachments", [4]string{"csrf_token", "", "", token}, [4]string{"file", "张三身份证.pdf", "application/pdf", string(content)})
			wantStatus(t, p, http.StatusOK)
			wantPath(t, p, detail)
			wantContains(t, p, "File attached.", "张三身份证.pdf", "PDF", "150 KB")
			m := downloadLink.FindStringSubmatch(p.Body)
			if m == nil || html.UnescapeString(m[2]) != "张三身份证.pdf" {
				t.Fatalf("no download link on the page:\n%s", excerpt(p.Body, "张三"))
			}
			dl := b.get(m[1])
			wantStatus(t, dl, http.StatusOK)
			if dl.Body != string(content) {
				t.Errorf("downloaded %d bytes, want the %d uploaded", len(dl.Body), len(content))
			}
			if _, params, err := mime.ParseMediaType(dl.Header.Get("Content-Disposition")); err != nil || params["filename"] != "张三身份证.pdf" ||
				!strings.HasPrefix(dl.Header.Get("Content-Disposition"), "attachment;") {
				t.Errorf("Content-Disposition %q", dl.Header.Get("Content-Disposition"))
			}
			if dl.Header.Get("Content-Type") != "application/pdf" || dl.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("download headers %v", dl.Header)
			}

			// CSRF: missing, wrong, after the file, or from another origin.
			file := [4]string{"file", "x.pdf", "application/pdf", "%PDF-1.4 x"}
			wantStatus(t, b.uploadForm(detail+"/attachments", file), http.StatusForbidden)
			wantStatus(t, b.uploadForm(detail+"/attachments", [4]string{"csrf_token", "", "", "forged"}, file), http.StatusForbidden)
			wantStatus(t, b.uploadForm(detail+"/attachments", file, [4]string{"csrf_token", "", "", token}), http.StatusForbidden)
			b.headers["Origin"] = "https://evil.example.com"
			wantStatus(t, b.uploadForm(detail+"/attachments", [4]string{"csrf_token", "", "", token}, file), http.StatusForbidden)
			delete(b.headers, "Origin")
			// A urlencoded post is not an upload.
			wantStatus(t, b.post(detail+"/attachments", url.Values{"csrf_token": {token}}), http.StatusBadRequest)

			// Refused files come back with a message and leave nothing.
			for _, tc := range []struct{ name, ct, body, msg string }{
				{"x.html", "text/html", "<html><script>alert(1)</script>", "This kind of file cannot be attached."},
				{"scan.jpg", "image/jpeg", "%PDF-1.4 not a jpeg", "does not match its content"},
				{"empty.txt", "text/plain", "", "The file is empty."},
			} {
				p = b.uploadForm(detail+"/attachments", [4]string{"csrf_token", "", "", token}, [4]string{"file", tc.name, tc.ct, tc.body})
				wantPath(t, p, detail)
				wantContains(t, p, tc.msg)
			}
			p = b.uploadForm(detail+"/attachments", [4]string{"csrf_token", "", "", token}, [4]string{"file", "", "application/octet-stream", ""})
			wantContains(t, p, "Choose a file to attach first.")
			if n := len(downloadLink.FindAllString(p.Body, -1)); n != 1 {
				t.Errorf("%d files listed after refused uploads, want 1", n)
			}
			if files := countFiles(t, srv.App.Config.AttachmentDirPath()); files != 1 {
				t.Errorf("%d files on disk after refused uploads, want 1", files)
			}

			// The section in Chinese.
			b.lang = "zh-CN"
			wantContains(t, b.get(detail), "<h2>附件</h2>", "上传附件", "删除文件")
			b.lang = "en-US"

			// A sales user reaches none of it.
			srv.NewUser(t, tn, "sam@files.example.com", "Sam Sales", "sales")
			sb := newBrowser(t, srv.URL)
			sb.login(tn.Slug, "sam@files.example.com", adminPassword)
			wantStatus(t, sb.get(m[1]), http.StatusNotFound)
			stoken := csrfToken(t, sb.get("/").Body)
			wantStatus(t, sb.uploadForm(detail+"/attachments", [4]string{"csrf_token", "", "", stoken}, file), http.StatusNotFound)
			wantStatus(t, sb.post(m[1]+"/delete", url.Values{"csrf_token": {stoken}}), http.StatusNotFound)

			// Delete through the page's form.
			p = b.post(m[1]+"/delete", url.Values{"csrf_token": {token}})
			wantPath(t, p, detail)
			wantContains(t, p, "File deleted.", "No files attached yet.")
			wantStatus(t, b.get(m[1]), http.StatusNotFound)

			// The audit log names the actions in the admin's language.
			wantContains(t, b.get("/audit?action=attachment.upload"), "File attached")
		})
	}
}

func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
