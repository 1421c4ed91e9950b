package export_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/internal/testenv"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

var engines = []string{"sqlite", "postgres"}

// clock is the server's clock, moved by the test (expiry, retries).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lockedBuffer collects the server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	srv   *testserver.Server
	clk   *clock
	logs  *lockedBuffer
	tn    testserver.Tenant
	admin tenant.Actor
}

func start(t *testing.T, engine, slug string) *env {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	logs := &lockedBuffer{}
	srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now, LogTo: logs})
	tn := srv.NewTenant(t, slug)
	u, err := srv.App.DB.UserByLogin(context.Background(), tenant.ID(tn.ID), tn.AdminLogin)
	if err != nil {
		t.Fatal(err)
	}
	admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: tenant.ID(tn.ID), UserID: u.ID, Name: u.Name, Role: access.RoleAdmin, RequestID: "test"}
	return &env{srv: srv, clk: clk, logs: logs, tn: tn, admin: admin}
}

// wait polls the export until it is finished or the deadline passes.
func wait(t *testing.T, c *client.Client, id string) *api.ExportDTO {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		d, err := c.FullExport(context.Background(), id)
		if err != nil {
			t.Fatalf("export %s: %v", id, err)
		}
		if d.Status == "done" || d.Status == "failed" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still %s (%d of %d records) after 90s", id, d.Status, d.Records, d.RecordsTotal)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func download(t *testing.T, c *client.Client, id string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.DownloadFullExport(context.Background(), id, &buf); err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
	return buf.Bytes()
}

func unzip(t *testing.T, b []byte) (map[string][]byte, []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	out := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		// Every entry carries the export's time, also those copied raw.
		if f.Modified.Year() < 2020 {
			t.Errorf("%s: modified %v", f.Name, f.Modified)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		out[f.Name] = data
		order = append(order, f.Name)
	}
	return out, order
}

type manifest struct {
	Format        string `json:"format"`
	ExportID      string `json:"export_id"`
	Tenant        string `json:"tenant_id"`
	SchemaVersion string `json:"schema_version"`
	Exporter      struct {
		UserID string `json:"user_id"`
		Name   string `json:"name"`
	} `json:"exporter"`
	Counts map[string]int64 `json:"counts"`
	Files  []struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"files"`
}

const secretPass = "correct horse battery staple 九"

func TestFullExport(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testFullExport(t, engine) })
	}
}

func testFullExport(t *testing.T, engine string) {
	e := start(t, engine, "exp")
	ctx := context.Background()
	srv, tn := e.srv, e.tn
	tid := tenant.ID(tn.ID)

	// A custom object, with records written straight through the records
	// service (no API creates objects yet).
	custom := records.Object{Name: "project", Label: "Projects", LabelZH: "项目", NameField: "name", Fields: []records.Field{
		{Name: "name", Label: "Name", LabelZH: "名称", Type: records.TypeText, Required: true, Position: 0},
		{Name: "budget__c", Label: "Budget", LabelZH: "预算", Type: records.TypeNumber, Custom: true, Position: 1},
	}}
	if err := srv.App.DB.WriteTx(ctx, tid, func(ctx context.Context) error { return srv.App.DB.InsertObject(ctx, tid, custom) }); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.App.Records.Create(ctx, e.admin, "project", "", records.Values{"name": json.RawMessage(`"数据迁移"`), "budget__c": json.RawMessage(`1250000.5`)}); err != nil {
		t.Fatal(err)
	}
	acct, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "=HYPERLINK(\"http://evil\")", "phone": "+86 10 1234 5678"}})
	if err != nil {
		t.Fatal(err)
	}
	// contact.mobile and contact.id_number are encrypted at rest.
	for _, c := range []map[string]any{
		{"name": "张三", "mobile": "13812345678", "id_number": "110101199003077777", "title": "总经理, \"销售\"", "description": "第一行\n第二行"},
		{"name": "Li Si", "mobile": "13900001111"},
	} {
		if _, err := tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: c}); err != nil {
			t.Fatal(err)
		}
	}
	att, err := srv.App.Attachments.Upload(ctx, e.admin, attachments.UploadInput{Object: "account", RecordID: acct.ID, Filename: "合同/../x.txt",
		Body: strings.NewReader("机密合同内容\n")})
	if err != nil {
		t.Fatal(err)
	}
	// The stored mobile is sealed: the export must open it.
	stored, err := srv.App.DB.RecordsAfter(ctx, tid, "contact", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(stored); bytes.Contains(raw, []byte("13812345678")) {
		t.Fatal("precondition: the mobile number is stored in clear")
	}

	sales, _ := srv.NewUser(t, tn, "sales@exp.example.com", "Sales", access.RoleSales)
	admin2, _ := srv.NewUser(t, tn, "admin2@exp.example.com", "Second Admin", access.RoleAdmin)
	other := srv.NewTenant(t, "exp-other")

	t.Run("refused", func(t *testing.T) {
		_, err := sales.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"})
		if !client.IsCode(err, "forbidden") {
			t.Fatalf("sales: %v, want forbidden", err)
		}
		for name, req := range map[string]api.CreateExportRequest{
			"scope":        {Scope: "contacts"},
			"no scope":     {},
			"short pass":   {Scope: "all", Passphrase: "short-pass"},
			"both":         {Scope: "all", Passphrase: secretPass, Recipient: mustIdentity(t).Recipient().String()},
			"ssh key":      {Scope: "all", Recipient: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"},
			"scrypt label": {Scope: "all", Recipient: "age1notakey"},
		} {
			if _, err := tn.Admin.StartFullExport(ctx, req); !client.IsCode(err, "invalid_request") {
				t.Errorf("%s: %v, want invalid_request", name, err)
			}
		}
	})

	id, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"})
	if err != nil {
		t.Fatal(err)
	}
	d := wait(t, tn.Admin, id)
	if d.Status != "done" || d.Progress != 1 || d.DownloadURL != "/api/v1/exports/"+id+"/download" {
		t.Fatalf("export: %+v", d)
	}
	if d.Records != 4 {
		t.Errorf("records = %d, want 4", d.Records)
	}
	body := download(t, tn.Admin, id)
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(body)) != d.Size {
		t.Errorf("file digest/size differ from the export's")
	}
	files, order := unzip(t, body)
	// What a customer's own tool makes of it (CRCs included).
	if unzipBin, err := exec.LookPath("unzip"); err == nil {
		f := filepath.Join(t.TempDir(), "export.zip")
		if err := os.WriteFile(f, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(unzipBin, "-tq", f).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v: %s", err, out)
		}
	}

	t.Run("contents", func(t *testing.T) {
		if order[len(order)-1] != "manifest.json" {
			t.Errorf("last entry = %s, want manifest.json", order[len(order)-1])
		}
		for _, o := range []string{"account", "contact", "lead", "opportunity", "activity", "project"} {
			for _, ext := range []string{".csv", ".jsonl"} {
				if _, ok := files["objects/"+o+ext]; !ok {
					t.Errorf("objects/%s%s missing", o, ext)
				}
			}
		}
		csvBytes := files["objects/contact.csv"]
		if !bytes.HasPrefix(csvBytes, []byte("\xef\xbb\xbf")) {
			t.Fatalf("contact.csv has no UTF-8 BOM")
		}
		rows, err := csv.NewReader(bytes.NewReader(csvBytes[3:])).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("contact.csv has %d rows, want header + 2", len(rows))
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		found := false
		for _, r := range rows[1:] {
			if r[col["name"]] == "张三" {
				found = true
				if r[col["mobile"]] != "13812345678" || r[col["id_number"]] != "110101199003077777" || r[col["title"]] != "总经理, \"销售\"" || r[col["description"]] != "第一行\n第二行" {
					t.Errorf("张三 row = %q: encrypted fields not decrypted or text altered", r)
				}
			}
		}
		if !found {
			t.Errorf("张三 not in contact.csv")
		}
		// A formula is neutralised in CSV, exact in JSONL; a phone is not.
		arows, _ := csv.NewReader(bytes.NewReader(files["objects/account.csv"][3:])).ReadAll()
		acol := map[string]int{}
		for i, h := range arows[0] {
			acol[h] = i
		}
		if got := arows[1][acol["name"]]; got != "'=HYPERLINK(\"http://evil\")" {
			t.Errorf("account name in CSV = %q, want the formula neutralised", got)
		}
		if got := arows[1][acol["phone"]]; got != "+86 10 1234 5678" {
			t.Errorf("phone in CSV = %q", got)
		}
		if !bytes.Contains(files["objects/account.jsonl"], []byte(`"name":"=HYPERLINK(\"http://evil\")"`)) {
			t.Errorf("account.jsonl does not hold the exact name: %s", files["objects/account.jsonl"])
		}
		var sawMobile bool
		sc := bufio.NewScanner(bytes.NewReader(files["objects/contact.jsonl"]))
		for sc.Scan() {
			var r struct {
				ID     string         `json:"id"`
				Fields map[string]any `json:"fields"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if r.Fields["mobile"] == "13812345678" && r.Fields["name"] == "张三" {
				sawMobile = true
			}
			if _, sealed := r.Fields["mobile"].(map[string]any); sealed {
				t.Errorf("contact.jsonl holds a sealed value: %v", r.Fields)
			}
		}
		if !sawMobile {
			t.Errorf("contact.jsonl lacks the decrypted mobile")
		}
		if !bytes.Contains(files["objects/project.jsonl"], []byte(`"budget__c":1250000.5`)) || !bytes.Contains(files["objects/project.csv"], []byte("数据迁移,1250000.5")) {
			t.Errorf("custom object not exported in full: %s / %s", files["objects/project.jsonl"], files["objects/project.csv"])
		}
		// Metadata with protection settings.
		var objs []struct {
			Name   string `json:"name"`
			Fields []struct {
				Name      string `json:"name"`
				Encrypted bool   `json:"encrypted"`
				Policy    struct {
					Mask string `json:"mask"`
				} `json:"policy"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(files["metadata/objects.json"], &objs); err != nil {
			t.Fatal(err)
		}
		var mobileEncrypted bool
		for _, o := range objs {
			for _, f := range o.Fields {
				if o.Name == "contact" && f.Name == "mobile" && f.Encrypted && f.Policy.Mask != "" {
					mobileEncrypted = true
				}
			}
		}
		if !mobileEncrypted {
			t.Errorf("metadata lacks contact.mobile's protection: %s", files["metadata/objects.json"])
		}
		// The attachment, decrypted, under a name that cannot climb out.
		var index []struct {
			ID, Path, Filename string
		}
		if err := json.Unmarshal(files["attachments/index.json"], &index); err != nil || len(index) != 1 {
			t.Fatalf("attachments/index.json: %v %s", err, files["attachments/index.json"])
		}
		p := index[0].Path
		if !strings.HasPrefix(p, "attachments/account/"+acct.ID+"/"+att.ID+"-") || index[0].Filename != att.Filename {
			t.Errorf("attachment entry %+v", index[0])
		}
		if got := string(files[p]); got != "机密合同内容\n" {
			t.Errorf("%s = %q; entries: %v", p, got, order)
		}
		for name := range files {
			if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
				t.Errorf("unsafe entry name %q", name)
			}
		}
	})

	t.Run("no secrets", func(t *testing.T) {
		u, err := srv.App.DB.UserByLogin(ctx, tid, tn.AdminLogin)
		if err != nil {
			t.Fatal(err)
		}
		if u.PasswordHash == "" {
			t.Fatal("precondition: no hash")
		}
		for name, b := range files {
			if bytes.Contains(b, []byte(u.PasswordHash)) || bytes.Contains(b, []byte("$argon2")) {
				t.Errorf("%s holds a password hash", name)
			}
		}
		sc := bufio.NewScanner(bytes.NewReader(files["users.jsonl"]))
		n := 0
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			n++
			for k := range m {
				lk := strings.ToLower(k)
				for _, bad := range []string{"hash", "secret", "totp", "recovery", "token", "password\"", "code"} {
					if strings.Contains(lk, strings.Trim(bad, "\"")) && k != "password_changed_at" && k != "must_change_password" {
						t.Errorf("users.jsonl key %q looks like a secret", k)
					}
				}
			}
		}
		if n != 3 {
			t.Errorf("users.jsonl has %d users, want 3", n)
		}
		var roles []map[string]any
		if err := json.Unmarshal(files["roles.json"], &roles); err != nil || len(roles) != 3 {
			t.Errorf("roles.json: %v %s", err, files["roles.json"])
		}
	})

	t.Run("manifest", func(t *testing.T) {
		var m manifest
		if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
			t.Fatal(err)
		}
		if m.ExportID != id || m.Tenant != tn.ID || m.Exporter.UserID != e.admin.UserID || m.Exporter.Name == "" || m.SchemaVersion == "" || m.SchemaVersion == "0" {
			t.Errorf("manifest watermark: %+v", m)
		}
		want := map[string]int64{"contact": 2, "account": 1, "project": 1, "lead": 0, "users": 3, "attachments": 1}
		for k, v := range want {
			if m.Counts[k] != v {
				t.Errorf("count %s = %d, want %d", k, m.Counts[k], v)
			}
		}
		listed := map[string]bool{}
		for _, f := range m.Files {
			listed[f.Path] = true
			b, ok := files[f.Path]
			if !ok {
				t.Errorf("manifest lists %s, not in the zip", f.Path)
				continue
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Size {
				t.Errorf("manifest digest of %s does not match", f.Path)
			}
		}
		for name := range files {
			if name != "manifest.json" && !listed[name] {
				t.Errorf("%s is not in the manifest", name)
			}
		}
	})

	t.Run("audit verifies offline", func(t *testing.T) {
		keysText, err := tn.Admin.AuditKeysText(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		trail := filepath.Join(dir, "audit.jsonl")
		if err := os.WriteFile(trail, files["audit/audit.jsonl"], 0o600); err != nil {
			t.Fatal(err)
		}
		// What `haven audit verify --file F --public-key K` does.
		keys, err := audit.ParsePublicKeys(bytes.NewReader(keysText))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(trail)
		defer f.Close()
		rep, err := audit.VerifyJSONL(bufio.NewReader(f), keys, audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery})
		if err != nil || !rep.OK || rep.Events == 0 || rep.Unsigned != 0 {
			t.Fatalf("verify: %v %+v", err, rep)
		}
		if !bytes.Contains(files["audit/audit.jsonl"], []byte(`"action":"export.request"`)) {
			t.Errorf("the trail in the export lacks its own request")
		}
		// Tampering with the extracted file is caught.
		forged := bytes.Replace(files["audit/audit.jsonl"], []byte(`"action":"export.request"`), []byte(`"action":"export.requesx"`), 1)
		rep, err = audit.VerifyJSONL(bytes.NewReader(forged), keys, audit.VerifyOptions{})
		if err == nil && rep.OK {
			t.Errorf("a forged trail verifies")
		}
	})

	t.Run("download only by the requester", func(t *testing.T) {
		for name, c := range map[string]*client.Client{"second admin": admin2, "sales": sales, "other tenant": other.Admin} {
			var buf bytes.Buffer
			if _, err := c.DownloadFullExport(ctx, id, &buf); !client.IsCode(err, "not_found") || buf.Len() != 0 {
				t.Errorf("%s download: %v (%d bytes), want not_found", name, err, buf.Len())
			}
			if _, err := c.FullExport(ctx, id); !client.IsCode(err, "not_found") {
				t.Errorf("%s status: %v, want not_found", name, err)
			}
		}
		// No caching, an attachment, the right type.
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/exports/"+id+"/download", nil)
		req.Header.Set("Authorization", "Bearer "+tn.Admin.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
			resp.Header.Get("Content-Type") != "application/zip" {
			t.Errorf("download headers: %d %v", resp.StatusCode, resp.Header)
		}
		evs, _, err := srv.App.Audit.Query(ctx, e.admin, audit.Filter{Action: export.ActionDownloaded, Limit: 50})
		if err != nil || len(evs) < 2 {
			t.Errorf("downloads audited: %d events, %v", len(evs), err)
		}
		evs, _, err = srv.App.Audit.Query(ctx, e.admin, audit.Filter{Action: export.ActionCompleted, Limit: 50})
		if err != nil || len(evs) != 1 || evs[0].Changes["rows"].After != float64(4) {
			t.Errorf("completion audited: %+v, %v", evs, err)
		}
	})

	t.Run("passphrase", func(t *testing.T) {
		pid, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all", Passphrase: secretPass})
		if err != nil {
			t.Fatal(err)
		}
		// While queued or running, only the sealed form is stored.
		row, err := srv.App.DB.Export(ctx, tid, pid)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != export.StatusDone && (row.PassphraseSealed == "" || strings.Contains(row.PassphraseSealed, secretPass)) {
			t.Errorf("passphrase stored as %q", row.PassphraseSealed)
		}
		d := wait(t, tn.Admin, pid)
		if d.Status != "done" || d.Encryption != "passphrase" {
			t.Fatalf("passphrase export: %+v", d)
		}
		enc := download(t, tn.Admin, pid)
		if _, err := zip.NewReader(bytes.NewReader(enc), int64(len(enc))); err == nil {
			t.Fatal("the passphrase export is a plain zip")
		}
		wrong, _ := age.NewScryptIdentity("not the passphrase at all")
		if _, err := age.Decrypt(bytes.NewReader(enc), wrong); err == nil {
			t.Error("a wrong passphrase decrypts")
		}
		ident, err := age.NewScryptIdentity(secretPass)
		if err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(bytes.NewReader(enc), ident)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		pf, _ := unzip(t, plain)
		if !bytes.Contains(pf["objects/contact.csv"], []byte("13812345678")) {
			t.Error("decrypted passphrase export lacks the contact")
		}
		// Erased once the job ended; never in a job, an event or a log line.
		row, _ = srv.App.DB.Export(ctx, tid, pid)
		if row.PassphraseSealed != "" {
			t.Error("sealed passphrase kept after the job ended")
		}
		j, err := srv.App.Jobs.Get(ctx, tid, row.JobID)
		if err != nil || strings.Contains(string(j.Payload), secretPass) || strings.Contains(string(j.Payload), "pass") {
			t.Errorf("job payload %s (%v)", j.Payload, err)
		}
		evs, _, _ := srv.App.Audit.Query(ctx, e.admin, audit.Filter{Limit: 200})
		raw, _ := json.Marshal(evs)
		if bytes.Contains(raw, []byte(secretPass)) {
			t.Error("the passphrase is in the audit trail")
		}
		if strings.Contains(e.logs.String(), secretPass) || strings.Contains(e.logs.String(), "battery staple") {
			t.Error("the passphrase is in the logs")
		}
		if engine == "sqlite" {
			for _, f := range []string{"haven.db", "haven.db-wal"} {
				b, err := os.ReadFile(filepath.Join(srv.App.Config.DataDir, f))
				if err == nil && bytes.Contains(b, []byte(secretPass)) {
					t.Errorf("the passphrase is in %s", f)
				}
			}
		}
	})

	t.Run("recipient with the age CLI", func(t *testing.T) {
		ident := mustIdentity(t)
		rid, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all", Recipient: ident.Recipient().String()})
		if err != nil {
			t.Fatal(err)
		}
		if d := wait(t, tn.Admin, rid); d.Status != "done" || d.Encryption != "recipient" {
			t.Fatalf("recipient export: %+v", d)
		}
		enc := download(t, tn.Admin, rid)
		dir := t.TempDir()
		in, key, out := filepath.Join(dir, "export.zip.age"), filepath.Join(dir, "key.txt"), filepath.Join(dir, "export.zip")
		if err := os.WriteFile(in, enc, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, []byte(ident.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ageBin, err := exec.LookPath("age")
		if err != nil {
			testenv.SkipOrFail(t, "the age CLI is not installed (apt-get install age)")
		}
		if outb, err := exec.Command(ageBin, "-d", "-i", key, "-o", out, in).CombinedOutput(); err != nil {
			t.Fatalf("age -d: %v: %s", err, outb)
		}
		plain, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		pf, _ := unzip(t, plain)
		var m manifest
		if err := json.Unmarshal(pf["manifest.json"], &m); err != nil || m.ExportID != rid || m.Counts["contact"] != 2 {
			t.Errorf("manifest after age -d: %v %+v", err, m)
		}
		// Another key cannot open it.
		key2 := filepath.Join(dir, "key2.txt")
		_ = os.WriteFile(key2, []byte(mustIdentity(t).String()+"\n"), 0o600)
		if err := exec.Command(ageBin, "-d", "-i", key2, "-o", filepath.Join(dir, "x.zip"), in).Run(); err == nil {
			t.Error("another identity decrypts the export")
		}
	})

	t.Run("crash and restart", func(t *testing.T) {
		// More records than one batch, so the run stops mid-object.
		err := srv.App.DB.WriteTx(ctx, tid, func(ctx context.Context) error {
			for i := range 1200 {
				if _, err := srv.App.Records.Create(ctx, e.admin, "lead", "", records.Values{"name": json.RawMessage(`"线索 ` + strconv.Itoa(i) + `"`),
					"mobile": json.RawMessage(`"139` + pad8(i) + `"`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		crashed := make(chan struct{})
		var once sync.Once
		srv.App.Exports.SetBatchHook(func(n int64) error {
			if n >= 600 {
				err := errors.New("simulated crash")
				once.Do(func() { close(crashed) })
				return err
			}
			return nil
		})
		cid, err := tn.Admin.StartFullExport(ctx, api.CreateExportRequest{Scope: "all"})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-crashed:
		case <-time.After(60 * time.Second):
			t.Fatal("the run did not reach the crash point")
		}
		row := waitRow(t, e, cid, func(x export.Export) bool {
			j, err := srv.App.Jobs.Get(ctx, tid, x.JobID)
			return err == nil && j.State == "queued" && j.Attempts == 1
		})
		if row.Status == export.StatusDone {
			t.Fatal("export done despite the crash")
		}
		dir := filepath.Join(srv.App.Config.DataDir, "exports", tn.ID)
		if _, err := os.Stat(filepath.Join(dir, cid+".zip")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a final file exists after the crash: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "."+cid+".partial")); err != nil {
			t.Errorf("the partial file the crash left: %v", err)
		}
		if _, err := tn.Admin.DownloadFullExport(ctx, cid, io.Discard); !client.IsCode(err, "conflict") {
			t.Errorf("download of an unfinished export: %v", err)
		}
		// The retry is due after its back-off.
		srv.App.Exports.SetBatchHook(nil)
		e.clk.Advance(time.Minute)
		srv.App.Jobs.Notify()
		d := wait(t, tn.Admin, cid)
		if d.Status != "done" || d.Records != 4+1200 || d.RecordsTotal != 4+1200 {
			t.Fatalf("after restart: %+v", d)
		}
		if _, err := os.Stat(filepath.Join(dir, "."+cid+".partial")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partial file left: %v", err)
		}
		pf, _ := unzip(t, download(t, tn.Admin, cid))
		var m manifest
		_ = json.Unmarshal(pf["manifest.json"], &m)
		if m.Counts["lead"] != 1200 || bytes.Count(pf["objects/lead.jsonl"], []byte("\n")) != 1200 {
			t.Errorf("lead count after restart: %d / %d lines", m.Counts["lead"], bytes.Count(pf["objects/lead.jsonl"], []byte("\n")))
		}
	})

	t.Run("expiry", func(t *testing.T) {
		dir := filepath.Join(srv.App.Config.DataDir, "exports", tn.ID)
		if _, err := os.Stat(filepath.Join(dir, id+".zip")); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(export.DefaultTTL + time.Hour)
		srv.App.Jobs.Notify()
		// The scheduled sweep deletes the file and marks the row.
		waitRow(t, e, id, func(x export.Export) bool { return x.DeletedAt != nil })
		if _, err := os.Stat(filepath.Join(dir, id+".zip")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("expired file still there: %v", err)
		}
		// Sessions ended too with the clock; sign in again.
		c := srv.Login(t, tn.Slug, tn.AdminLogin, tn.Password)
		st, err := c.FullExport(ctx, id)
		if err != nil || st.DownloadURL != "" || !st.Deleted {
			t.Errorf("expired status: %+v %v", st, err)
		}
		_, err = c.DownloadFullExport(ctx, id, io.Discard)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusGone || ce.Code != api.CodeGone {
			t.Fatalf("expired download: %v, want 410 gone", err)
		}
	})
}

// waitRow polls the export's row until ok.
func waitRow(t *testing.T, e *env, id string, ok func(export.Export) bool) export.Export {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		row, err := e.srv.App.DB.Export(context.Background(), tenant.ID(e.tn.ID), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(row) {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s: condition not met: %+v", id, row)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func pad8(i int) string {
	s := []byte("00000000")
	for p := 7; i > 0 && p >= 0; p-- {
		s[p] = byte('0' + i%10)
		i /= 10
	}
	return string(s)
}
