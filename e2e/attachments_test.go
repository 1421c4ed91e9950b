package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

// attachmentMax is the test servers' attachment size limit.
const attachmentMax = 1 << 20

func attachmentsURL(rid string) string {
	return "/api/v1/objects/account/records/" + rid + "/attachments"
}

// multipartUpload posts one file the way a browser or curl -F would.
func multipartUpload(t *testing.T, srv *testserver.Server, token, rid, filename, contentType string, content []byte) rawResp {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": filename}))
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(content)
	_ = mw.Close()
	return do(t, srv, rawReq{Method: "POST", Path: attachmentsURL(rid), Token: token, ContentType: mw.FormDataContentType(), Body: buf.Bytes()})
}

func uploaded(t *testing.T, r rawResp) api.AttachmentDTO {
	t.Helper()
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: status %d: %s", r.Status, r.Body)
	}
	var dto api.AttachmentDTO
	if err := json.Unmarshal(r.Body, &dto); err != nil {
		t.Fatal(err)
	}
	return dto
}

func listAttachments(t *testing.T, srv *testserver.Server, token, rid string) []api.AttachmentDTO {
	t.Helper()
	r := do(t, srv, rawReq{Method: "GET", Path: attachmentsURL(rid), Token: token})
	if r.Status != http.StatusOK {
		t.Fatalf("list: status %d: %s", r.Status, r.Body)
	}
	var l api.AttachmentList
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func pdfBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	copy(b, "%PDF-1.7\n")
	return b
}

// tenantFiles lists every file (temporary ones too) in a tenant's
// attachment directory.
func tenantFiles(t *testing.T, srv *testserver.Server, tid string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(srv.App.Config.AttachmentDirPath(), tid), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAttachments drives attachments over HTTP on both engines.
func TestAttachments(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var logs attachmentLog
			srv := testserver.Start(t, engine, testserver.Options{LogTo: &logs, Configure: func(c *config.Config) { c.Attachments.MaxBytes = attachmentMax }})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			t.Run("RoundTrip", func(t *testing.T) { testAttachmentRoundTrip(t, srv) })
			t.Run("Access", func(t *testing.T) { testAttachmentAccess(t, srv) })
			t.Run("Limits", func(t *testing.T) { testAttachmentLimits(t, srv) })
			t.Run("TamperedFile", func(t *testing.T) { testAttachmentTamper(t, srv) })
			t.Run("RotationAndShredding", func(t *testing.T) { testAttachmentKeys(t, srv) })
			t.Run("CanaryNowhereInClear", func(t *testing.T) { testAttachmentCanary(t, srv, engine, &logs) })
		})
	}
}

func testAttachmentRoundTrip(t *testing.T, srv *testserver.Server) {
	ctx := context.Background()
	tn := srv.NewTenant(t, "files")
	tok := tn.Admin.Token()
	rec := create(t, tn.Admin, "account", map[string]any{"name": "Files Co"})
	body := pdfBytes(300 << 10)
	a := uploaded(t, multipartUpload(t, srv, tok, rec.ID, "张三身份证.pdf", "application/pdf", body))
	if a.Filename != "张三身份证.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(body)) || a.ID == "" {
		t.Fatalf("uploaded %+v", a)
	}
	r := do(t, srv, rawReq{Method: "GET", Path: attachmentsURL(rec.ID) + "/" + a.ID, Token: tok})
	if r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("download: status %d, %d bytes", r.Status, len(r.Body))
	}
	h := r.Header
	if h.Get("Content-Type") != "application/pdf" || h.Get("Content-Length") != strconv.Itoa(len(body)) || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Errorf("download headers %v", h)
	}
	disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != "张三身份证.pdf" {
		t.Errorf("Content-Disposition %q", h.Get("Content-Disposition"))
	}

	// A raw body with ?filename=, a CSV whose browser calls it Excel.
	csv := []byte("name,phone\n李四,13800138000\n")
	b := uploaded(t, do(t, srv, rawReq{Method: "POST", Path: attachmentsURL(rec.ID) + "?filename=" + url.QueryEscape("客户名单.csv"), Token: tok,
		ContentType: "application/vnd.ms-excel", Body: csv}))
	if b.ContentType != "text/csv; charset=utf-8" || b.Filename != "客户名单.csv" {
		t.Errorf("raw upload %+v", b)
	}
	items := listAttachments(t, srv, tok, rec.ID)
	if len(items) != 2 || items[0].ID != a.ID || items[1].ID != b.ID {
		t.Fatalf("list %+v", items)
	}
	// Audited without file names.
	evs, err := tn.Admin.ListAudit(ctx, client.AuditQuery{Object: "attachment"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs.Items {
		seen[e.Action]++
		raw, _ := json.Marshal(e)
		if bytes.Contains(raw, []byte("张三")) || bytes.Contains(raw, []byte("客户名单")) {
			t.Errorf("audit event shows a file name: %s", raw)
		}
	}
	if seen["attachment.upload"] != 2 || seen["attachment.download"] != 1 {
		t.Errorf("audit actions %v", seen)
	}
	// Delete: 204, then gone everywhere.
	if r := do(t, srv, rawReq{Method: "DELETE", Path: attachmentsURL(rec.ID) + "/" + a.ID, Token: tok}); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	wantRaw(t, "download after delete", do(t, srv, rawReq{Method: "GET", Path: attachmentsURL(rec.ID) + "/" + a.ID, Token: tok}), 404, "not_found")
	if files := tenantFiles(t, srv, tn.ID); len(files) != 1 || filepath.Base(files[0]) != b.ID {
		t.Errorf("files after delete: %v", files)
	}
}

func testAttachmentAccess(t *testing.T, srv *testserver.Server) {
	tn := srv.NewTenant(t, "filesacl")
	tok := tn.Admin.Token()
	sales, _ := srv.NewUser(t, tn, "sam@filesacl.example.com", "Sam Sales", "sales")
	rec := create(t, tn.Admin, "account", map[string]any{"name": "Admin Co"})
	own := create(t, sales, "account", map[string]any{"name": "Sam Co"})
	a := uploaded(t, multipartUpload(t, srv, tok, rec.ID, "secret.pdf", "", pdfBytes(5000)))
	other := srv.NewTenant(t, "filesacl-b")

	for who, token := range map[string]string{"sales user": sales.Token(), "admin of another tenant": other.Admin.Token()} {
		for what, req := range map[string]rawReq{
			"list":                        {Method: "GET", Path: attachmentsURL(rec.ID)},
			"download":                    {Method: "GET", Path: attachmentsURL(rec.ID) + "/" + a.ID},
			"delete":                      {Method: "DELETE", Path: attachmentsURL(rec.ID) + "/" + a.ID},
			"upload":                      {Method: "POST", Path: attachmentsURL(rec.ID) + "?filename=x.pdf", ContentType: "application/pdf", Body: pdfBytes(100)},
			"download via another record": {Method: "GET", Path: attachmentsURL(own.ID) + "/" + a.ID},
		} {
			req.Token = token
			wantRaw(t, who+" "+what, do(t, srv, req), 404, "not_found")
		}
	}
	if items := listAttachments(t, srv, tok, rec.ID); len(items) != 1 {
		t.Errorf("the admin's file is gone: %+v", items)
	}
	// The sales user's own record is theirs to use.
	mine := uploaded(t, multipartUpload(t, srv, sales.Token(), own.ID, "mine.png", "image/png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)))
	if r := do(t, srv, rawReq{Method: "GET", Path: attachmentsURL(own.ID) + "/" + mine.ID, Token: sales.Token()}); r.Status != 200 || len(r.Body) != 108 {
		t.Errorf("own download: %d", r.Status)
	}
	// Without a credential: 401, as everywhere.
	wantRaw(t, "anonymous", do(t, srv, rawReq{Method: "GET", Path: attachmentsURL(rec.ID) + "/" + a.ID}), 401, "unauthenticated")
}

func testAttachmentLimits(t *testing.T, srv *testserver.Server) {
	tn := srv.NewTenant(t, "fileslimits")
	tok := tn.Admin.Token()
	rec := create(t, tn.Admin, "account", map[string]any{"name": "Limits Co"})
	reason := func(what string, r rawResp, want string) {
		t.Helper()
		e := wantRaw(t, what, r, 400, "invalid_request")
		if e.Details["reason"] != want {
			t.Errorf("%s: reason %v, want %s (%s)", what, e.Details["reason"], want, e.Message)
		}
	}
	reason("lying content type", multipartUpload(t, srv, tok, rec.ID, "scan.pdf", "image/png", pdfBytes(2000)), "type_mismatch")
	reason("PDF named .png", multipartUpload(t, srv, tok, rec.ID, "scan.png", "image/png", pdfBytes(2000)), "type_mismatch")
	reason("HTML", multipartUpload(t, srv, tok, rec.ID, "x.html", "text/html", []byte("<html><script>alert(document.cookie)</script>")), "type_not_allowed")
	reason("SVG", multipartUpload(t, srv, tok, rec.ID, "x.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)), "type_not_allowed")
	reason("executable", multipartUpload(t, srv, tok, rec.ID, "setup.exe", "application/octet-stream", append([]byte("MZ\x90\x00"), make([]byte, 1000)...)), "type_not_allowed")
	reason("over the limit", multipartUpload(t, srv, tok, rec.ID, "big.pdf", "application/pdf", pdfBytes(attachmentMax+1)), "too_large")

	// A body of unknown length (chunked, no Content-Length) is cut off at
	// the limit while it streams.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("%PDF-1.7\n"))
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < 8*attachmentMax; sent += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", srv.URL+attachmentsURL(rec.ID)+"?filename=stream.pdf", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/pdf")
	resp, err := http.DefaultClient.Do(req)
	pr.CloseWithError(errors.New("done"))
	if err != nil {
		t.Fatalf("chunked oversize upload: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(b, []byte(`"too_large"`)) {
		t.Errorf("chunked oversize upload: %d %s", resp.StatusCode, b)
	}

	// Nothing of any of them is left: no row, no file, no temporary file.
	if items := listAttachments(t, srv, tok, rec.ID); len(items) != 0 {
		t.Errorf("refused uploads left rows: %+v", items)
	}
	if files := tenantFiles(t, srv, tn.ID); len(files) != 0 {
		t.Errorf("refused uploads left files: %v", files)
	}
	// At the limit is fine.
	uploaded(t, multipartUpload(t, srv, tok, rec.ID, "max.pdf", "application/pdf", pdfBytes(attachmentMax)))
}

func testAttachmentTamper(t *testing.T, srv *testserver.Server) {
	tn := srv.NewTenant(t, "filestamper")
	tok := tn.Admin.Token()
	rec := create(t, tn.Admin, "account", map[string]any{"name": "Tamper Co"})
	body := pdfBytes(200 << 10)
	a := uploaded(t, multipartUpload(t, srv, tok, rec.ID, "a.pdf", "", body))
	path := filepath.Join(srv.App.Config.AttachmentDirPath(), tn.ID, a.ID)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(path, orig, 0o600)
	target := attachmentsURL(rec.ID) + "/" + a.ID

	// A bad first chunk: a clean 500 with a request ID, no file bytes.
	bad := bytes.Clone(orig)
	bad[40] ^= 1
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	wantRaw(t, "corrupt first chunk", do(t, srv, rawReq{Method: "GET", Path: target, Token: tok}), 500, "internal")

	// A bad third chunk: the transfer is cut before Content-Length, and
	// what arrived is a prefix of the true content (never forged bytes).
	bad = bytes.Clone(orig)
	bad[16+2*(64<<10+16)+5] ^= 1
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+target, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || resp.StatusCode != 200 || len(got) >= len(body) || !bytes.Equal(got, body[:len(got)]) || resp.ContentLength != int64(len(body)) {
		t.Errorf("corrupt third chunk: status %d, %d of %d bytes, read error %v", resp.StatusCode, len(got), resp.ContentLength, err)
	}
	if len(got) > 2*(64<<10) {
		t.Errorf("%d bytes sent: more than the two good chunks", len(got))
	}
}

func testAttachmentKeys(t *testing.T, srv *testserver.Server) {
	ctx := context.Background()
	tn := srv.NewTenant(t, "fileskeys")
	tid := tenant.ID(tn.ID)
	tok := tn.Admin.Token()
	rec := create(t, tn.Admin, "account", map[string]any{"name": "Keys Co"})
	body := pdfBytes(100 << 10)
	a := uploaded(t, multipartUpload(t, srv, tok, rec.ID, "合同.pdf", "", body))
	target := attachmentsURL(rec.ID) + "/" + a.ID

	kr, svc := srv.App.Keyring, srv.App.Attachments
	oldTerm, err := kr.EnsureTenantKey(ctx, tid)
	noErr(t, err)
	_, err = kr.Rotate(ctx, tid)
	noErr(t, err)
	n, err := svc.RekeyTenant(ctx, tid)
	if err != nil || n != 1 {
		t.Fatalf("rekey: %d, %v", n, err)
	}
	if used, err := svc.CountTermUsage(ctx, tid, oldTerm); err != nil || used != 0 {
		t.Fatalf("old term still used by %d attachments: %v", used, err)
	}
	if r := do(t, srv, rawReq{Method: "GET", Path: target, Token: tok}); r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("download after rotation: %d", r.Status)
	}

	// Crypto-shredding: the file is still on disk, but nobody can read it.
	if _, err := kr.DestroyTenantKeys(ctx, tid); err != nil {
		t.Fatal(err)
	}
	r := do(t, srv, rawReq{Method: "GET", Path: target, Token: tok})
	if r.Status == 200 || bytes.Contains(r.Body, body[:64]) {
		t.Fatalf("download after shredding: %d", r.Status)
	}
	errorEnvelope(t, "download after shredding", r)
	if _, err := os.Stat(filepath.Join(srv.App.Config.AttachmentDirPath(), tn.ID, a.ID)); err != nil {
		t.Errorf("the ciphertext should still be on disk: %v", err)
	}
}

// testAttachmentCanary is the proof that attachments stay the tenant's:
// a unique canary in a file's content and another in its name are found
// nowhere in clear: not in the attachment store, not in the SQLite
// database or its WAL, not in a pg_dump of PostgreSQL, not in the logs.
func testAttachmentCanary(t *testing.T, srv *testserver.Server, engine string, logs *attachmentLog) {
	tn := srv.NewTenant(t, "canary")
	tok := tn.Admin.Token()
	rec := create(t, tn.Admin, "account", map[string]any{"name": "Canary Co"})
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	contentCanary := "CANARY-CONTENT-" + hex.EncodeToString(nonce)
	nameCanary := "canary-name-" + hex.EncodeToString(nonce)
	filename := nameCanary + "-张三身份证.txt"
	content := []byte("合同编号 " + contentCanary + "\n" + strings.Repeat("身份证号 110101199003074578 "+contentCanary+"\n", 5000))
	a := uploaded(t, multipartUpload(t, srv, tok, rec.ID, filename, "text/plain", content))
	// A raw upload puts the name in the URL: it must not reach the logs.
	uploaded(t, do(t, srv, rawReq{Method: "POST", Path: attachmentsURL(rec.ID) + "?filename=" + url.QueryEscape(nameCanary+"-2.txt"), Token: tok,
		ContentType: "text/plain", Body: []byte(contentCanary)}))
	// Read everything back so every code path has run.
	if r := do(t, srv, rawReq{Method: "GET", Path: attachmentsURL(rec.ID) + "/" + a.ID, Token: tok}); r.Status != 200 || !bytes.Equal(r.Body, content) {
		t.Fatalf("download: %d", r.Status)
	}
	if items := listAttachments(t, srv, tok, rec.ID); len(items) != 2 || items[0].Filename != filename {
		t.Fatalf("list: %+v", items)
	}
	canaries := [][]byte{[]byte(contentCanary), []byte(nameCanary), []byte(hex.EncodeToString([]byte(contentCanary)))}

	scan := func(what string, data []byte) {
		t.Helper()
		for _, c := range canaries {
			if bytes.Contains(data, c) {
				t.Errorf("%s holds the canary %q in clear", what, c)
			}
		}
	}
	// The control: the attachment's ID, stored in clear, is found where
	// the scans look, so a clean scan means the canary is really absent.
	var seenID bool
	control := func(data []byte) { seenID = seenID || bytes.Contains(data, []byte(a.ID)) }
	scanned := 0
	scanTree := func(root string) {
		t.Helper()
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			scanned++
			scan(p, b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	scanTree(srv.App.Config.AttachmentDirPath())
	if scanned < 2 {
		t.Fatalf("scanned %d attachment files", scanned)
	}
	switch engine {
	case "sqlite":
		db := srv.App.Config.SQLitePath()
		found := 0
		for _, p := range []string{db, db + "-wal", db + "-shm", db + "-journal"} {
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			found++
			scan(filepath.Base(p), b)
			control(b)
		}
		if _, err := os.Stat(db + "-wal"); err != nil {
			t.Errorf("no WAL to scan: %v", err)
		}
		if found < 2 {
			t.Errorf("scanned %d database files", found)
		}
		// Everything else in the data directory (keys, temporary files).
		scanTree(srv.App.Config.DataDir)
	case "postgres":
		pgDump, err := exec.LookPath("pg_dump")
		if err != nil {
			t.Log("pg_dump is not on PATH: the PostgreSQL dump was not scanned (the attachment store and the logs were)")
			break
		}
		out, err := exec.Command(pgDump, "--dbname="+srv.App.Config.DatabaseURL, "--no-owner").Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		if !bytes.Contains(out, []byte("COPY public.attachments")) && !bytes.Contains(out, []byte("attachments (")) {
			t.Fatalf("the dump has no attachments table (%d bytes)", len(out))
		}
		scan("pg_dump", out)
		control(out)
	}
	if pg, _ := exec.LookPath("pg_dump"); (engine == "sqlite" || pg != "") && !seenID {
		t.Error("control failed: the attachment's ID was not found in the scanned database")
	}
	scan("server logs", logs.Bytes())
}

// attachmentLog is a log sink safe for the server's concurrent logging.
type attachmentLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *attachmentLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *attachmentLog) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
