package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testenv"
	"github.com/havencrm/haven/internal/testserver"
)

// canaries are values that appear nowhere else: after they are written
// into every encrypted field, none may be found in clear at rest.
var canaries = map[string]string{
	"mobile":       "13957246813",
	"email":        "canary.f00d@example.org",
	"id_number":    "44030519870228911X",
	"bank_account": "6217003810026813579",
	"address":      "广州市天河区金丝雀路77号",
	"passport__c":  "CANARY-PASSPORT-4711",
}

// fileCanaries go into an attachment: its content and its name.
var fileCanaries = map[string]string{
	"attachment content": "CANARY-CONTRACT-CLAUSE-9931",
	"attachment name":    "金丝雀合同扫描件",
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestEncryptedValuesNeverAtRestInClear writes canaries into every
// encrypted field of contacts and leads (and a custom encrypted field),
// changes and deletes some so they pass through the audit trail, searches
// and reveals them, then looks for them in the raw database files (the
// SQLite file and its WAL; a pg_dump of PostgreSQL), the attachment
// store and the server log: zero hits.
func TestEncryptedValuesNeverAtRestInClear(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			logs := &syncBuffer{}
			srv := testserver.Start(t, engine, testserver.Options{LogTo: logs})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			tn := srv.NewTenant(t, "canary")
			admin := tn.Admin
			sales, _ := srv.NewUser(t, tn, "sales@canary.example.com", "Sally", "sales")
			if _, err := admin.CreateField(ctx, "contact", api.CreateFieldRequest{Name: "passport", Label: "Passport", Type: "text",
				FieldProtectionDTO: api.FieldProtectionDTO{Encrypted: true, Searchable: true, Mask: "custom", KeepFirst: 1, KeepLast: 2,
					Levels: map[string]string{"sales": "masked"}}}); err != nil {
				t.Fatal(err)
			}
			fields := map[string]any{"name": "Canary Contact"}
			for k, v := range canaries {
				fields[k] = v
			}
			contact, err := sales.CreateRecord(ctx, "contact", client.RecordInput{Fields: fields})
			if err != nil {
				t.Fatal(err)
			}
			delete(fields, "passport__c")
			fields["name"] = "Canary Lead"
			lead, err := admin.CreateRecord(ctx, "lead", client.RecordInput{Fields: fields})
			if err != nil {
				t.Fatal(err)
			}
			// Through the audit trail: an update (before and after) and a delete.
			if _, err := admin.UpdateRecord(ctx, "contact", contact.ID, contact.Version, map[string]any{"mobile": "13957246814"}); err != nil {
				t.Fatal(err)
			}
			if err := admin.DeleteRecord(ctx, "lead", lead.ID, lead.Version); err != nil {
				t.Fatal(err)
			}
			// Searching and revealing send the plaintext to the server.
			got, err := admin.ListRecords(ctx, "contact", client.ListOptions{Filter: map[string]string{"email": canaries["email"]}})
			if err != nil || len(got.Items) != 1 {
				t.Fatalf("search by e-mail: %v %v", got, err)
			}
			rv, err := sales.Reveal(ctx, "contact", contact.ID, "email", "customer asked for a copy of the offer")
			if err != nil || rv.Value != canaries["email"] {
				t.Fatalf("reveal: %v %v", rv, err)
			}
			// An attachment with a canary in its content and its name.
			acct, err := admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Canary Account"}})
			if err != nil {
				t.Fatal(err)
			}
			uploaded(t, multipartUpload(t, srv, admin.Token(), acct.ID, fileCanaries["attachment name"]+".txt", "text/plain",
				[]byte("Contract\n"+fileCanaries["attachment content"]+"\n")))
			// And every error a sales user can provoke about them.
			_, err = sales.ListRecords(ctx, "contact", client.ListOptions{Filter: map[string]string{"mobile": canaries["mobile"]}})
			checkErr(t, "sales filter", err, http.StatusBadRequest, "invalid_request")
			if err != nil && strings.Contains(err.Error(), canaries["mobile"]) {
				t.Errorf("the error quotes the value: %v", err)
			}

			found := scanAtRest(t, srv, engine)
			found = append(found, scanText("server log", logs.String())...)
			for _, hit := range found {
				t.Errorf("plaintext at rest: %s", hit)
			}
		})
	}
}

// scanAtRest returns every place a canary was found in clear.
func scanAtRest(t *testing.T, srv *testserver.Server, engine string) []string {
	t.Helper()
	var hits []string
	cfg := srv.App.Config
	if engine == "sqlite" {
		n := 0
		var all strings.Builder
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(cfg.SQLitePath() + suffix)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n += len(b)
			all.Write(b)
			hits = append(hits, scanText(filepath.Base(cfg.SQLitePath()+suffix), string(b))...)
		}
		if n == 0 {
			t.Fatal("no database file read")
		}
		// The scan must be able to fail: the plain name is there.
		if len(scanFor(all.String(), "Canary Contact")) == 0 {
			t.Fatal("control value not found: the scan reads the wrong file")
		}
	} else {
		dump := pgDump(t, cfg.DatabaseURL)
		hits = append(hits, scanText("pg_dump", dump)...)
		if !strings.Contains(dump, "Canary Contact") {
			t.Fatal("control value not in the dump")
		}
	}
	_ = filepath.WalkDir(cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, cfg.SQLitePath()) {
			return nil
		}
		hits = append(hits, scanText(path, readAll(t, path))...)
		return nil
	})
	return hits
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func scanText(where, s string) []string {
	var hits []string
	all := map[string]string{}
	for k, v := range canaries {
		all[k] = v
	}
	for k, v := range fileCanaries {
		all[k] = v
	}
	for field, v := range all {
		for _, h := range scanFor(s, v) {
			hits = append(hits, where+": "+field+" "+h)
		}
	}
	return hits
}

// scanFor finds v as stored text, JSON-escaped text (Chinese as \uXXXX),
// and UTF-16 (as some engines store text).
func scanFor(s, v string) []string {
	var hits []string
	esc, _ := json.Marshal(v)
	ascii := strings.Trim(string(esc), `"`)
	forms := map[string]string{"utf-8": v, "json": ascii, "json-ascii": jsonASCII(v)}
	for name, form := range forms {
		if form != "" && strings.Contains(s, form) {
			hits = append(hits, name)
		}
	}
	return hits
}

// jsonASCII is v with every non-ASCII rune escaped as \uXXXX.
func jsonASCII(v string) string {
	var b strings.Builder
	for _, r := range v {
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		b.WriteString(`\u`)
		const hex = "0123456789abcdef"
		b.WriteByte(hex[r>>12&0xF])
		b.WriteByte(hex[r>>8&0xF])
		b.WriteByte(hex[r>>4&0xF])
		b.WriteByte(hex[r&0xF])
	}
	return b.String()
}

func pgDump(t *testing.T, url string) string {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		testenv.SkipOrFail(t, "pg_dump not found: install the PostgreSQL client (apt-get install postgresql-client) to scan a dump")
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(bin, "--no-owner", "--no-privileges", url)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	return out.String()
}

// TestSalesNeverSeesProtectedValues walks every read path of the API as a
// sales user: detail, list, quick search, filters, sort, history, lookup
// names and errors. None may carry a value the user may only see masked.
func TestSalesNeverSeesProtectedValues(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "masking")
		admin := tn.Admin
		sales, _ := srv.NewUser(t, tn, "sam@masking.example.com", "Sam", "sales")
		c, err := sales.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{
			"name": "王小明", "mobile": canaries["mobile"], "email": canaries["email"], "id_number": canaries["id_number"],
			"bank_account": canaries["bank_account"], "address": canaries["address"]}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Fields["mobile"] != "139****6813" || len(c.Masked) != 5 {
			t.Fatalf("create answer: %v masked %v", c.Fields, c.Masked)
		}
		// Quick search by a number sales may not read finds nothing.
		found, err := sales.ListRecords(ctx, "contact", client.ListOptions{Q: canaries["mobile"]})
		if err != nil || len(found.Items) != 0 {
			t.Fatalf("sales quick search by mobile: %v %v", found, err)
		}
		// The admin hides the bank account from sales and masks names.
		if _, err := admin.UpdateFieldProtection(ctx, "contact", "bank_account", api.FieldProtectionDTO{Encrypted: true, Mask: "bank_card",
			Levels: map[string]string{"sales": "hidden"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.UpdateFieldProtection(ctx, "contact", "name", api.FieldProtectionDTO{Mask: "name",
			Levels: map[string]string{"sales": "masked"}}); err != nil {
			t.Fatal(err)
		}
		upd, err := sales.UpdateRecord(ctx, "contact", c.ID, c.Version, map[string]any{"title": "经理"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := upd.Fields["bank_account"]; ok || upd.Name != "王**" {
			t.Fatalf("update answer: %+v", upd)
		}
		opp, err := sales.CreateRecord(ctx, "activity", client.RecordInput{Fields: map[string]any{"subject": "Call", "type": "call", "contact_id": c.ID}})
		if err != nil {
			t.Fatalf("activity: %v", err)
		}

		var seen []any
		keep := func(v any, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("sales read: %v", err)
			}
			seen = append(seen, v)
		}
		keep(sales.GetRecord(ctx, "contact", c.ID))
		keep(sales.ListRecords(ctx, "contact", client.ListOptions{}))
		keep(sales.RecordHistory(ctx, "contact", c.ID))
		keep(sales.GetRecord(ctx, "activity", opp.ID))
		keep(sales.ListRecords(ctx, "activity", client.ListOptions{}))
		var errs []error
		for _, o := range []client.ListOptions{
			{Filter: map[string]string{"mobile": canaries["mobile"]}},
			{Filter: map[string]string{"bank_account": canaries["bank_account"]}},
			{Sort: "mobile"}, {Sort: "-bank_account"}, {Q: "王"},
		} {
			_, err := sales.ListRecords(ctx, "contact", o)
			checkErr(t, "sales list "+o.Sort+o.Q, err, http.StatusBadRequest, "invalid_request")
			errs = append(errs, err)
		}
		_, err = sales.Reveal(ctx, "contact", c.ID, "id_number", "please")
		checkErr(t, "reveal id", err, http.StatusForbidden, "forbidden")
		errs = append(errs, err)
		b, _ := json.Marshal(seen)
		for _, err := range errs {
			b = append(b, err.Error()...)
		}
		body := string(b)
		for field, v := range canaries {
			if strings.Contains(body, v) {
				t.Errorf("sales saw %s in clear", field)
			}
		}
		for _, plain := range []string{"王小明", "hv1:", "$sealed"} {
			if strings.Contains(body, plain) {
				t.Errorf("sales saw %q", plain)
			}
		}
		if strings.Contains(body, "6217") {
			t.Error("sales saw part of the hidden bank account")
		}
		// The admin reads everything in clear, and the audit trail shows
		// masked values, never the sealed form.
		full, err := admin.GetRecord(ctx, "contact", c.ID)
		if err != nil || full.Fields["bank_account"] != canaries["bank_account"] || full.Name != "王小明" {
			t.Fatalf("admin read: %+v %v", full, err)
		}
		log, err := admin.ListAudit(ctx, client.AuditQuery{ObjectID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		lb, _ := json.Marshal(log)
		if strings.Contains(string(lb), canaries["mobile"]) || strings.Contains(string(lb), "hv1:") || !strings.Contains(string(lb), "139****6813") {
			t.Fatalf("audit shows %s", lb)
		}
	})
}
