package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
)

const adminPassword = testserver.AdminPassword

// TestWeb drives the web UI over HTTP on every engine, as a browser
// without JavaScript would.
func TestWeb(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			tn := srv.NewTenant(t, "acme")
			// These cases sign the admin in from a dozen browsers while
			// tn.Admin's API session stays in use; the default limit of 5
			// sessions would end it (max_sessions has tests of its own).
			srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.MaxSessions = 0 })
			t.Run("LoginListCreateDetail", func(t *testing.T) { testLoginListCreateDetail(t, srv, tn) })
			t.Run("EditConflictAndDelete", func(t *testing.T) { testEditConflictDelete(t, srv, tn) })
			t.Run("ValidationErrors", func(t *testing.T) { testValidation(t, srv, tn) })
			t.Run("CSRF", func(t *testing.T) { testCSRF(t, srv, tn) })
			t.Run("OneTimePasswordForcesChange", func(t *testing.T) { testForcedPasswordChange(t, srv, tn) })
			t.Run("SalesUserLimits", func(t *testing.T) { testSalesLimits(t, srv, tn) })
			t.Run("Language", func(t *testing.T) { testLanguage(t, srv, tn) })
			t.Run("Escaping", func(t *testing.T) { testEscaping(t, srv, tn) })
			t.Run("HeadersAndStatic", func(t *testing.T) { testHeadersAndStatic(t, srv) })
			t.Run("DeactivatedUserSessionEnds", func(t *testing.T) { testDeactivated(t, srv, tn) })
			t.Run("UsersAdmin", func(t *testing.T) { testUsersAdmin(t, srv, tn) })
			t.Run("AuditLog", func(t *testing.T) { testAudit(t, srv, tn) })
			t.Run("ListSortAndPaging", func(t *testing.T) { testListPaging(t, srv) })
			t.Run("ErrorPages", func(t *testing.T) { testErrorPages(t, srv, tn) })
		})
	}
}

var recordPath = regexp.MustCompile(`^/o/account/([0-9a-f-]{36})$`)

func findAccount(t *testing.T, c *client.Client, name string) (api.RecordDTO, bool) {
	t.Helper()
	list, err := c.ListRecords(context.Background(), "account", client.ListOptions{Q: name, Limit: 200})
	if err != nil {
		t.Fatalf("list accounts: %v", err)
	}
	for _, r := range list.Items {
		if r.Name == name {
			return r, true
		}
	}
	return api.RecordDTO{}, false
}

func testLoginListCreateDetail(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	b := newBrowser(t, srv.URL)
	// Anonymous visitors are sent to the sign-in page.
	p := b.get("/")
	wantPath(t, p, "/login")

	// A deep link survives the sign-in; an off-site one does not.
	deep := newBrowser(t, srv.URL)
	p = deep.get("/o/contact?q=Li")
	wantPath(t, p, "/login")
	wantContains(t, p, `name="next" value="/o/contact?q=Li"`)
	p = deep.post("/login", url.Values{"csrf_token": {csrfToken(t, p.Body)}, "tenant": {tn.Slug}, "login": {tn.AdminLogin}, "password": {adminPassword}, "next": {"/o/contact?q=Li"}})
	wantPath(t, p, "/o/contact")
	evil := newBrowser(t, srv.URL)
	p = evil.get("/login?next=//evil.example/")
	wantNotContains(t, p, `name="next" value="//evil.example/"`)
	p = evil.post("/login", url.Values{"csrf_token": {csrfToken(t, p.Body)}, "tenant": {tn.Slug}, "login": {tn.AdminLogin}, "password": {adminPassword}, "next": {"//evil.example/"}})
	if p.URL.Host != strings.TrimPrefix(srv.URL, "http://") || p.URL.Path != "/" {
		t.Errorf("off-site next followed to %s", p.URL)
	}

	p = b.login(tn.Slug, "nobody@acme.example.com", "wrong-password")
	wantStatus(t, p, http.StatusUnauthorized)
	wantContains(t, p, "The organization, login or password is incorrect.", `value="acme"`)

	p = b.login(tn.Slug, tn.AdminLogin, adminPassword)
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, "/")
	wantContains(t, p, "acme Co.", "Admin acme", `href="/o/account"`, `href="/users"`, `href="/audit"`)

	p = b.get("/o/account")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "<h1>Accounts</h1>", "No records yet.")

	p = b.get("/o/account/new")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, `name="annual_revenue"`, `step="0.01"`, `type="url"`, `type="email"`, `<textarea`, `name="industry"`)

	form := url.Values{
		"name": {"Acme Robotics"}, "industry": {"technology"}, "annual_revenue": {"1234567.5"},
		"website": {"https://robotics.example.com/"}, "email": {"info@robotics.example.com"},
		"employees": {"250"}, "description": {"First line\nSecond line"},
	}
	p = b.submit("/o/account/new", "/o/account/new", form)
	wantStatus(t, p, http.StatusOK)
	m := recordPath.FindStringSubmatch(p.URL.Path)
	if m == nil {
		t.Fatalf("create did not land on the record page: %s", p.URL)
	}
	wantContains(t, p, "Record created.", "Acme Robotics", "1,234,567.50", "Technology", "250",
		`href="https://robotics.example.com/" rel="noopener noreferrer nofollow"`,
		`href="mailto:info@robotics.example.com"`, "Admin acme", "Record created</span>")
	rec, err := tn.Admin.GetRecord(context.Background(), "account", m[1])
	if err != nil {
		t.Fatalf("API get of the created record: %v", err)
	}
	if rec.Fields["annual_revenue"] != 1234567.5 || rec.Fields["industry"] != "technology" || rec.Fields["description"] != "First line\nSecond line" {
		t.Errorf("stored fields = %v", rec.Fields)
	}

	p = b.get("/o/account")
	wantContains(t, p, "Acme Robotics", `href="/o/account/`+m[1]+`"`, "1 record on this page")

	// A contact pointing at the account shows the account's name as a link.
	p = b.submit("/o/contact/new", "/o/contact/new", url.Values{"name": {"Li Lei"}, "account_id": {m[1]}, "do_not_call": {"true"}, "birthday": {"1990-05-04"}})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Li Lei", `<a href="/o/account/`+m[1]+`">Acme Robotics</a>`, "Yes", "4 May 1990")
}

func testEditConflictDelete(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	ctx := context.Background()
	rec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Edit Me Ltd", "city": "Shanghai", "phone": "+86 21 5555 0000", "description": "Line one\nLine two"}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	base := "/o/account/" + rec.ID
	p := b.get(base + "/edit")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, `value="Edit Me Ltd"`, `value="Shanghai"`, `name="version" value="1"`)

	p = b.submit(base+"/edit", base+"/edit", url.Values{"version": {"1"}, "name": {"Edit Me Ltd"}, "city": {"Beijing"}, "phone": {"+86 21 5555 0000"}, "owner_id": {rec.OwnerID}, "description": {"Line one\r\nLine two"}})
	wantStatus(t, p, http.StatusOK)
	wantPath(t, p, base)
	wantContains(t, p, "Saved.", "Beijing", "Record updated", "Shanghai")
	got, err := tn.Admin.GetRecord(ctx, "account", rec.ID)
	if err != nil || got.Fields["city"] != "Beijing" || got.Version != 2 || got.Fields["phone"] != "+86 21 5555 0000" {
		t.Fatalf("after edit: %+v %v", got, err)
	}
	// Only the field the user changed was written: the textarea's CRLF
	// line breaks and the untouched fields made no change.
	hist, err := tn.Admin.RecordHistory(ctx, "account", rec.ID)
	if err != nil || len(hist.Items) != 2 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if ch := hist.Items[0].Changes; len(ch) != 1 || ch["city"].After != "Beijing" || got.Fields["description"] != "Line one\nLine two" {
		t.Errorf("update changed %v; description %q", ch, got.Fields["description"])
	}

	// Submitting the stale version again is a conflict: nothing is
	// written and the user's input is kept.
	p = b.submit(base+"/edit", base+"/edit", url.Values{"version": {"1"}, "name": {"Edit Me Ltd"}, "city": {"Shenzhen"}})
	wantStatus(t, p, http.StatusConflict)
	wantContains(t, p, "Someone else changed this record", `href="`+base+`/edit"`, `value="Shenzhen"`)
	if got, _ := tn.Admin.GetRecord(ctx, "account", rec.ID); got.Fields["city"] != "Beijing" {
		t.Errorf("conflicting edit was written: %v", got.Fields)
	}

	// Deleting with a stale version is refused too.
	p = b.submit(base, base+"/delete", url.Values{"version": {"1"}})
	wantPath(t, p, base)
	wantContains(t, p, "was changed by someone else, so it was not deleted")
	p = b.submit(base, base+"/delete", url.Values{"version": {"2"}})
	wantPath(t, p, "/o/account")
	wantContains(t, p, "Record deleted.")
	if _, err := tn.Admin.GetRecord(ctx, "account", rec.ID); !client.IsCode(err, "not_found") {
		t.Fatalf("deleted record still readable: %v", err)
	}
	wantStatus(t, b.get(base), http.StatusNotFound)
}

func testValidation(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	p := b.submit("/o/account/new", "/o/account/new", url.Values{
		"name": {""}, "email": {"not-an-email"}, "annual_revenue": {"12.345"}, "city": {"Hangzhou <b>"},
	})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "Please correct the highlighted fields.", "This field is required.",
		"Enter an e-mail address like name@example.com.", "Use at most two decimal places.",
		`value="not-an-email"`, `value="12.345"`, `value="Hangzhou &lt;b&gt;"`, `aria-invalid="true"`)
	if _, found := findAccount(t, tn.Admin, "Hangzhou <b>"); found {
		t.Fatal("invalid form created a record")
	}

	// Chinese users get Chinese messages.
	b.lang = "zh-CN"
	p = b.submit("/o/account/new", "/o/account/new", url.Values{"name": {""}, "website": {"ftp://x"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "此项为必填。", "请输入以 http:// 或 https:// 开头的网址。")
}

func testCSRF(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	token := csrfToken(t, b.get("/o/account/new").Body)

	p := b.post("/o/account/new", url.Values{"name": {"No Token Inc"}})
	wantStatus(t, p, http.StatusForbidden)
	wantContains(t, p, "Request blocked")
	p = b.post("/o/account/new", url.Values{"name": {"Wrong Token Inc"}, "csrf_token": {token[:len(token)-2] + "xx"}})
	wantStatus(t, p, http.StatusForbidden)

	// The right token from a foreign origin is refused as well.
	b.headers["Origin"] = "https://evil.example"
	p = b.post("/o/account/new", url.Values{"name": {"Cross Origin Inc"}, "csrf_token": {token}})
	wantStatus(t, p, http.StatusForbidden)
	b.headers["Origin"] = "null"
	p = b.post("/o/account/new", url.Values{"name": {"Cross Origin Inc"}, "csrf_token": {token}})
	wantStatus(t, p, http.StatusForbidden)
	delete(b.headers, "Origin")
	b.headers["Sec-Fetch-Site"] = "cross-site"
	p = b.post("/o/account/new", url.Values{"name": {"Cross Origin Inc"}, "csrf_token": {token}})
	wantStatus(t, p, http.StatusForbidden)
	delete(b.headers, "Sec-Fetch-Site")

	for _, name := range []string{"No Token Inc", "Wrong Token Inc", "Cross Origin Inc"} {
		if _, found := findAccount(t, tn.Admin, name); found {
			t.Errorf("refused POST created %q", name)
		}
	}

	// The same token from our own origin works.
	b.headers["Origin"] = srv.URL
	p = b.post("/o/account/new", url.Values{"name": {"Same Origin Inc"}, "csrf_token": {token}})
	delete(b.headers, "Origin")
	wantStatus(t, p, http.StatusOK)
	if _, found := findAccount(t, tn.Admin, "Same Origin Inc"); !found {
		t.Error("valid POST did not create the record")
	}

	// A token of another session is worthless.
	other := newBrowser(t, srv.URL)
	other.login(tn.Slug, tn.AdminLogin, adminPassword)
	p = other.post("/o/account/new", url.Values{"name": {"Other Session Inc"}, "csrf_token": {token}})
	wantStatus(t, p, http.StatusForbidden)

	// Logout needs the token: without it the session survives.
	wantStatus(t, b.post("/logout", url.Values{}), http.StatusForbidden)
	wantPath(t, b.get("/o/account"), "/o/account")

	// The sign-in form uses a double-submit cookie.
	anon := newBrowser(t, srv.URL)
	anon.get("/login")
	p = anon.post("/login", url.Values{"tenant": {tn.Slug}, "login": {tn.AdminLogin}, "password": {adminPassword}})
	wantStatus(t, p, http.StatusForbidden)
	p = anon.post("/login", url.Values{"tenant": {tn.Slug}, "login": {tn.AdminLogin}, "password": {adminPassword}, "csrf_token": {strings.Repeat("A", 43)}})
	wantStatus(t, p, http.StatusForbidden)
	wantPath(t, anon.get("/"), "/login")

	// Oversized form bodies are cut off (MaxBodyBytes is 1 MiB by default).
	p = b.post("/o/account/new", url.Values{"csrf_token": {token}, "name": {"Huge Inc"}, "description": {strings.Repeat("x", 1100<<10)}})
	wantStatus(t, p, http.StatusRequestEntityTooLarge)
	if _, found := findAccount(t, tn.Admin, "Huge Inc"); found {
		t.Error("oversized POST created a record")
	}

	// GET never changes anything: a GET to a POST-only URL creates nothing.
	p = b.get("/o/account/new?name=Via+GET")
	wantStatus(t, p, http.StatusOK)
	if _, found := findAccount(t, tn.Admin, "Via GET"); found {
		t.Error("GET created a record")
	}

	// Logging out with the token ends the session.
	p = b.submit("/", "/logout", url.Values{})
	wantPath(t, p, "/login")
	wantContains(t, p, "You have signed out.")
	wantPath(t, b.get("/o/account"), "/login")
}

func testForcedPasswordChange(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	ctx := context.Background()
	nu, err := tn.Admin.CreateUser(ctx, api.CreateUserRequest{Email: "newbie@acme.example.com", Name: "New Bie", Role: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	p := b.login(tn.Slug, "newbie@acme.example.com", nu.OneTimePassword)
	wantPath(t, p, "/password")
	wantContains(t, p, "You signed in with a one-time password.")
	wantNotContains(t, p, `href="/o/account"`)
	for _, path := range []string{"/", "/o/account", "/o/account/new", "/users", "/audit"} {
		wantPath(t, b.get(path), "/password")
	}
	// A POST elsewhere is refused as well (after its CSRF check).
	token := csrfToken(t, b.get("/password").Body)
	wantPath(t, b.post("/o/account/new", url.Values{"name": {"Sneaky"}, "csrf_token": {token}}), "/password")

	p = b.post("/password", url.Values{"csrf_token": {token}, "current_password": {nu.OneTimePassword}, "new_password": {"Fresh-Start-2026"}, "confirm_password": {"Fresh-Start-2027"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "The two new passwords do not match.")
	p = b.post("/password", url.Values{"csrf_token": {token}, "current_password": {"not-it"}, "new_password": {"Fresh-Start-2026"}, "confirm_password": {"Fresh-Start-2026"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "The current password is incorrect.")
	p = b.post("/password", url.Values{"csrf_token": {token}, "current_password": {nu.OneTimePassword}, "new_password": {"short"}, "confirm_password": {"short"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "At least 8 characters.")

	p = b.post("/password", url.Values{"csrf_token": {token}, "current_password": {nu.OneTimePassword}, "new_password": {"Fresh-Start-2026"}, "confirm_password": {"Fresh-Start-2026"}})
	wantPath(t, p, "/")
	wantContains(t, p, "Your password was changed.", `href="/o/account"`)
	wantStatus(t, b.get("/o/account"), http.StatusOK)
	if _, found := findAccount(t, tn.Admin, "Sneaky"); found {
		t.Error("a user who had to change the password created a record")
	}
}

func testSalesLimits(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	ctx := context.Background()
	srv.NewUser(t, tn, "sam@acme.example.com", "Sam Sales", "sales")
	adminRec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Admin Owned Secret Co"}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	p := b.login(tn.Slug, "sam@acme.example.com", adminPassword)
	wantPath(t, p, "/")
	wantContains(t, p, "Sam Sales", "Sales")
	wantNotContains(t, p, `href="/users"`, `href="/audit"`)
	wantStatus(t, b.get("/users"), http.StatusForbidden)
	wantStatus(t, b.get("/audit"), http.StatusForbidden)
	p = b.get("/o/account/" + adminRec.ID)
	wantStatus(t, p, http.StatusNotFound)
	wantNotContains(t, p, "Admin Owned Secret Co")
	wantStatus(t, b.get("/o/account/"+adminRec.ID+"/edit"), http.StatusNotFound)
	wantNotContains(t, b.get("/o/account"), "Admin Owned Secret Co")
	wantNotContains(t, b.get("/o/account?q=Secret"), "Admin Owned Secret Co")

	token := csrfToken(t, b.get("/").Body)
	wantStatus(t, b.post("/users", url.Values{"csrf_token": {token}, "name": {"Evil"}, "email": {"evil@acme.example.com"}, "role": {"admin"}}), http.StatusForbidden)
	wantStatus(t, b.post("/o/account/"+adminRec.ID+"/delete", url.Values{"csrf_token": {token}, "version": {"1"}}), http.StatusNotFound)
	if _, err := tn.Admin.GetRecord(ctx, "account", adminRec.ID); err != nil {
		t.Errorf("sales user deleted an admin record: %v", err)
	}
	users, err := tn.Admin.ListUsers(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Items {
		if u.Email == "evil@acme.example.com" {
			t.Error("sales user created a user")
		}
	}
	// Sales users have no owner picker; their records are their own.
	p = b.get("/o/account/new")
	wantNotContains(t, p, `name="owner_id"`)
	p = b.submit("/o/account/new", "/o/account/new", url.Values{"name": {"Sam's Deal Co"}})
	wantContains(t, p, "Sam&#39;s Deal Co", "Sam Sales")
}

func testLanguage(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	zh := newBrowser(t, srv.URL)
	zh.lang = "zh-CN,zh;q=0.9,en;q=0.8"
	p := zh.get("/login")
	wantContains(t, p, `<html lang="zh-CN">`, "登录 Haven", "组织标识")
	p = zh.login(tn.Slug, tn.AdminLogin, adminPassword)
	wantContains(t, p, "客户", "联系人", "商机", "审计日志", "退出登录")
	p = zh.get("/o/account")
	wantContains(t, p, "<h1>客户</h1>", "客户名称", "行业")
	p = zh.get("/o/account/new")
	wantContains(t, p, "新建客户", "科技", "年收入")

	en := newBrowser(t, srv.URL)
	en.lang = "fr-FR,fr;q=0.9"
	p = en.get("/login")
	wantContains(t, p, `<html lang="en">`, "Sign in to Haven")
	en.login(tn.Slug, tn.AdminLogin, adminPassword)
	p = en.get("/o/account")
	wantContains(t, p, "<h1>Accounts</h1>", "Account name")
	wantNotContains(t, p, "客户名称")

	// The switch stores the choice, overriding Accept-Language, and
	// returns to the same page.
	p = en.submit("/o/account?q=x", "/lang", url.Values{"lang": {"zh-CN"}, "next": {"/o/account?q=x"}})
	wantPath(t, p, "/o/account")
	if p.URL.RawQuery != "q=x" {
		t.Errorf("language switch returned to %s", p.URL)
	}
	wantContains(t, p, "<h1>客户</h1>")
	wantContains(t, en.get("/"), "快速入口")
	// An off-site "next" is not followed.
	p = en.submit("/", "/lang", url.Values{"lang": {"en"}, "next": {"//evil.example/x"}})
	wantPath(t, p, "/")
	wantContains(t, p, "Quick access")
	// Switching language is a POST with a CSRF token too.
	wantStatus(t, en.post("/lang", url.Values{"lang": {"zh-CN"}}), http.StatusForbidden)

	// Before sign-in the switch works with the login form's token.
	anon := newBrowser(t, srv.URL)
	p = anon.submit("/login", "/lang", url.Values{"lang": {"zh-CN"}, "next": {"/login"}})
	wantContains(t, p, "登录 Haven")
}

func testEscaping(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	ctx := context.Background()
	const evil = `<script>alert(1)</script>`
	rec, err := tn.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{
		"name": evil, "city": `"><img src=x onerror=alert(2)>`, "website": "https://example.com/?a=<b>&c=\"d\"",
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	for _, path := range []string{"/o/account", "/o/account?q=" + url.QueryEscape(evil), "/o/account/" + rec.ID, "/o/account/" + rec.ID + "/edit", "/", "/audit"} {
		p := b.get(path)
		wantStatus(t, p, http.StatusOK)
		wantContains(t, p, "&lt;script&gt;alert(1)&lt;/script&gt;")
		wantNotContains(t, p, evil, "<img src=x")
	}
}

func testHeadersAndStatic(t *testing.T, srv *testserver.Server) {
	b := newBrowser(t, srv.URL)
	p := b.get("/login")
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"} {
		if p.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page Cache-Control = %q", cc)
	}
	var sessionCookieSeen bool
	u, _ := url.Parse(srv.URL)
	for _, c := range b.hc.Jar.Cookies(u) {
		sessionCookieSeen = sessionCookieSeen || c.Name == "haven_session"
	}
	if sessionCookieSeen {
		t.Error("session cookie set before sign-in")
	}
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatal("no versioned stylesheet link")
	}
	css := b.get(m[1])
	wantStatus(t, css, http.StatusOK)
	if ct := css.Header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("css Content-Type = %q", ct)
	}
	if cc := css.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
		t.Errorf("css Cache-Control = %q", cc)
	}
	etag := css.Header.Get("ETag")
	if etag == "" || !strings.Contains(css.Body, ".btn-primary") {
		t.Fatalf("css ETag %q, body %d bytes", etag, len(css.Body))
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+m[1], nil)
	req.Header.Set("If-None-Match", etag)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET status %d", resp.StatusCode)
	}
	wantStatus(t, b.get("/static/nope.css"), http.StatusNotFound)
	// The API keeps its own JSON answers next to the UI's routes.
	resp, err = http.Get(srv.URL + "/api/v1/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/api/v1/nope: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func testDeactivated(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	ctx := context.Background()
	_, u := srv.NewUser(t, tn, "leaver@acme.example.com", "Lea Ver", "sales")
	b := newBrowser(t, srv.URL)
	wantPath(t, b.login(tn.Slug, "leaver@acme.example.com", adminPassword), "/")
	wantStatus(t, b.get("/o/account"), http.StatusOK)
	if _, err := tn.Admin.DeactivateUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	p := b.get("/o/account")
	wantPath(t, p, "/login")
	wantContains(t, p, "Your session has ended.")
	// Signing in again fails with the generic message.
	p = b.login(tn.Slug, "leaver@acme.example.com", adminPassword)
	wantStatus(t, p, http.StatusUnauthorized)
	wantContains(t, p, "The organization, login or password is incorrect.")
}

var otpPattern = regexp.MustCompile(`id="one-time-password">([^<]+)<`)

func testUsersAdmin(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	ctx := context.Background()
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	p := b.get("/users")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Admin acme", tn.AdminLogin, "Admin</span>", "You</span>")

	p = b.submit("/users", "/users", url.Values{"name": {""}, "email": {"bad"}, "role": {"sales"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, "Required, at most 100 characters.", `value="bad"`)

	p = b.submit("/users", "/users", url.Values{"name": {"Mia Manager"}, "email": {"mia@acme.example.com"}, "phone": {"+86 138 0000 1111"}, "role": {"manager"}})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "This password is shown only once.", "mia@acme.example.com")
	m := otpPattern.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatal("no one-time password on the result page")
	}
	otp := m[1]
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("one-time password page Cache-Control = %q", cc)
	}
	mia := client.New(srv.URL)
	res, err := mia.Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: "mia@acme.example.com", Password: otp})
	if err != nil || !res.MustChangePassword || res.User.Role != "manager" {
		t.Fatalf("login with the shown one-time password: %+v %v", res, err)
	}
	// The password is not shown again anywhere.
	wantNotContains(t, b.get("/users"), otp)

	p = b.submit("/users", "/users", url.Values{"name": {"Mia Again"}, "email": {"mia@acme.example.com"}, "role": {"sales"}})
	wantStatus(t, p, http.StatusConflict)
	wantContains(t, p, "Another user already has this e-mail address or phone number.")

	// Reset: a new one-time password, the old one stops working.
	action := "/users/" + res.User.ID + "/reset-password"
	wantContains(t, b.get("/users"), `action="`+action+`"`)
	p = b.submit("/users", action, url.Values{})
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Password reset", "shown only once")
	m = otpPattern.FindStringSubmatch(p.Body)
	if m == nil || m[1] == otp {
		t.Fatalf("reset page one-time password = %v", m)
	}
	if _, err := client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: "mia@acme.example.com", Password: otp}); err == nil {
		t.Error("the old one-time password still works")
	}
	if _, err := client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: "mia@acme.example.com", Password: m[1]}); err != nil {
		t.Errorf("the new one-time password does not work: %v", err)
	}

	// Deactivate.
	p = b.submit("/users", "/users/"+res.User.ID+"/deactivate", url.Values{})
	wantPath(t, p, "/users")
	wantContains(t, p, "The user was deactivated")
	u, err := tn.Admin.GetUser(ctx, res.User.ID)
	if err != nil || u.Status != "deactivated" {
		t.Fatalf("after deactivate: %+v %v", u, err)
	}
	// An admin cannot deactivate themselves; the page says why.
	me, err := tn.Admin.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p = b.submit("/users", "/users/"+me.User.ID+"/deactivate", url.Values{})
	wantContains(t, p, "This user cannot be deactivated")
}

func testAudit(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	p := b.submit("/o/account/new", "/o/account/new", url.Values{"name": {"Audited Holdings"}, "city": {"Suzhou"}})
	wantStatus(t, p, http.StatusOK)
	p = b.get("/audit?action=record.create&object=account")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Audited Holdings", `data-action="record.create"`, "Suzhou", "City:", "127.0.0.1")
	wantNotContains(t, p, `data-action="auth.login"`)
	newBrowser(t, srv.URL).login(tn.Slug, "ghost@acme.example.com", "not-the-password")
	p = b.get("/audit?action=auth.login_failed")
	wantContains(t, p, "ghost@acme.example.com", "Unknown user", "Reason:", "Unknown login")
	p = b.get("/audit?action=auth.login")
	wantContains(t, p, `data-action="auth.login"`)
	wantNotContains(t, p, `data-action="record.create"`)
	me, err := tn.Admin.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p = b.get("/audit?actor=" + me.User.ID + "&from=2000-01-01&to=2999-12-31")
	wantContains(t, p, "Audited Holdings", `value="2000-01-01"`)
	p = b.get("/audit?to=2000-01-01")
	wantContains(t, p, "No events match these filters.")
	p = b.get("/audit?from=garbage")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "invalid date was ignored")

	// Older pages follow the cursor.
	for i := range 55 {
		if _, err := tn.Admin.CreateRecord(context.Background(), "lead", client.RecordInput{Fields: map[string]any{"name": fmt.Sprintf("Lead %02d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	p = b.get("/audit?object=lead")
	wantContains(t, p, "Lead 54", "Older events")
	wantNotContains(t, p, "Lead 00<")
	older := regexp.MustCompile(`href="(/audit\?[^"]*before=\d+[^"]*)"`).FindStringSubmatch(p.Body)
	if older == nil {
		t.Fatal("no older link")
	}
	p = b.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	wantContains(t, p, "Lead 00", "Newest events")
	wantNotContains(t, p, "Lead 54")
}

func testListPaging(t *testing.T, srv *testserver.Server) {
	tn := srv.NewTenant(t, "pager")
	ctx := context.Background()
	for i := range 30 {
		if _, err := tn.Admin.CreateRecord(ctx, "opportunity", client.RecordInput{Fields: map[string]any{
			"name": fmt.Sprintf("Deal %02d", i), "stage": "proposal", "amount": float64(1000 * (30 - i)),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, srv.URL)
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	p := b.get("/o/opportunity?sort=name")
	wantContains(t, p, "Deal 00", "Deal 24", "Next page", "Proposal", "30,000.00", `aria-sort="ascending"`)
	wantNotContains(t, p, "Deal 25", "First page")
	if i, j := strings.Index(p.Body, "Deal 00"), strings.Index(p.Body, "Deal 01"); i > j {
		t.Error("ascending sort out of order")
	}
	next := regexp.MustCompile(`href="(/o/opportunity\?cursor=[^"]+)" rel="next"`).FindStringSubmatch(p.Body)
	if next == nil {
		t.Fatal("no next link")
	}
	p = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	wantContains(t, p, "Deal 25", "Deal 29", "First page")
	wantNotContains(t, p, "Deal 24", "Next page")

	p = b.get("/o/opportunity?sort=-amount")
	if i, j := strings.Index(p.Body, "30,000.00"), strings.Index(p.Body, "29,000.00"); i < 0 || i > j {
		t.Error("descending amount sort out of order")
	}
	// Unsortable or unknown sort keys fall back to the default order.
	wantStatus(t, b.get("/o/opportunity?sort=description"), http.StatusOK)
	wantStatus(t, b.get("/o/opportunity?sort=nope"), http.StatusOK)
	// A tampered cursor shows the first page with a notice.
	p = b.get("/o/opportunity?sort=name&cursor=garbage")
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "That page link is out of date", "Deal 00")
	p = b.get("/o/opportunity?q=Deal+07")
	wantContains(t, p, "Deal 07")
	wantNotContains(t, p, "Deal 08")
	wantContains(t, b.get("/o/opportunity?q=zzz"), "No records match")

	// Home shows the user's most recently updated records.
	p = b.get("/")
	wantContains(t, p, "Your recently updated Opportunities", "Deal 29")
}

func testErrorPages(t *testing.T, srv *testserver.Server, tn testserver.Tenant) {
	b := newBrowser(t, srv.URL)
	p := b.get("/no/such/page")
	wantStatus(t, p, http.StatusNotFound)
	wantContains(t, p, "Page not found")
	b.login(tn.Slug, tn.AdminLogin, adminPassword)
	for _, path := range []string{"/o/nope", "/o/account/not-an-id", "/o/account/01890000-0000-7000-8000-000000000000", "/o/nope/new", "/whatever"} {
		p := b.get(path)
		wantStatus(t, p, http.StatusNotFound)
		wantContains(t, p, "Page not found", `href="/o/account"`)
	}
	// Another tenant's record is not found, exactly like a missing one.
	other := srv.NewTenant(t, "globex")
	rec, err := other.Admin.CreateRecord(context.Background(), "account", client.RecordInput{Fields: map[string]any{"name": "Globex Private"}})
	if err != nil {
		t.Fatal(err)
	}
	p = b.get("/o/account/" + rec.ID)
	wantStatus(t, p, http.StatusNotFound)
	wantNotContains(t, p, "Globex Private")
}
