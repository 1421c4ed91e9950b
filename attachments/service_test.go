package attachments_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

// env is one tenant on a running server, with its admin as an actor.
type env struct {
	srv   *testserver.Server
	tn    testserver.Tenant
	svc   *attachments.Service
	admin tenant.Actor
	tid   tenant.ID
}

func newEnv(t *testing.T, srv *testserver.Server, slug string) env {
	t.Helper()
	tn := srv.NewTenant(t, slug)
	e := env{srv: srv, tn: tn, svc: srv.App.Attachments, tid: tenant.ID(tn.ID)}
	e.admin = e.actor(t, tn.AdminLogin)
	return e
}

func (e env) actor(t *testing.T, login string) tenant.Actor {
	t.Helper()
	u, err := e.srv.App.DB.UserByLogin(context.Background(), e.tid, login)
	if err != nil {
		t.Fatalf("user %s: %v", login, err)
	}
	return tenant.Actor{Kind: tenant.ActorUser, TenantID: e.tid, UserID: u.ID, Name: u.Name, Role: u.Role, RequestID: "test"}
}

func (e env) account(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	rec, err := c.CreateRecord(context.Background(), "account", client.RecordInput{Fields: map[string]any{"name": name}})
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	return rec.ID
}

// pdf returns n bytes that sniff as a PDF, the rest random.
func pdf(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	copy(b, "%PDF-1.7\n")
	return b
}

func (e env) upload(t *testing.T, actor tenant.Actor, recordID, name string, body []byte) attachments.Attachment {
	t.Helper()
	a, err := e.svc.Upload(context.Background(), actor, attachments.UploadInput{Object: "account", RecordID: recordID, Filename: name, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return a
}

func (e env) download(actor tenant.Actor, recordID, id string) ([]byte, error) {
	d, err := e.svc.Open(context.Background(), actor, "account", recordID, id)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return io.ReadAll(d)
}

func (e env) filePath(id string) string {
	return filepath.Join(e.srv.App.Config.AttachmentDirPath(), string(e.tid), id)
}

// files lists every file under the tenant's attachment directory,
// temporary ones included.
func (e env) files(t *testing.T) []string {
	t.Helper()
	var out []string
	root := filepath.Join(e.srv.App.Config.AttachmentDirPath(), string(e.tid))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e env) events(t *testing.T, action string) []audit.Event {
	t.Helper()
	evs, err := e.srv.App.DB.QueryAudit(context.Background(), e.tid, audit.Filter{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func wantKind(t *testing.T, what string, err error, kind apperr.Kind) {
	t.Helper()
	if !apperr.Is(err, kind) {
		t.Errorf("%s: want %v, got %v", what, kind, err)
	}
}

func TestService(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, testserver.Options{Configure: func(c *config.Config) { c.Attachments.MaxBytes = 512 << 10 }})
			t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newEnv(t, srv, "round")) })
			t.Run("Access", func(t *testing.T) { testAccess(t, srv) })
			t.Run("LimitsLeaveNothing", func(t *testing.T) { testLimits(t, newEnv(t, srv, "limits")) })
			t.Run("Tamper", func(t *testing.T) { testTamper(t, newEnv(t, srv, "tamper")) })
			t.Run("Rekey", func(t *testing.T) { testRekey(t, newEnv(t, srv, "rekey")) })
			t.Run("DestroyedKeys", func(t *testing.T) { testDestroyed(t, newEnv(t, srv, "shred")) })
		})
	}
}

func testRoundTrip(t *testing.T, e env) {
	ctx := context.Background()
	rid := e.account(t, e.tn.Admin, "Round Trip Co")
	body := pdf(300 << 10) // several chunks
	a := e.upload(t, e.admin, rid, "张三身份证.pdf", body)
	if a.Filename != "张三身份证.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(body)) || a.CreatedBy != e.admin.UserID {
		t.Fatalf("uploaded %+v", a)
	}
	list, err := e.svc.List(ctx, e.admin, "account", rid)
	if err != nil || len(list) != 1 || list[0] != a {
		t.Fatalf("list %+v, %v; want [%+v]", list, err, a)
	}
	got, err := e.download(e.admin, rid, a.ID)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("download: %d bytes, %v", len(got), err)
	}
	// On disk: mode 0600 under 0700 directories, ciphertext only.
	info, err := os.Stat(e.filePath(a.ID))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v", info.Mode(), err)
	}
	for _, dir := range []string{filepath.Dir(e.filePath(a.ID)), e.srv.App.Config.AttachmentDirPath()} {
		if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("directory %s mode %v, %v", dir, info.Mode(), err)
		}
	}
	raw, _ := os.ReadFile(e.filePath(a.ID))
	if bytes.Contains(raw, body[100:164]) {
		t.Error("plaintext found in the stored file")
	}
	// Audited without the file name.
	for _, action := range []string{audit.ActionAttachmentUploaded, audit.ActionAttachmentDownloaded} {
		evs := e.events(t, action)
		if len(evs) != 1 || evs[0].ObjectType != "attachment" || evs[0].ObjectID != a.ID || evs[0].ObjectName != "" ||
			evs[0].Changes["record_id"].After != rid || evs[0].Changes["object"].After != "account" {
			t.Errorf("%s events: %+v", action, evs)
		}
	}
	if err := e.svc.Delete(ctx, e.admin, "account", rid, a.ID); err != nil {
		t.Fatal(err)
	}
	if evs := e.events(t, audit.ActionAttachmentDeleted); len(evs) != 1 || evs[0].ObjectID != a.ID || evs[0].Changes["size"].Before == nil {
		t.Errorf("delete events: %+v", evs)
	}
	if _, err := os.Stat(e.filePath(a.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file left after delete: %v", err)
	}
	_, err = e.download(e.admin, rid, a.ID)
	wantKind(t, "download after delete", err, apperr.KindNotFound)
	wantKind(t, "delete twice", e.svc.Delete(ctx, e.admin, "account", rid, a.ID), apperr.KindNotFound)
	// An empty list, and an ID that is not an ID.
	if list, err := e.svc.List(ctx, e.admin, "account", rid); err != nil || len(list) != 0 {
		t.Errorf("list after delete: %v, %v", list, err)
	}
	_, err = e.download(e.admin, rid, "../../../etc/passwd")
	wantKind(t, "download of a path", err, apperr.KindNotFound)
}

func testAccess(t *testing.T, srv *testserver.Server) {
	ctx := context.Background()
	e := newEnv(t, srv, "access")
	salesClient, _ := srv.NewUser(t, e.tn, "sam@access.example.com", "Sam Sales", "sales")
	sam := e.actor(t, "sam@access.example.com")
	adminRec := e.account(t, e.tn.Admin, "Admin Owned Co")
	samRec := e.account(t, salesClient, "Sam Owned Co")
	secret := e.upload(t, e.admin, adminRec, "secret.pdf", pdf(1000))

	// A sales user sees nothing of another owner's record: not found,
	// exactly like a record that does not exist.
	_, err := e.svc.List(ctx, sam, "account", adminRec)
	wantKind(t, "sales list", err, apperr.KindNotFound)
	_, err = e.download(sam, adminRec, secret.ID)
	wantKind(t, "sales download", err, apperr.KindNotFound)
	wantKind(t, "sales delete", e.svc.Delete(ctx, sam, "account", adminRec, secret.ID), apperr.KindNotFound)
	_, err = e.svc.Upload(ctx, sam, attachments.UploadInput{Object: "account", RecordID: adminRec, Filename: "x.pdf", Body: bytes.NewReader(pdf(100))})
	wantKind(t, "sales upload", err, apperr.KindNotFound)
	// Nor through a record of their own: the attachment belongs to one record.
	_, err = e.download(sam, samRec, secret.ID)
	wantKind(t, "download through another record", err, apperr.KindNotFound)
	wantKind(t, "delete through another record", e.svc.Delete(ctx, sam, "account", samRec, secret.ID), apperr.KindNotFound)
	// Their own record works.
	mine := e.upload(t, sam, samRec, "mine.pdf", pdf(2000))
	if got, err := e.download(sam, samRec, mine.ID); err != nil || len(got) != 2000 {
		t.Errorf("own download: %d, %v", len(got), err)
	}

	// Another tenant's admin, holding every ID, gets not found.
	other := newEnv(t, srv, "access-b")
	_, err = other.svc.List(ctx, other.admin, "account", adminRec)
	wantKind(t, "other tenant list", err, apperr.KindNotFound)
	_, err = other.download(other.admin, adminRec, secret.ID)
	wantKind(t, "other tenant download", err, apperr.KindNotFound)
	wantKind(t, "other tenant delete", other.svc.Delete(ctx, other.admin, "account", adminRec, secret.ID), apperr.KindNotFound)
	// Even through a record of its own with the same object.
	bRec := other.account(t, other.tn.Admin, "B Co")
	_, err = other.download(other.admin, bRec, secret.ID)
	wantKind(t, "other tenant download through its record", err, apperr.KindNotFound)
	if got, err := e.download(e.admin, adminRec, secret.ID); err != nil || len(got) != 1000 {
		t.Errorf("the secret is gone: %v", err)
	}
	// A system actor (no user) may do nothing.
	_, err = e.svc.List(ctx, tenant.System(e.tid, "test"), "account", adminRec)
	if err == nil {
		t.Error("the system actor listed attachments")
	}
}

func testLimits(t *testing.T, e env) {
	ctx := context.Background()
	rid := e.account(t, e.tn.Admin, "Limits Co")
	up := func(name, declared string, body io.Reader) error {
		_, err := e.svc.Upload(ctx, e.admin, attachments.UploadInput{Object: "account", RecordID: rid, Filename: name, DeclaredType: declared, Body: body})
		return err
	}
	reason := func(err error) string {
		ae, _ := apperr.As(err)
		if ae == nil || ae.Kind != apperr.KindInvalid {
			return "not invalid: " + errString(err)
		}
		r, _ := ae.Details["reason"].(string)
		return r
	}
	cases := []struct {
		what, name, declared string
		body                 io.Reader
		reason               string
	}{
		{"one byte over the limit", "big.pdf", "application/pdf", bytes.NewReader(pdf(512<<10 + 1)), attachments.ReasonTooLarge},
		{"endless body", "endless.pdf", "", io.MultiReader(strings.NewReader("%PDF-1.4\n"), endless{}), attachments.ReasonTooLarge},
		{"lying content type", "scan.pdf", "image/png", bytes.NewReader(pdf(4000)), attachments.ReasonTypeMismatch},
		{"renamed PDF", "photo.jpg", "", bytes.NewReader(pdf(4000)), attachments.ReasonTypeMismatch},
		{"HTML", "page.html", "text/html", strings.NewReader("<!doctype html><script>alert(1)</script>"), attachments.ReasonType},
		{"HTML as text", "page.txt", "text/plain", strings.NewReader("<html><script>alert(1)</script>"), attachments.ReasonType},
		{"SVG", "logo.svg", "image/svg+xml", strings.NewReader(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), attachments.ReasonType},
		{"executable", "invoice.pdf", "application/pdf", bytes.NewReader(append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 600)...)), attachments.ReasonType},
		{"empty", "empty.txt", "", strings.NewReader(""), attachments.ReasonEmpty},
		{"bad name", "a\u202egpj.exe", "", bytes.NewReader(pdf(100)), attachments.ReasonFilename},
	}
	for _, tc := range cases {
		if got := reason(up(tc.name, tc.declared, tc.body)); got != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.what, got, tc.reason)
		}
	}
	// Exactly the limit is fine.
	if err := up("max.pdf", "", bytes.NewReader(pdf(512<<10))); err != nil {
		t.Fatalf("upload at the limit: %v", err)
	}
	list, err := e.svc.List(ctx, e.admin, "account", rid)
	if err != nil || len(list) != 1 || list[0].Filename != "max.pdf" {
		t.Errorf("rows after refused uploads: %+v, %v", list, err)
	}
	if files := e.files(t); len(files) != 1 || filepath.Base(files[0]) != list[0].ID {
		t.Errorf("files after refused uploads: %v", files)
	}
	if evs := e.events(t, audit.ActionAttachmentUploaded); len(evs) != 1 {
		t.Errorf("%d upload events, want 1", len(evs))
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func testTamper(t *testing.T, e env) {
	ctx := context.Background()
	rid := e.account(t, e.tn.Admin, "Tamper Co")
	body := pdf(200 << 10) // 4 chunks
	a := e.upload(t, e.admin, rid, "a.pdf", body)
	b := e.upload(t, e.admin, rid, "b.pdf", body)
	origA, _ := os.ReadFile(e.filePath(a.ID))
	origB, _ := os.ReadFile(e.filePath(b.ID))
	restore := func() {
		t.Helper()
		if err := os.WriteFile(e.filePath(a.ID), origA, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set := func(content []byte) {
		t.Helper()
		if err := os.WriteFile(e.filePath(a.ID), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flip := func(i int) []byte {
		c := bytes.Clone(origA)
		c[i] ^= 0x80
		return c
	}
	const sealedChunk = attachments.DefaultChunkSize + 16
	// A corrupt start fails before any byte is handed out.
	for what, content := range map[string][]byte{
		"first chunk flipped": flip(16 + 100),
		"header flipped":      flip(14),
		"file of another attachment (same content and key holder)": origB,
		"emptied": {},
	} {
		set(content)
		d, err := e.svc.Open(ctx, e.admin, "account", rid, a.ID)
		if d != nil || !apperr.Is(err, apperr.KindInternal) || !errors.Is(err, attachments.ErrCorrupt) {
			t.Errorf("%s: Open = %v, %v; want an internal error wrapping ErrCorrupt", what, d, err)
		}
	}
	// A corrupt later chunk fails on Read, after only authenticated data.
	for what, content := range map[string][]byte{
		"third chunk flipped": flip(16 + 2*sealedChunk + 7),
		"truncated":           origA[:len(origA)-sealedChunk/2],
		"last chunk dropped":  origA[:16+3*sealedChunk],
		"extended":            append(bytes.Clone(origA), origA[16:16+sealedChunk]...),
	} {
		set(content)
		got, err := e.download(e.admin, rid, a.ID)
		if !errors.Is(err, attachments.ErrCorrupt) || !bytes.Equal(got, body[:len(got)]) || len(got) == len(body) {
			t.Errorf("%s: read %d bytes, %v; want a prefix of the plaintext then ErrCorrupt", what, len(got), err)
		}
	}
	restore()
	if got, err := e.download(e.admin, rid, a.ID); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("restored file: %v", err)
	}
	if got, err := e.download(e.admin, rid, b.ID); err != nil || !bytes.Equal(got, body) || !bytes.Equal(origB, mustRead(t, e.filePath(b.ID))) {
		t.Fatalf("the other file: %v", err)
	}
	// A file missing from disk is lost data: internal, not "not found".
	if err := os.Remove(e.filePath(a.ID)); err != nil {
		t.Fatal(err)
	}
	_, err := e.download(e.admin, rid, a.ID)
	wantKind(t, "missing file", err, apperr.KindInternal)
	restore()
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRekey(t *testing.T, e env) {
	ctx := context.Background()
	rid := e.account(t, e.tn.Admin, "Rekey Co")
	bodies := map[string][]byte{}
	files := map[string][]byte{}
	var ids []string
	for i, name := range []string{"一.pdf", "二.pdf", "三.pdf"} {
		body := pdf(1000 * (i + 1))
		a := e.upload(t, e.admin, rid, name, body)
		bodies[a.ID], ids = body, append(ids, a.ID)
		files[a.ID] = mustRead(t, e.filePath(a.ID))
	}
	oldTerm, err := e.srv.App.Keyring.EnsureTenantKey(ctx, e.tid)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.CountTermUsage(ctx, e.tid, oldTerm); err != nil || n != 3 {
		t.Fatalf("usage of term %d before rotation: %d, %v", oldTerm, n, err)
	}
	if n, err := e.svc.RekeyTenant(ctx, e.tid); err != nil || n != 0 {
		t.Fatalf("rekey without rotation: %d, %v", n, err)
	}
	newTerm, err := e.srv.App.Keyring.Rotate(ctx, e.tid)
	if err != nil {
		t.Fatal(err)
	}
	// Written after the rotation: already under the new term.
	late := e.upload(t, e.admin, rid, "late.pdf", pdf(500))
	if n, err := e.svc.RekeyTenant(ctx, e.tid); err != nil || n != 3 {
		t.Fatalf("rekey: %d, %v", n, err)
	}
	if n, err := e.svc.RekeyTenant(ctx, e.tid); err != nil || n != 0 {
		t.Fatalf("second rekey: %d, %v", n, err)
	}
	if n, err := e.svc.CountTermUsage(ctx, e.tid, oldTerm); err != nil || n != 0 {
		t.Errorf("usage of the old term after rekey: %d, %v", n, err)
	}
	if n, err := e.svc.CountTermUsage(ctx, e.tid, newTerm); err != nil || n != 4 {
		t.Errorf("usage of the new term: %d, %v", n, err)
	}
	// Only the sealed values moved: files are byte for byte the same,
	// and everything still reads.
	for _, id := range ids {
		if !bytes.Equal(files[id], mustRead(t, e.filePath(id))) {
			t.Errorf("file %s was rewritten by the rekey", id)
		}
		if got, err := e.download(e.admin, rid, id); err != nil || !bytes.Equal(got, bodies[id]) {
			t.Errorf("download %s after rekey: %v", id, err)
		}
	}
	list, err := e.svc.List(ctx, e.admin, "account", rid)
	if err != nil || len(list) != 4 || list[0].Filename != "一.pdf" || list[3].ID != late.ID {
		t.Errorf("list after rekey: %+v, %v", list, err)
	}
	// The counter serves the keyring's retirement check.
	if err := e.srv.App.Keyring.Retire(ctx, e.tid, oldTerm, e.svc.CountTermUsage); err != nil {
		t.Errorf("retire the old term: %v", err)
	}
}

func testDestroyed(t *testing.T, e env) {
	ctx := context.Background()
	rid := e.account(t, e.tn.Admin, "Shred Co")
	a := e.upload(t, e.admin, rid, "contract.pdf", pdf(100<<10))
	if _, err := e.srv.App.Keyring.DestroyTenantKeys(ctx, e.tid); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.Open(ctx, e.admin, "account", rid, a.ID)
	if d != nil || err == nil {
		t.Fatalf("download after crypto-shredding: %v, %v", d, err)
	}
	if _, ok := apperr.As(err); !ok {
		t.Errorf("download after crypto-shredding: not an apperr: %v", err)
	}
	_, err = e.svc.List(ctx, e.admin, "account", rid)
	if _, ok := apperr.As(err); !ok || err == nil {
		t.Errorf("list after crypto-shredding: %v", err)
	}
	_, err = e.svc.Upload(ctx, e.admin, attachments.UploadInput{Object: "account", RecordID: rid, Filename: "new.pdf", Body: bytes.NewReader(pdf(100))})
	if _, ok := apperr.As(err); !ok || err == nil {
		t.Errorf("upload after crypto-shredding: %v", err)
	}
	if _, err := e.svc.RekeyTenant(ctx, e.tid); err == nil {
		t.Error("rekey after crypto-shredding succeeded")
	}
}

// TestServiceConstantMemory uploads and downloads 64 MiB through the
// whole service (database, keyring, file store) and checks the memory
// allocated stays a small constant: the file is never held whole.
func TestServiceConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 64 MiB through the disk")
	}
	const total = 64 << 20
	srv := testserver.Start(t, "sqlite", testserver.Options{Configure: func(c *config.Config) { c.Attachments.MaxBytes = total }})
	e := newEnv(t, srv, "memory")
	rid := e.account(t, e.tn.Admin, "Memory Co")
	ctx := context.Background()
	body := io.MultiReader(strings.NewReader("%PDF-1.7\n"), io.LimitReader(endless{}, total-9))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, err := e.svc.Upload(ctx, e.admin, attachments.UploadInput{Object: "account", RecordID: rid, Filename: "big.pdf", Body: body})
	runtime.ReadMemStats(&after)
	if err != nil || a.Size != total {
		t.Fatalf("upload: %+v, %v", a, err)
	}
	up := after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := e.svc.Open(ctx, e.admin, "account", rid, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, d)
	d.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != total {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	down := after.TotalAlloc - before.TotalAlloc
	t.Logf("64 MiB through the service: upload allocated %d bytes, download %d bytes", up, down)
	if up > 4<<20 || down > 4<<20 {
		t.Errorf("64 MiB allocated %d bytes to upload and %d to download; want a few MiB at most", up, down)
	}
}
