package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
	"github.com/havencrm/haven/web"
)

// TestAuditLogPage drives the audit page over HTTP on every engine: each
// filter narrows the list, filters combine and survive paging, bad input
// explains itself, the integrity check passes on an intact trail and
// names the first broken event after tampering, and the export verifies
// offline with the published keys.
func TestAuditLogPage(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Run("Filters", func(t *testing.T) { testAuditFilters(t, engine) })
			srv := testserver.Start(t, engine)
			t.Run("VerifyAndTamper", func(t *testing.T) { testAuditVerify(t, srv) })
			t.Run("Export", func(t *testing.T) { testAuditExport(t, srv) })
			t.Run("AdminsOnly", func(t *testing.T) { testAuditAdminsOnly(t, srv) })
		})
	}
}

// auditRows are the sequence numbers and actions of the page's rows.
var auditRowPattern = regexp.MustCompile(`<tr id="seq-(\d+)">[\s\S]*?data-action="([^"]+)"`)

func auditRows(p page) (seqs []string, actions []string) {
	for _, m := range auditRowPattern.FindAllStringSubmatch(p.Body, -1) {
		seqs, actions = append(seqs, m[1]), append(actions, m[2])
	}
	return seqs, actions
}

var olderLink = regexp.MustCompile(`href="(/audit\?[^"]*before=\d+[^"]*)"[^>]*rel="next"`)
var newestLink = regexp.MustCompile(`href="(/audit[^"]*)">« `)

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func unescape(href string) string { return strings.ReplaceAll(href, "&amp;", "&") }

func testAuditFilters(t *testing.T, engine string) {
	ctx := context.Background()
	// 20:00 UTC on 1 March is already 2 March in Shanghai: the date
	// filters follow the zone the page shows times in.
	clk := &fixedClock{t: time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)}
	srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
	tn := srv.NewTenant(t, "filters")
	srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.MaxSessions = 0 })
	_, sales := srv.NewUser(t, tn, "sam@filters.example.com", "Sam Sales", "sales")
	if _, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Early Alpha"}}); err != nil {
		t.Fatal(err)
	}

	// Three days later: sessions have expired, everyone signs in again.
	clk.Advance(72 * time.Hour)
	admin := srv.Login(t, tn.Slug, tn.AdminLogin, adminPassword)
	me, err := admin.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	samClient := srv.Login(t, tn.Slug, "sam@filters.example.com", adminPassword)
	beta, err := samClient.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Late Beta"}})
	if err != nil {
		t.Fatal(err)
	}
	gamma, err := admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Late Gamma"}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)

	p := b.get("/audit?object=account")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Early Alpha", "Late Beta", "Late Gamma")

	t.Run("TimeRange", func(t *testing.T) {
		p := b.get("/audit?object=account&from=2026-03-03")
		wantContains(t, p, "Late Beta", "Late Gamma", `value="2026-03-03"`)
		wantNotContains(t, p, "Early Alpha")
		p = b.get("/audit?object=account&to=2026-03-02")
		wantContains(t, p, "Early Alpha")
		wantNotContains(t, p, "Late Beta", "Late Gamma")
		// English pages show UTC: Early Alpha was created on 1 March.
		p = b.get("/audit?object=account&from=2026-03-02&to=2026-03-02")
		wantContains(t, p, "No events match these filters.")
		// Chinese pages show Shanghai time: the same event is on 2 March.
		zh := newBrowser(t, srv.URL)
		zh.lang = "zh-CN"
		zh.login(tn.Slug, tn.AdminLogin, adminPassword)
		p = zh.get("/audit?object=account&from=2026-03-02&to=2026-03-02")
		wantContains(t, p, "Early Alpha")
		wantNotContains(t, p, "Late Beta")
	})
	t.Run("User", func(t *testing.T) {
		p := b.get("/audit?object=account&actor=" + sales.ID)
		wantContains(t, p, "Late Beta", `<option value="`+sales.ID+`" selected>Sam Sales`)
		wantNotContains(t, p, "Early Alpha", "Late Gamma")
	})
	t.Run("Action", func(t *testing.T) {
		p := b.get("/audit?action=record.create")
		wantContains(t, p, "Early Alpha", "Late Beta", "Late Gamma", `<option value="record.create" selected>`)
		if _, actions := auditRows(p); len(actions) == 0 || strings.Count(strings.Join(actions, ","), "record.create") != len(actions) {
			t.Errorf("action filter rows: %v", actions)
		}
		p = b.get("/audit?action=user.create")
		wantContains(t, p, `data-action="user.create"`, "Sam Sales")
		wantNotContains(t, p, `data-action="record.create"`)
	})
	t.Run("Object", func(t *testing.T) {
		p := b.get("/audit?object=user")
		wantContains(t, p, `data-action="user.create"`)
		wantNotContains(t, p, `data-action="record.create"`)
		p = b.get("/audit?object=account&object_id=" + gamma.ID)
		wantContains(t, p, "Late Gamma", `value="`+gamma.ID+`"`)
		wantNotContains(t, p, "Late Beta", "Early Alpha")
		p = b.get("/audit?object_id=" + beta.ID)
		wantContains(t, p, "Late Beta")
		wantNotContains(t, p, "Late Gamma", "Early Alpha")
	})
	t.Run("Combined", func(t *testing.T) {
		p := b.get("/audit?" + url.Values{"action": {"record.create"}, "actor": {me.User.ID}, "from": {"2026-03-03"}}.Encode())
		wantContains(t, p, "Late Gamma")
		wantNotContains(t, p, "Early Alpha", "Late Beta", `data-action="auth.login"`)
		p = b.get("/audit?" + url.Values{"action": {"record.create"}, "actor": {sales.ID}, "to": {"2026-03-02"}}.Encode())
		wantContains(t, p, "No events match these filters.")
	})
	t.Run("PagingKeepsFilters", func(t *testing.T) {
		for i := range 55 {
			if _, err := samClient.CreateRecord(ctx, "lead", client.RecordInput{Fields: map[string]any{"name": fmt.Sprintf("Paged Lead %02d", i)}}); err != nil {
				t.Fatal(err)
			}
		}
		// The admin's own leads and other actions must stay out of every page.
		if _, err := admin.CreateRecord(ctx, "lead", client.RecordInput{Fields: map[string]any{"name": "Admin Lead"}}); err != nil {
			t.Fatal(err)
		}
		filters := url.Values{"actor": {sales.ID}, "action": {"record.create"}, "object": {"lead"}}
		p := b.get("/audit?" + filters.Encode())
		seqs, actions := auditRows(p)
		if len(seqs) != 50 {
			t.Fatalf("first page has %d rows, want 50", len(seqs))
		}
		wantContains(t, p, "Paged Lead 54")
		wantNotContains(t, p, "Admin Lead", "Paged Lead 00<")
		m := olderLink.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatal("no older link")
		}
		older, err := url.Parse(unescape(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range filters {
			if got := older.Query().Get(k); got != v[0] {
				t.Errorf("older link %s = %q, want %q", k, got, v[0])
			}
		}
		p = b.get(older.String())
		seqs2, actions2 := auditRows(p)
		if len(seqs2) != 5 {
			t.Errorf("second page has %d rows, want 5", len(seqs2))
		}
		for _, a := range append(actions, actions2...) {
			if a != "record.create" {
				t.Errorf("paged row with action %q", a)
			}
		}
		wantContains(t, p, "Paged Lead 00", "Newest events")
		wantNotContains(t, p, "Paged Lead 54", "Admin Lead")
		// The form still shows the filters, and "newest" keeps them.
		wantContains(t, p, `<option value="record.create" selected>`, `<option value="lead" selected>`)
		nm := newestLink.FindStringSubmatch(p.Body)
		if nm == nil {
			t.Fatal("no newest link")
		}
		newest, _ := url.Parse(unescape(nm[1]))
		if newest.Query().Get("actor") != sales.ID || newest.Query().Get("object") != "lead" || newest.Query().Has("before") {
			t.Errorf("newest link %s", newest)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, c := range []struct{ query, want string }{
			{"from=garbage", "invalid date was ignored"},
			{"to=2026-13-45", "invalid date was ignored"},
			{"from=2026-03-05&to=2026-03-01", "The end date must not be before the start date."},
			{"actor=not-a-user", "not a valid user ID"},
			{"action=" + url.QueryEscape("<script>x</script>"), "not a valid action name"},
			{"object=" + url.QueryEscape("Robert'); DROP TABLE--"), "not a valid type"},
			{"object_id=" + url.QueryEscape("a b"), "the invalid ID was ignored"},
			{"object_id=" + strings.Repeat("x", 200), "the invalid ID was ignored"},
			{"before=-3", "page position was not valid"},
		} {
			p := b.get("/audit?" + c.query)
			wantStatus(t, p, http.StatusOK)
			wantContains(t, p, c.want)
			wantNotContains(t, p, "<script>x")
		}
		// A well-formed action the list does not know is still applied.
		p := b.get("/audit?action=support.grant_used")
		wantStatus(t, p, http.StatusOK)
		wantContains(t, p, "No events match these filters.", `<option value="support.grant_used" selected>`)
	})
}

func testAuditVerify(t *testing.T, srv *testserver.Server) {
	ctx := context.Background()
	tn := srv.NewTenant(t, "verify")
	tid := tenant.ID(tn.ID)
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)

	// Verification reads the whole trail: only on request.
	p := b.get("/audit")
	wantContains(t, p, `id="verify-now"`, "Verify now", `href="/audit?verify=1#verify"`)
	wantNotContains(t, p, "Verified:")

	head, err := srv.App.DB.AuditHead(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	// The page says what the verifier finds (a tenant's first event is
	// signed at once, later ones after 100 events or 10 minutes).
	want, err := srv.App.Audit.VerifyTrail(ctx, tid)
	if err != nil || !want.OK || want.Events != head.Seq {
		t.Fatalf("verify %d events: %v %v", head.Seq, want, err)
	}
	p = b.get("/audit?verify=1")
	wantStatus(t, p, http.StatusOK)
	wantVerified(t, p, want)
	wantContains(t, p, "Verify again")
	wantNotContains(t, p, "does not verify")

	// A signed checkpoint, then one more event after it.
	if _, err := srv.App.DB.CheckpointAuditHead(ctx, tid, srv.App.AuditKeys.Sign); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "After The Checkpoint"}}); err != nil {
		t.Fatal(err)
	}
	p = b.get("/audit?action=record.create&verify=1")
	if want, err = srv.App.Audit.VerifyTrail(ctx, tid); err != nil || want.Unsigned != 1 || want.LastSeq != head.Seq+1 {
		t.Fatalf("verify after a checkpoint: %v %v", want, err)
	}
	wantVerified(t, p, want)
	// The filters stay as they were.
	wantContains(t, p, "After The Checkpoint", `<option value="record.create" selected>`)

	// Someone with database access rewrites event 2.
	srv.TamperAuditEvent(t, tn, 2)
	p = b.get("/audit?verify=1")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "The audit trail does not verify: it first breaks at event No. 2.", "event 2 was changed",
		`role="alert"`, `href="/audit?before=3#seq-2"`, "Show event No. 2")
	wantNotContains(t, p, "Verified:")
	p = b.get("/audit?before=3")
	wantContains(t, p, `<tr id="seq-2">`, "(forged)")
	if seqs, _ := auditRows(p); len(seqs) == 0 || seqs[0] != "2" {
		t.Errorf("the broken event's page starts at %v", seqs)
	}
	// The same in Chinese: the reason stays as the verifier wrote it.
	zh := newBrowser(t, srv.URL)
	zh.lang = "zh-CN"
	zh.login(tn.Slug, tn.AdminLogin, adminPassword)
	wantContains(t, zh.get("/audit?verify=1"), "审计日志校验失败：首个异常位于第 2 号事件。", "event 2 was changed")

	// An export of the broken trail fails the offline check at the same event.
	body := exportTrail(t, b)
	rep, err := audit.VerifyJSONL(strings.NewReader(body), srv.App.Audit.KeySet(), audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problem == nil || rep.Problem.Seq != 2 {
		t.Errorf("offline check of the tampered export: %v", rep)
	}
}

// wantVerified checks that the panel reports what the verifier found.
func wantVerified(t *testing.T, p page, rep audit.Report) {
	t.Helper()
	wantContains(t, p, fmt.Sprintf("Verified: %s, %s.", plural(int(rep.Events), "event"), plural(rep.Checkpoints, "signed checkpoint")))
	newer := fmt.Sprintf("%d newer events are", rep.Unsigned)
	if rep.Unsigned == 1 {
		newer = "1 newer event is"
	}
	switch {
	case rep.Checkpoints == 0:
		wantContains(t, p, "No checkpoint has been signed yet")
	case rep.Unsigned == 0:
		wantContains(t, p, fmt.Sprintf("The last checkpoint covers every event, up to No. %d.", rep.LastSeq))
	default:
		wantContains(t, p, fmt.Sprintf("The last checkpoint covers events up to No. %d; %s not signed yet", rep.LastSeq-rep.Unsigned, newer))
	}
}

// exportTrail downloads the export through the page's form.
func exportTrail(t *testing.T, b *browser) string {
	t.Helper()
	p := b.submit("/audit", "/audit/export", url.Values{})
	wantStatus(t, p, http.StatusOK)
	return p.Body
}

func testAuditExport(t *testing.T, srv *testserver.Server) {
	ctx := context.Background()
	tn := srv.NewTenant(t, "export")
	tid := tenant.ID(tn.ID)
	me, err := tn.Admin.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Exported Holdings"}}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	p := b.get("/audit")
	wantContains(t, p, `action="/audit/export"`, `href="/audit/keys"`, "haven audit verify --file audit-export-", ".jsonl --public-key audit-keys.pub")

	// The keys, in the format the offline verifier reads.
	p = b.get("/audit/keys")
	wantStatus(t, p, http.StatusOK)
	if ct, cd := p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"); !strings.HasPrefix(ct, "text/plain") || cd != `attachment; filename="audit-keys.pub"` {
		t.Errorf("keys headers: %q, %q", ct, cd)
	}
	keys, err := audit.ParsePublicKeys(strings.NewReader(p.Body))
	if err != nil {
		t.Fatalf("parse keys: %v\n%s", err, p.Body)
	}
	for _, k := range srv.App.Audit.PublicKeys() {
		if _, ok := keys[k.ID]; !ok {
			t.Errorf("key %s missing from the download", k.ID)
		}
	}

	p = b.submit("/audit", "/audit/export", url.Values{})
	wantStatus(t, p, http.StatusOK)
	h := p.Header
	if h.Get("Content-Type") != "application/x-ndjson" || h.Get("Cache-Control") != "no-store" ||
		!regexp.MustCompile(`^attachment; filename="audit-export-\d{4}-\d{2}-\d{2}\.jsonl"$`).MatchString(h.Get("Content-Disposition")) {
		t.Errorf("export headers: %v", h)
	}
	rep, err := audit.VerifyJSONL(strings.NewReader(p.Body), keys, audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery})
	if err != nil || !rep.OK {
		t.Fatalf("offline check: %v %v", rep, err)
	}
	head, err := srv.App.DB.AuditHead(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LastSeq != head.Seq || rep.Events != head.Seq {
		t.Errorf("export covers %d events up to %d, trail head %d", rep.Events, rep.LastSeq, head.Seq)
	}
	// The export holds its own audit.export event, last.
	lines := strings.Split(strings.TrimSpace(p.Body), "\n")
	var lastEvent string
	for _, l := range lines {
		if strings.HasPrefix(l, `{"type":"event"`) {
			lastEvent = l
		}
	}
	if !strings.Contains(lastEvent, `"action":"audit.export"`) || !strings.Contains(lastEvent, `"actor_id":"`+me.User.ID+`"`) {
		t.Errorf("last event of the export: %s", lastEvent)
	}
	if !strings.Contains(lines[0], `"exported_by":"Admin export (`+me.User.ID+`)"`) {
		t.Errorf("header: %s", lines[0])
	}
	p = b.get("/audit?action=audit.export")
	wantContains(t, p, `data-action="audit.export"`, "Audit trail exported")
	if n := exportEvents(t, srv, tn); n != 1 {
		t.Errorf("%d audit.export events, want 1", n)
	}

	// Without the CSRF token nothing is exported or recorded.
	p = b.post("/audit/export", url.Values{})
	wantStatus(t, p, http.StatusForbidden)
	if n := exportEvents(t, srv, tn); n != 1 {
		t.Errorf("%d audit.export events after a forged request, want 1", n)
	}

	// The record page links its full trail.
	rec, ok := findAccount(t, tn.Admin, "Exported Holdings")
	if !ok {
		t.Fatal("account missing")
	}
	p = b.get("/o/account/" + rec.ID)
	link := `/audit?object=account&amp;object_id=` + rec.ID
	wantContains(t, p, `href="`+link+`" id="full-trail"`, "Full audit trail")
	p = b.get(unescape(link))
	wantContains(t, p, "Exported Holdings", `data-action="record.create"`)
	if seqs, _ := auditRows(p); len(seqs) != 1 {
		t.Errorf("the record's trail has %d rows, want 1", len(seqs))
	}
}

func exportEvents(t *testing.T, srv *testserver.Server, tn testserver.Tenant) int {
	t.Helper()
	events, err := srv.App.DB.QueryAudit(context.Background(), tenant.ID(tn.ID), audit.Filter{Action: audit.ActionAuditExported, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

func testAuditAdminsOnly(t *testing.T, srv *testserver.Server) {
	ctx := context.Background()
	tn := srv.NewTenant(t, "nonadmin")
	srv.NewUser(t, tn, "sally@nonadmin.example.com", "Sally Sales", "sales")
	srv.NewUser(t, tn, "mo@nonadmin.example.com", "Mo Manager", "manager")
	rec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Shared Account"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"sally@nonadmin.example.com", "mo@nonadmin.example.com"} {
		b := newBrowser(t, srv.URL)
		b.login(tn.Slug, login, adminPassword)
		for _, path := range []string{"/audit", "/audit?verify=1", "/audit/keys"} {
			wantStatus(t, b.get(path), http.StatusForbidden)
		}
		// A valid CSRF token does not make an export an admin's.
		p := b.submit("/", "/audit/export", url.Values{})
		wantStatus(t, p, http.StatusForbidden)
		if p.Header.Get("Content-Disposition") != "" {
			t.Errorf("%s: export answered a download", login)
		}
		// The record page offers no link to the audit log.
		p = b.get("/o/account/" + rec.ID)
		if p.Status == http.StatusOK {
			wantNotContains(t, p, `id="full-trail"`, `href="/audit`)
		}
	}
	if n := exportEvents(t, srv, tn); n != 0 {
		t.Errorf("%d audit.export events, want 0", n)
	}
}

// Stubs of the trail for the failure paths no real database produces on
// demand.
type stubTrail struct {
	verifyErr error
	// exportErr ends the export after it wrote partial.
	partial   string
	exportErr error
}

func (s stubTrail) Verify(context.Context, tenant.Actor) (audit.Report, error) {
	return audit.Report{}, s.verifyErr
}
func (stubTrail) PublicKeys() []audit.PublicKey { return nil }
func (s stubTrail) ExportTrail(_ context.Context, _ tenant.Actor, w io.Writer) error {
	if s.partial != "" {
		if _, err := io.WriteString(w, s.partial); err != nil {
			return err
		}
	}
	return s.exportErr
}

type stubUsers struct{ stubIdentity }

func (stubUsers) Users(context.Context, tenant.Actor, string, int) ([]identity.User, string, error) {
	return nil, "", nil
}

func stubAuditServer(t *testing.T, trail stubTrail, logs io.Writer) *httptest.Server {
	t.Helper()
	w, err := web.New(web.Deps{Identity: stubUsers{}, Records: failingRecords{}, Audit: stubAudit{}, AuditTrail: trail,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Register(mux)
	srv := httptest.NewServer(httpx.Chain(mux, httpx.RequestIDs, httpx.SecurityHeaders(false)))
	t.Cleanup(srv.Close)
	return srv
}

func stubRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "haven_session", Value: "hvs_stub"})
	return req
}

// A check that cannot run says so on the page, with the request ID the
// log line carries, instead of failing the whole page.
func TestAuditVerifyCannotRun(t *testing.T) {
	var logs strings.Builder
	srv := stubAuditServer(t, stubTrail{verifyErr: errors.New("disk on fire")}, &logs)
	resp, err := http.DefaultClient.Do(stubRequest(t, http.MethodGet, srv.URL+"/audit?verify=1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	rid := resp.Header.Get("X-Request-ID")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "The check could not run. Request ID: "+rid) || strings.Contains(string(body), "disk on fire") {
		t.Errorf("status %d, body:\n%s", resp.StatusCode, excerpt(string(body), "verify-h"))
	}
	if !strings.Contains(logs.String(), "disk on fire") || !strings.Contains(logs.String(), rid) {
		t.Errorf("log: %s", logs.String())
	}
}

// An export that fails after it began is cut off, so the browser reports
// a failed download rather than keeping a shorter file that still
// verifies up to where it stops; one that fails before sends no file.
func TestAuditExportFailures(t *testing.T) {
	csrf := func(srv *httptest.Server) string {
		resp, err := http.DefaultClient.Do(stubRequest(t, http.MethodGet, srv.URL+"/audit"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return csrfToken(t, string(b))
	}
	post := func(srv *httptest.Server) (*http.Response, error) {
		req := stubRequest(t, http.MethodPost, srv.URL+"/audit/export")
		req.Body = io.NopCloser(strings.NewReader(url.Values{"csrf_token": {csrf(srv)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return http.DefaultClient.Do(req)
	}

	srv := stubAuditServer(t, stubTrail{partial: strings.Repeat(`{"type":"event"}`+"\n", 1000), exportErr: errors.New("connection reset")}, io.Discard)
	resp, err := post(srv)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("partial export: status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("a failed export ended like a complete download")
	}
	resp.Body.Close()

	srv = stubAuditServer(t, stubTrail{exportErr: apperr.Forbidden()}, io.Discard)
	resp, err = post(srv)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Disposition") != "" {
		t.Errorf("refused export: status %d, headers %v", resp.StatusCode, resp.Header)
	}
}
