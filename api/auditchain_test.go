package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

// TestAuditChainAPI: an admin verifies the trail and exports it; the
// export verifies offline against the published keys, holds the event
// recording it, and a change behind the server's back shows in both.
func TestAuditChainAPI(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			acme := srv.NewTenant(t, "acme")
			srv.NewTenant(t, "globex")
			for i := range 3 {
				if _, err := acme.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "客户 " + string(rune('A'+i))}}); err != nil {
					t.Fatal(err)
				}
			}

			rep, err := acme.Admin.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || rep.Events < 5 || rep.FirstSeq != 1 || rep.LastSeq != rep.Events || rep.Problem != nil || rep.FirstBadSeq != nil ||
				rep.Checkpoints < 1 || len(rep.LastHash) != 64 {
				t.Fatalf("verify %+v", rep)
			}

			// The keys, to anyone: JSON and the key file format agree.
			anon := client.New(srv.URL)
			keys, err := anon.AuditKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys.Keys) != 1 || keys.Keys[0].Algorithm != "Ed25519" || keys.Keys[0].CreatedAt.IsZero() {
				t.Fatalf("keys %+v", keys)
			}
			pub, err := base64.StdEncoding.DecodeString(keys.Keys[0].PublicKey)
			if err != nil || len(pub) != 32 || audit.KeyID(pub) != keys.Keys[0].KeyID {
				t.Fatalf("public key %q: %v", keys.Keys[0].PublicKey, err)
			}
			text, err := anon.AuditKeysText(ctx)
			if err != nil {
				t.Fatal(err)
			}
			trusted, err := audit.ParsePublicKeys(bytes.NewReader(text))
			if err != nil || len(trusted) != 1 || !bytes.Equal(trusted[keys.Keys[0].KeyID], pub) {
				t.Fatalf("key file %q: %v", text, err)
			}
			if code, body := auditGet(t, srv.URL+"/api/v1/audit/keys?format=pem", ""); code != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
				t.Fatalf("format=pem: %d %s", code, body)
			}

			// The export.
			var file bytes.Buffer
			name, err := acme.Admin.ExportAudit(ctx, &file)
			if err != nil {
				t.Fatal(err)
			}
			if want := "audit-acme-" + time.Now().UTC().Format(time.DateOnly) + ".jsonl"; name != want {
				t.Fatalf("file name %q, want %q", name, want)
			}
			offline, err := audit.VerifyJSONL(bytes.NewReader(file.Bytes()), trusted, audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery})
			if err != nil || !offline.OK || offline.Events != rep.Events+1 {
				t.Fatalf("offline verification: %+v %v", offline, err)
			}
			// The head was signed before the copy left: nothing in it is unsigned.
			if offline.Unsigned != 0 {
				t.Fatalf("%d exported events are not covered by a checkpoint", offline.Unsigned)
			}
			lines := strings.Split(strings.TrimSpace(file.String()), "\n")
			var header audit.ExportHeader
			if err := json.Unmarshal([]byte(lines[0]), &header); err != nil || string(header.Tenant) != acme.ID ||
				!strings.Contains(header.ExportedBy, "Admin acme") {
				t.Fatalf("header %s", lines[0])
			}
			// The last event is the export itself, recorded before the read.
			var last struct {
				Action string `json:"action"`
				Seq    int64  `json:"seq"`
			}
			for _, l := range lines {
				if strings.HasPrefix(l, `{"type":"event"`) {
					_ = json.Unmarshal([]byte(l), &last)
				}
			}
			if last.Action != audit.ActionAuditExported || last.Seq != rep.LastSeq+1 {
				t.Fatalf("last exported event %+v", last)
			}
			list, err := acme.Admin.ListAudit(ctx, client.AuditQuery{Action: audit.ActionAuditExported})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("audit.export events: %v %v", list, err)
			}

			// The download's headers.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/audit/export", nil)
			req.Header.Set("Authorization", "Bearer "+acme.Admin.Token())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" ||
				!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="audit-acme-`) || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("export response %d %v", resp.StatusCode, resp.Header)
			}

			// Not for sales users; a refused export leaves no event.
			sales, _ := srv.NewUser(t, acme, "sales@acme.example.com", "Sam Sales", "sales")
			if _, err := sales.VerifyAudit(ctx); !client.IsCode(err, "forbidden") {
				t.Fatalf("sales verify: %v", err)
			}
			if _, err := sales.ExportAudit(ctx, io.Discard); !client.IsCode(err, "forbidden") {
				t.Fatalf("sales export: %v", err)
			}
			if list, _ := acme.Admin.ListAudit(ctx, client.AuditQuery{Action: audit.ActionAuditExported}); len(list.Items) != 2 {
				t.Fatalf("%d audit.export events after a refused export, want 2", len(list.Items))
			}
			if code, _ := auditGet(t, srv.URL+"/api/v1/audit/verify?deep=1", acme.Admin.Token()); code != http.StatusBadRequest {
				t.Fatalf("unknown query parameter: %d", code)
			}

			// Changed behind the server's back: the report names the event,
			// and so does the offline check of a fresh export.
			srv.TamperAuditEvent(t, acme, 3)
			rep, err = acme.Admin.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Problem == nil || rep.Problem.Seq != 3 || rep.FirstBadSeq == nil || *rep.FirstBadSeq != 3 ||
				!strings.Contains(rep.Reason, "event 3 was changed") || rep.LastHash != "" {
				t.Fatalf("verify after tampering %+v", rep)
			}
			file.Reset()
			if _, err := acme.Admin.ExportAudit(ctx, &file); err != nil {
				t.Fatal(err)
			}
			offline, err = audit.VerifyJSONL(bytes.NewReader(file.Bytes()), trusted, audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery})
			if err != nil || offline.OK || offline.Problem.Seq != 3 {
				t.Fatalf("offline verification after tampering: %+v %v", offline, err)
			}
		})
	}
}

func auditGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fakeAuditIdentity signs in every bearer token as an admin of tenant t.
type fakeAuditIdentity struct{ api.Identity }

func (fakeAuditIdentity) AuthenticateBearer(context.Context, string, string, string, string) (identity.Principal, error) {
	return identity.Principal{Actor: tenant.Actor{Kind: tenant.ActorUser, TenantID: "t", UserID: "u", Role: "admin"},
		Tenant: tenant.Tenant{ID: "t", Slug: "acme"}}, nil
}

// fakeAuditChain exports a few bytes, then fails, or fails at once.
type fakeAuditChain struct {
	before string
	err    error
}

func (f fakeAuditChain) Verify(context.Context, tenant.Actor) (audit.Report, error) {
	return audit.Report{}, f.err
}

func (f fakeAuditChain) ExportTrail(_ context.Context, _ tenant.Actor, w io.Writer) error {
	if f.before != "" {
		if _, err := io.WriteString(w, f.before); err != nil {
			return err
		}
	}
	return f.err
}

func (fakeAuditChain) PublicKeys() []audit.PublicKey { return nil }

// TestAuditExportFailures: an export refused before it began answers the
// error envelope; one that fails half-way is cut off, not ended as if
// complete.
func TestAuditExportFailures(t *testing.T) {
	serve := func(chain api.AuditChain) *httptest.Server {
		mux := http.NewServeMux()
		api.New(api.Deps{Identity: fakeAuditIdentity{}, AuditChain: chain, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	ctx := context.Background()

	srv := serve(fakeAuditChain{err: apperr.Forbidden()})
	if _, err := client.New(srv.URL, client.WithToken("x")).ExportAudit(ctx, io.Discard); !client.IsCode(err, "forbidden") {
		t.Fatalf("refused export: %v", err)
	}

	// Enough lines that the first ones have reached the client.
	part := strings.Repeat(`{"type":"event","seq":1}`+"\n", 4000)
	srv = serve(fakeAuditChain{before: part, err: errors.New("database went away")})
	var got bytes.Buffer
	_, err := client.New(srv.URL, client.WithToken("x")).ExportAudit(ctx, &got)
	if err == nil || !strings.Contains(err.Error(), "read the export") || got.Len() == 0 {
		t.Fatalf("an export that failed half-way: %v (%d of %d bytes)", err, got.Len(), len(part))
	}

	srv = serve(fakeAuditChain{})
	if _, err := client.New(srv.URL, client.WithToken("x")).ExportAudit(ctx, io.Discard); !client.IsCode(err, "internal") {
		t.Fatalf("an export of nothing: %v", err)
	}

	// An empty key list is still a list.
	code, body := auditGet(t, srv.URL+"/api/v1/audit/keys", "")
	if code != 200 || strings.TrimSpace(body) != `{"keys":[]}` {
		t.Fatalf("no keys: %d %s", code, body)
	}
}

func TestAuditExportFileName(t *testing.T) {
	day := time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("CST", 8*3600))
	for _, c := range []struct{ slug, tid, want string }{
		{"acme", "0190", "audit-acme-2026-03-01.jsonl"},
		{"", "0190b6a0-0000-7000", "audit-0190b6a0-0000-7000-2026-03-01.jsonl"},
		{`a"b/../c`, "x", "audit-a-b-c-2026-03-01.jsonl"},
	} {
		if got := api.AuditExportFileName(c.slug, tenant.ID(c.tid), day); got != c.want {
			t.Errorf("%q: %q, want %q", c.slug, got, c.want)
		}
	}
}
