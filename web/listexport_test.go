package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

const exportRules = "/settings/export-rules"

// TestListExportWeb drives the list page's export buttons and the export
// rules page with a real session: what the buttons post, what the file
// holds for a sales user, the role rule, CSRF, the quota and the rules
// page's admin-only validation.
func TestListExportWeb(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) { testListExportWeb(t, engine) })
	}
}

func testListExportWeb(t *testing.T, engine string) {
	srv := testserver.Start(t, engine)
	ctx := context.Background()
	tn := srv.NewTenant(t, "webexp")
	srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.MaxSessions = 0 })
	_, su := srv.NewUser(t, tn, "sam@webexp.example.com", "Sam", "sales")
	if _, err := tn.Admin.CreateField(ctx, "contact", api.CreateFieldRequest{Name: "secret_note", Label: "Secret note", LabelZH: "机密备注", Type: "text",
		FieldProtectionDTO: api.FieldProtectionDTO{Levels: map[string]string{"sales": "hidden"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ owner, name, mobile string }{
		{su.ID, "张三", "13812345678"}, {su.ID, "张小四", "13711112222"}, {su.ID, "王五", "13600000000"}, {"", "张经理", "13900001111"},
	} {
		if _, err := tn.Admin.CreateRecord(ctx, "contact", client.RecordInput{OwnerID: c.owner,
			Fields: map[string]any{"name": c.name, "mobile": c.mobile, "secret_note__c": "机密"}}); err != nil {
			t.Fatal(err)
		}
	}

	sales := newBrowser(t, srv.URL)
	wantPath(t, sales.login(tn.Slug, "sam@webexp.example.com", testserver.AdminPassword), "/")
	// Default rules: no buttons for sales, and posting anyway is refused.
	list := sales.get("/o/contact")
	wantStatus(t, list, http.StatusOK)
	wantNotContains(t, list, `id="export-csv"`)
	token := csrfToken(t, list.Body)
	p := sales.post("/o/contact/export", url.Values{"csrf_token": {token}, "format": {"csv"}})
	wantStatus(t, p, http.StatusForbidden)
	wantContains(t, p, "Your role may not export lists")
	wantStatus(t, sales.get(exportRules), http.StatusForbidden)

	// The admin lets sales export, through the rules page.
	admin := newBrowser(t, srv.URL)
	wantPath(t, admin.login(tn.Slug, tn.AdminLogin, testserver.AdminPassword), "/")
	wantContains(t, admin.get("/"), `href="`+exportRules+`"`)
	p = admin.submit(exportRules, exportRules, url.Values{"list_roles": {"admin", "manager", "sales"}, "full_roles": {"manager"},
		"daily_row_quota": {"4"}, "notify_threshold": {"100"}})
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, exportRules)
	wantContains(t, p, "The export rules have been saved.", `value="sales" checked`)
	rules, err := srv.App.ExportGov.Get(ctx, tenant.Actor{Kind: tenant.ActorUser, TenantID: tenant.ID(tn.ID), Role: "admin"})
	if err != nil || rules.DailyRowQuota != 4 || strings.Join(rules.FullRoles, ",") != "admin,manager" {
		t.Fatalf("stored rules %+v %v", rules, err)
	}
	for name, form := range map[string]url.Values{
		"not a number": {"list_roles": {"admin"}, "daily_row_quota": {"many"}, "notify_threshold": {"1"}},
		"negative":     {"list_roles": {"admin"}, "daily_row_quota": {"-1"}, "notify_threshold": {"1"}},
		"bad role":     {"list_roles": {"root"}, "daily_row_quota": {"1"}, "notify_threshold": {"1"}},
	} {
		p := admin.submit(exportRules, exportRules, form)
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `id="export-rules-error"`) {
			t.Errorf("%s: %d", name, p.Status)
		}
	}
	// Sales may not change the rules, even with a valid token.
	p = sales.post(exportRules, url.Values{"csrf_token": {token}, "list_roles": {"sales"}, "daily_row_quota": {"100000"}, "notify_threshold": {"1"}})
	wantStatus(t, p, http.StatusForbidden)

	// The list filtered by a search: the buttons carry the search.
	list = sales.get("/o/contact?q=" + url.QueryEscape("张"))
	wantContains(t, list, `id="export-csv"`, `id="export-xlsx"`, `name="q" value="张"`)
	form := formValues(t, list.Body, "/o/contact/export")
	if form.Get("q") != "张" || form.Get("csrf_token") == "" {
		t.Fatalf("export form values %v", form)
	}
	// Without the CSRF token nothing is exported.
	p = sales.post("/o/contact/export", url.Values{"format": {"csv"}, "q": {"张"}})
	wantStatus(t, p, http.StatusForbidden)

	form.Set("format", "csv")
	p = sales.post("/o/contact/export", form)
	wantStatus(t, p, http.StatusOK)
	if !strings.HasPrefix(p.Header.Get("Content-Disposition"), "attachment") || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", p.Header)
	}
	if !strings.HasPrefix(p.Body, "\uFEFF") {
		t.Fatal("no byte order mark")
	}
	rd := csv.NewReader(strings.NewReader(strings.TrimPrefix(p.Body, "\uFEFF")))
	rd.FieldsPerRecord = -1
	lines, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Watermark, header, and exactly the two 张 contacts Sam owns.
	if len(lines) != 4 || !strings.Contains(lines[0][0], "Haven export "+p.Header.Get("X-Haven-Export-Id")) {
		t.Fatalf("lines %v", lines)
	}
	header := strings.Join(lines[1], "|")
	if !strings.Contains(header, "Mobile") || strings.Contains(header, "Secret") {
		t.Errorf("header %q", header)
	}
	for _, bad := range []string{"13812345678", "13711112222", "张经理", "王五", "机密"} {
		if strings.Contains(p.Body, bad) {
			t.Errorf("the export holds %q", bad)
		}
	}
	if !strings.Contains(p.Body, "138****5678") || !strings.Contains(p.Body, "张小四") {
		t.Errorf("export body %q", p.Body)
	}

	// XLSX in Chinese: labels in Chinese; 2 more rows fit the quota of 4.
	sales.lang = "zh-CN"
	form.Set("format", "xlsx")
	p = sales.post("/o/contact/export", form)
	wantStatus(t, p, http.StatusOK)
	x, err := excelize.OpenReader(bytes.NewReader([]byte(p.Body)))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := x.GetRows("Export")
	x.Close()
	if len(rows) != 3 || !strings.Contains(strings.Join(rows[0], "|"), "手机") {
		t.Fatalf("xlsx rows %v", rows)
	}
	// The quota of 4 is used up: the next export is refused, in Chinese.
	p = sales.post("/o/contact/export", form)
	wantStatus(t, p, http.StatusTooManyRequests)
	wantContains(t, p, "导出被拒绝", "只剩 0 行额度")

	// The audit page names the action.
	admin.lang = "en-US"
	wantContains(t, admin.get("/audit?action="+exportgov.ActionListExported), "List exported")
}
