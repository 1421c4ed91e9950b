package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/provision"
)

// exportResp is one answer of the export endpoint.
type exportResp struct {
	status int
	header http.Header
	body   []byte
}

func (r exportResp) errCode(t *testing.T) string {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d, not an error envelope: %.200s", r.status, r.body)
	}
	return e.Error.Code
}

func (r exportResp) errMessage() string {
	var e api.ErrorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Message
}

func get(t *testing.T, base string, c *client.Client, path string, q url.Values) exportResp {
	t.Helper()
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exportResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func putSettings(t *testing.T, base string, c *client.Client, body string) exportResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/api/v1/settings/export", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return exportResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func exportQuery(format string, kv ...string) url.Values {
	q := url.Values{"format": {format}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

const bom = "\uFEFF"

// parseCSV checks the BOM and the watermark line and returns the header
// and the rows keyed by record ID.
func parseCSV(t *testing.T, r exportResp) ([]string, map[string]map[string]string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	if !bytes.HasPrefix(r.body, []byte(bom)) {
		t.Fatalf("no byte order mark: %q", r.body[:min(len(r.body), 10)])
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body[len(bom):])).ReadAll()
	if err == nil && len(recs) < 2 {
		t.Fatalf("too few lines: %v", recs)
	}
	if err != nil {
		// The watermark line has one field, the rest many.
		rd := csv.NewReader(bytes.NewReader(r.body[len(bom):]))
		rd.FieldsPerRecord = -1
		if recs, err = rd.ReadAll(); err != nil {
			t.Fatalf("not CSV: %v", err)
		}
	}
	id := r.header.Get("X-Haven-Export-Id")
	if len(recs[0]) != 1 || !strings.Contains(recs[0][0], "Haven export "+id) || id == "" {
		t.Fatalf("first line is not the watermark of export %q: %v", id, recs[0])
	}
	header := recs[1]
	rows := map[string]map[string]string{}
	for _, rec := range recs[2:] {
		row := map[string]string{}
		for i, h := range header {
			row[h] = rec[i]
		}
		rows[row["id"]] = row
	}
	return header, rows
}

type fixture struct {
	srv      *testserver.Server
	tn       testserver.Tenant
	mail     *smtptest.Server
	manager  *client.Client
	sales    *client.Client
	salesID  string
	managers []string // contact IDs owned by the admin (title 经理)
	salesOwn []string // contact IDs owned by the sales user (title 经理)
	other    string   // a contact owned by the sales user with another title
}

func setup(t *testing.T, engine string) *fixture {
	t.Helper()
	mail := smtptest.Start(t)
	srv := testserver.Start(t, engine, testserver.Options{Configure: func(c *config.Config) {
		c.Notify.SMTPHost, c.Notify.SMTPPort = mail.Host, mail.Port
		c.Notify.SMTPFrom = "Haven <no-reply@haven.test>"
		c.Notify.SMTPTLS = config.SMTPTLSNone
	}})
	t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
	ctx := context.Background()
	f := &fixture{srv: srv, mail: mail, tn: srv.NewTenant(t, "exp")}
	f.manager, _ = srv.NewUser(t, f.tn, "mia@exp.example.com", "Mia", "manager")
	var su api.UserDTO
	f.sales, su = srv.NewUser(t, f.tn, "sam@exp.example.com", "Sam 销售", "sales")
	f.salesID = su.ID
	// A field sales users may not see at all.
	if _, err := f.tn.Admin.CreateField(ctx, "contact", api.CreateFieldRequest{Name: "secret_note", Label: "Secret note", LabelZH: "机密备注", Type: "text",
		FieldProtectionDTO: api.FieldProtectionDTO{Levels: map[string]string{"sales": "hidden"}}}); err != nil {
		t.Fatal(err)
	}
	mk := func(owner, name, title, mobile string) string {
		in := client.RecordInput{OwnerID: owner, Fields: map[string]any{"name": name, "title": title, "mobile": mobile, "secret_note__c": "机密-" + name}}
		rec, err := f.tn.Admin.CreateRecord(ctx, "contact", in)
		if err != nil {
			t.Fatal(err)
		}
		return rec.ID
	}
	f.managers = append(f.managers, mk("", "王经理", "经理", "13900001111"))
	f.salesOwn = append(f.salesOwn, mk(f.salesID, "张三", "经理", "13812345678"), mk(f.salesID, "李四, \"小李\"", "经理", "13711112222"))
	f.other = mk(f.salesID, "赵六", "工程师", "13655556666")
	return f
}

func TestListExport(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) { testListExport(t, engine) })
	}
}

func testListExport(t *testing.T, engine string) {
	f := setup(t, engine)
	ctx := context.Background()
	base := f.srv.URL
	path := "/api/v1/objects/contact/records/export"
	filter := []string{"filter[title]", "经理"}

	// Defaults: admins and managers export lists, sales users do not —
	// not even by calling the API directly.
	r := get(t, base, f.sales, path, exportQuery("csv", filter...))
	if r.status != http.StatusForbidden || r.errCode(t) != "forbidden" {
		t.Fatalf("sales export with default rules: %d %s", r.status, r.body)
	}
	if r := get(t, base, f.manager, path, exportQuery("xlsx")); r.status != http.StatusOK {
		t.Fatalf("manager export: %d %s", r.status, r.body)
	}

	// Admin: every 经理 record, values in clear, the hidden field present.
	r = get(t, base, f.tn.Admin, path, exportQuery("csv", filter...))
	header, rows := parseCSV(t, r)
	want := append(slices.Clone(f.managers), f.salesOwn...)
	if len(rows) != len(want) {
		t.Fatalf("admin export has %d rows, want %d: %v", len(rows), len(want), rows)
	}
	for _, id := range want {
		if rows[id] == nil {
			t.Fatalf("admin export lacks %s", id)
		}
	}
	if !slices.Contains(header, "secret_note__c") || !slices.Contains(header, "mobile") {
		t.Fatalf("admin header %v", header)
	}
	if got := rows[f.salesOwn[0]]; got["mobile"] != "13812345678" || got["name"] != "张三" || got["secret_note__c"] != "机密-张三" || got["title"] != "经理" {
		t.Errorf("admin row %v", got)
	}
	if got := rows[f.salesOwn[1]]["name"]; got != `李四, "小李"` {
		t.Errorf("quoting: %q", got)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, r.header.Get("X-Haven-Export-Id")) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if r.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Errorf("headers %v", r.header)
	}
	// The same list through the list endpoint holds the same records.
	list, err := f.tn.Admin.ListRecords(ctx, "contact", client.ListOptions{Filter: map[string]string{"title": "经理"}, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(rows) {
		t.Errorf("the list shows %d, the export has %d", len(list.Items), len(rows))
	}

	// Let sales users export; they see their own records only, masked
	// values masked, the hidden field absent.
	if r := putSettings(t, base, f.tn.Admin, `{"list_roles":["admin","manager","sales"],"full_roles":["admin"],"daily_row_quota":10000,"notify_threshold":5000}`); r.status != http.StatusOK {
		t.Fatalf("put settings: %d %s", r.status, r.body)
	}
	r = get(t, base, f.sales, path, exportQuery("csv", filter...))
	header, rows = parseCSV(t, r)
	if len(rows) != 2 || rows[f.salesOwn[0]] == nil || rows[f.salesOwn[1]] == nil {
		t.Fatalf("sales export rows %v", rows)
	}
	if slices.Contains(header, "secret_note__c") || bytes.Contains(r.body, []byte("机密")) {
		t.Errorf("the hidden field is in the sales export: %v", header)
	}
	if got := rows[f.salesOwn[0]]["mobile"]; got != "138****5678" {
		t.Errorf("sales sees mobile %q", got)
	}
	for _, clear := range []string{"13812345678", "13711112222", "13900001111", "王经理"} {
		if bytes.Contains(r.body, []byte(clear)) {
			t.Errorf("sales export holds %q", clear)
		}
	}

	// XLSX: the same rows, parsed with excelize; the watermark in the
	// document properties and on its own sheet.
	r = get(t, base, f.sales, path, exportQuery("xlsx", filter...))
	if r.status != http.StatusOK {
		t.Fatalf("xlsx: %d %s", r.status, r.body)
	}
	x, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("not XLSX: %v", err)
	}
	defer x.Close()
	sheet, err := x.GetRows("Export")
	if err != nil {
		t.Fatal(err)
	}
	if len(sheet) != 3 {
		t.Fatalf("xlsx rows %v", sheet)
	}
	xh := sheet[0]
	if slices.Contains(xh, "secret_note__c") || !slices.Contains(xh, "mobile") {
		t.Errorf("xlsx header %v", xh)
	}
	got := map[string]map[string]string{}
	for _, row := range sheet[1:] {
		m := map[string]string{}
		for i, h := range xh {
			if i < len(row) {
				m[h] = row[i]
			}
		}
		got[m["id"]] = m
	}
	if got[f.salesOwn[0]]["mobile"] != "138****5678" || got[f.salesOwn[0]]["name"] != "张三" || got[f.other] != nil {
		t.Errorf("xlsx rows %v", got)
	}
	props, err := x.GetDocProps()
	if err != nil {
		t.Fatal(err)
	}
	id := r.header.Get("X-Haven-Export-Id")
	if props.Identifier != id || props.Creator != "Sam 销售" || !strings.Contains(props.Description, id) {
		t.Errorf("doc props %+v (export %s)", props, id)
	}
	if v, _ := x.GetCellValue("Watermark", "B1"); v != id {
		t.Errorf("watermark sheet names export %q, want %q", v, id)
	}

	// Every export is audited with its scope and row count.
	events, err := f.tn.Admin.ListAudit(ctx, client.AuditQuery{Action: "export.list"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range events.Items {
		if e.ObjectID != id {
			continue
		}
		found = true
		b, _ := json.Marshal(e.Changes)
		for _, want := range []string{`"xlsx"`, `"contact"`, `经理`, `"rows":{"before":null,"after":2}`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("audit changes %s lack %s", b, want)
			}
		}
	}
	if !found || len(events.Items) != 4 {
		t.Errorf("export %s not audited (%d export events)", id, len(events.Items))
	}

	// Bad requests.
	for name, q := range map[string]url.Values{
		"format":          exportQuery("pdf"),
		"no format":       {},
		"limit":           exportQuery("csv", "limit", "5"),
		"unknown param":   exportQuery("csv", "foo", "1"),
		"hidden filter":   exportQuery("csv", "filter[secret_note__c]", "x"),
		"masked sort":     exportQuery("csv", "sort", "mobile"),
		"header":          exportQuery("csv", "header", "xml"),
		"search too long": exportQuery("csv", "q", strings.Repeat("长", 101)),
	} {
		if r := get(t, base, f.sales, path, q); r.status != http.StatusBadRequest || r.errCode(t) != "invalid_request" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if r := get(t, base, f.sales, "/api/v1/objects/nope/records/export", exportQuery("csv")); r.status != http.StatusNotFound {
		t.Errorf("unknown object: %d", r.status)
	}
	// Labels in Chinese on request.
	req, _ := http.NewRequest(http.MethodGet, base+path+"?"+exportQuery("csv", "header", "labels").Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+f.tn.Admin.Token())
	req.Header.Set("Accept-Language", "zh-CN")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "手机") || !strings.Contains(string(b), "机密备注") {
		t.Errorf("Chinese labels missing: %.300s", b)
	}
}

// TestListExportQuota: the daily quota holds per user, refuses with what
// remains (charging nothing), and holds against concurrent exports.
func TestListExportQuota(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			f := setup(t, engine)
			base, path := f.srv.URL, "/api/v1/objects/contact/records/export"
			if r := putSettings(t, base, f.tn.Admin, `{"list_roles":["admin","manager","sales"],"full_roles":["admin"],"daily_row_quota":5,"notify_threshold":5000}`); r.status != http.StatusOK {
				t.Fatalf("put settings: %d %s", r.status, r.body)
			}
			// Sales sees 3 records: 3 of 5 rows used.
			if r := get(t, base, f.sales, path, exportQuery("csv")); r.status != http.StatusOK || r.header.Get("X-Haven-Export-Rows") != "3" {
				t.Fatalf("first export: %d %v %s", r.status, r.header, r.body)
			}
			r := get(t, base, f.sales, path, exportQuery("xlsx"))
			if r.status != http.StatusTooManyRequests || r.errCode(t) != "rate_limited" || !strings.Contains(r.errMessage(), "only 2 of your daily quota of 5 rows remain") {
				t.Fatalf("over quota: %d %s", r.status, r.body)
			}
			if r.header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After")
			}
			// Nothing was charged: the 2 rows left still fit.
			if r := get(t, base, f.sales, path, exportQuery("csv", "filter[title]", "经理")); r.status != http.StatusOK {
				t.Fatalf("the remaining quota: %d %s", r.status, r.body)
			}
			if r := get(t, base, f.sales, path, exportQuery("csv", "filter[title]", "工程师")); r.status != http.StatusTooManyRequests {
				t.Fatalf("quota used up: %d %s", r.status, r.body)
			}
			// An empty list costs nothing.
			if r := get(t, base, f.sales, path, exportQuery("csv", "filter[title]", "none")); r.status != http.StatusOK {
				t.Fatalf("empty export: %d %s", r.status, r.body)
			}

			// Concurrent exports by one user: 4 rows each under a fresh
			// quota of 10 — at most two succeed.
			if r := putSettings(t, base, f.tn.Admin, `{"list_roles":["admin"],"full_roles":["admin"],"daily_row_quota":10,"notify_threshold":5000}`); r.status != http.StatusOK {
				t.Fatalf("put settings: %d %s", r.status, r.body)
			}
			// The admin sees 4 contacts.
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes := map[int]int{}
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := get(t, base, f.tn.Admin, path, exportQuery("csv"))
					mu.Lock()
					codes[r.status]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if codes[http.StatusOK] != 2 || codes[http.StatusTooManyRequests] != 4 {
				t.Fatalf("concurrent exports: %v", codes)
			}
		})
	}
}

// TestListExportNotice: an export at or above the threshold e-mails the
// tenant's admins; one below it does not.
func TestListExportNotice(t *testing.T) {
	f := setup(t, "sqlite")
	ctx := context.Background()
	base, path := f.srv.URL, "/api/v1/objects/contact/records/export"
	if r := putSettings(t, base, f.tn.Admin, `{"list_roles":["admin","manager"],"full_roles":["admin"],"daily_row_quota":100,"notify_threshold":3}`); r.status != http.StatusOK {
		t.Fatalf("put settings: %d %s", r.status, r.body)
	}
	small := get(t, base, f.manager, path, exportQuery("csv", "filter[title]", "工程师"))
	big := get(t, base, f.manager, path, exportQuery("csv", "filter[title]", "经理"))
	if small.status != http.StatusOK || big.status != http.StatusOK {
		t.Fatalf("exports: %d %d", small.status, big.status)
	}
	bigID, smallID := big.header.Get("X-Haven-Export-Id"), small.header.Get("X-Haven-Export-Id")
	m := f.mail.WaitFor(t, 15*time.Second, smtptest.To(f.tn.AdminLogin))
	for _, want := range []string{bigID, "Mia", "3"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("notice lacks %q:\n%s", want, m.Text)
		}
	}
	if err := f.srv.App.Notifier.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.mail.Messages() {
		if strings.Contains(m.Text, smallID) {
			t.Errorf("an export below the threshold was notified")
		}
		if slices.Contains(m.To, "mia@exp.example.com") || slices.Contains(m.To, "sam@exp.example.com") {
			t.Errorf("notice sent to a non-admin: %v", m.To)
		}
	}
}

// TestExportSettingsAPI: admins only, strict validation.
func TestExportSettingsAPI(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
	tn := srv.NewTenant(t, "rules")
	mgr, _ := srv.NewUser(t, tn, "m@rules.example.com", "M", "manager")
	r := get(t, srv.URL, tn.Admin, "/api/v1/settings/export", nil)
	var got api.ExportSettingsDTO
	if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil || got.DailyRowQuota != 10000 || got.NotifyThreshold != 5000 ||
		!slices.Equal(got.ListRoles, []string{"admin", "manager"}) || !slices.Equal(got.FullRoles, []string{"admin"}) {
		t.Fatalf("defaults: %d %s", r.status, r.body)
	}
	if r := get(t, srv.URL, mgr, "/api/v1/settings/export", nil); r.status != http.StatusForbidden {
		t.Errorf("manager reads rules: %d", r.status)
	}
	good := `{"list_roles":["sales"],"full_roles":[],"daily_row_quota":0,"notify_threshold":1}`
	if r := putSettings(t, srv.URL, mgr, good); r.status != http.StatusForbidden {
		t.Errorf("manager changes rules: %d", r.status)
	}
	for name, body := range map[string]string{
		"missing field":  `{"list_roles":["sales"],"full_roles":[],"daily_row_quota":1}`,
		"null roles":     `{"list_roles":null,"full_roles":[],"daily_row_quota":1,"notify_threshold":1}`,
		"unknown field":  `{"list_roles":[],"full_roles":[],"daily_row_quota":1,"notify_threshold":1,"x":1}`,
		"wrong case key": `{"List_roles":[],"full_roles":[],"daily_row_quota":1,"notify_threshold":1}`,
		"bad role":       `{"list_roles":["operator"],"full_roles":[],"daily_row_quota":1,"notify_threshold":1}`,
		"negative":       `{"list_roles":[],"full_roles":[],"daily_row_quota":-1,"notify_threshold":1}`,
		"fraction":       `{"list_roles":[],"full_roles":[],"daily_row_quota":1.5,"notify_threshold":1}`,
		"string number":  `{"list_roles":[],"full_roles":[],"daily_row_quota":"10","notify_threshold":1}`,
		"zero threshold": `{"list_roles":[],"full_roles":[],"daily_row_quota":1,"notify_threshold":0}`,
		"two objects":    good + good,
	} {
		if r := putSettings(t, srv.URL, tn.Admin, body); r.status != http.StatusBadRequest || r.errCode(t) != "invalid_request" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	r = putSettings(t, srv.URL, tn.Admin, good)
	if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil || !slices.Equal(got.FullRoles, []string{"admin"}) || got.DailyRowQuota != 0 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	log, err := tn.Admin.ListAudit(context.Background(), client.AuditQuery{Action: "settings.update"})
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range log.Items {
		audited = audited || e.ObjectID == "export"
	}
	if !audited {
		t.Errorf("the change is not in the audit log: %+v", log.Items)
	}
	// The admin is no longer in list_roles: even admins follow the rules
	// they set for lists.
	if _, err := tn.Admin.CreateRecord(context.Background(), "account", client.RecordInput{Fields: map[string]any{"name": "A"}}); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv.URL, tn.Admin, "/api/v1/objects/account/records/export", exportQuery("csv")); r.status != http.StatusForbidden {
		t.Errorf("admin not in list_roles: %d %s", r.status, r.body)
	}

	// The Go client: rules, then an export that fits the quota of 1 row
	// and one that does not.
	ctx := context.Background()
	if rules, err := tn.Admin.ExportRules(ctx); err != nil || rules.DailyRowQuota != 0 {
		t.Fatalf("client rules %+v %v", rules, err)
	}
	if _, err := tn.Admin.PutExportRules(ctx, api.ExportSettingsDTO{ListRoles: []string{"admin"}, FullRoles: []string{}, DailyRowQuota: 1, NotifyThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	id, name, err := tn.Admin.ExportList(ctx, "account", "xlsx", client.ListOptions{}, &buf)
	if err != nil || id == "" || !strings.HasSuffix(name, id+".xlsx") || buf.Len() == 0 {
		t.Fatalf("client export: %q %q %d %v", id, name, buf.Len(), err)
	}
	if _, _, err := tn.Admin.ExportList(ctx, "account", "csv", client.ListOptions{}, io.Discard); !client.IsCode(err, "rate_limited") {
		t.Fatalf("client export past the quota: %v", err)
	}
	if _, _, err := tn.Admin.ExportList(ctx, "account", "csv", client.ListOptions{Limit: 5}, io.Discard); err == nil {
		t.Fatal("client export with a limit")
	}
}

// TestListExportContract: after the contract ends only admins export,
// during the grace period; after it nobody, with a clear error.
func TestListExportContract(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
			srv := testserver.Start(t, engine, testserver.Options{Now: clock})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			end := clock().Add(time.Hour)
			res, err := srv.App.Provisioner.CreateTenant(ctx, provision.Input{Slug: "ending", Name: "Ending Co.", AdminEmail: "admin@ending.example.com", AdminName: "Ada", ContractEnd: &end})
			if err != nil {
				t.Fatal(err)
			}
			admin := client.New(srv.URL)
			if _, err := admin.Login(ctx, api.LoginRequest{Tenant: "ending", Login: res.Admin.Email, Password: res.OneTimePassword}); err != nil {
				t.Fatal(err)
			}
			if err := admin.ChangePassword(ctx, res.OneTimePassword, testserver.AdminPassword); err != nil {
				t.Fatal(err)
			}
			tn := testserver.Tenant{Slug: "ending", ID: string(res.Tenant.ID), AdminLogin: res.Admin.Email, Password: testserver.AdminPassword, Admin: admin}
			srv.NewUser(t, tn, "m@ending.example.com", "M", "manager")
			if _, err := admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "客户一"}}); err != nil {
				t.Fatal(err)
			}
			path := "/api/v1/objects/account/records/export"
			login := func(who string) *client.Client { return srv.Login(t, "ending", who, testserver.AdminPassword) }
			if r := get(t, srv.URL, login("m@ending.example.com"), path, exportQuery("csv")); r.status != http.StatusOK {
				t.Fatalf("valid contract: %d %s", r.status, r.body)
			}
			advance(2 * time.Hour) // grace period
			r := get(t, srv.URL, login("m@ending.example.com"), path, exportQuery("csv"))
			if r.status != http.StatusForbidden || r.errCode(t) != "contract_ended" || !strings.Contains(r.errMessage(), "only administrators") {
				t.Fatalf("manager in the grace period: %d %s", r.status, r.body)
			}
			if r := get(t, srv.URL, login(res.Admin.Email), path, exportQuery("xlsx")); r.status != http.StatusOK {
				t.Fatalf("admin in the grace period: %d %s", r.status, r.body)
			}
			advance(31 * 24 * time.Hour)
			r = get(t, srv.URL, login(res.Admin.Email), path, exportQuery("csv"))
			if r.status != http.StatusForbidden || r.errCode(t) != "contract_ended" || !strings.Contains(r.errMessage(), "grace period ended on") ||
				!strings.Contains(r.errMessage(), end.In(shanghai()).Format(time.DateOnly)) {
				t.Fatalf("admin after the grace period: %d %s", r.status, r.body)
			}
		})
	}
}

func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}
