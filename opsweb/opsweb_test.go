package opsweb_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testbrowser"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/tenant"
)

var engines = []string{"sqlite", "postgres"}

// TestLogin: the console signs in only with the password AND a valid
// TOTP code; every other combination is the same refusal, and no session
// cookie is set by a refused attempt.
func TestLogin(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv, clk := start(t, engine)
			srv.NewTenant(t, "loginco")
			op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
			b := newBrowser(t, srv.URL)

			// Anonymous: the console sends to its own sign-in page.
			p := b.get("/ops")
			wantPath(t, "anonymous", p, "/ops/login")
			wantContains(t, "sign-in page", p, `id="totp"`, `action="/ops/login"`)

			try := func(what, password, totp string) {
				t.Helper()
				p := b.submit("/ops/login", "/ops/login", url.Values{"email": {op.Email}, "password": {password}, "totp": {totp}})
				if p.Status != http.StatusUnauthorized && p.Status != http.StatusBadRequest {
					t.Fatalf("%s: status %d\n%s", what, p.Status, testbrowser.Truncate(p.Body, 2000))
				}
				wantContains(t, what, p, `id="login-error"`)
				if password != "" {
					wantNotContains(t, what, p, password)
				}
				if b.cookie("/ops", "haven_ops") != "" {
					t.Fatalf("%s: a session cookie was set", what)
				}
			}
			try("wrong code", op.Password, wrongCode(t, op.Secret, clk.Now()))
			try("no code", op.Password, "")
			try("right code, wrong password", "Not-The-Password-1", code(t, op.Secret, clk.Now()))
			try("right code, no password", "", code(t, op.Secret, clk.Now()))
			clk.Advance(30 * time.Second)

			p = b.opsLogin(clk, op)
			wantStatus(t, "sign-in", p, http.StatusOK)
			wantPath(t, "sign-in", p, "/ops")
			wantContains(t, "dashboard", p, "Olga", "loginco Co.", `data-tenant="loginco"`)
			// Metadata only: the admin's e-mail is tenant data.
			wantNotContains(t, "dashboard", p, "admin@loginco.example.com")

			// A code is accepted once: replaying it (same step) fails.
			used := code(t, op.Secret, clk.Now().Add(-30*time.Second))
			b2 := newBrowser(t, srv.URL)
			p = b2.submit("/ops/login", "/ops/login", url.Values{"email": {op.Email}, "password": {op.Password}, "totp": {used}})
			wantStatus(t, "replayed code", p, http.StatusUnauthorized)

			// Sign out ends the session on the server, not only the cookie.
			token := b.cookie("/ops", "haven_ops")
			p = b.submit("/ops", "/ops/logout", url.Values{})
			wantPath(t, "sign out", p, "/ops/login")
			replay := newBrowser(t, srv.URL)
			p = replay.getWithCookie("/ops", "haven_ops", token)
			wantPath(t, "old cookie after sign-out", p, "/ops/login")
		})
	}
}

// TestLockout: the console signs in through operators.Service, so its
// lockout applies: after five failures even the right password and code
// are refused until the lock ends.
func TestLockout(t *testing.T) {
	srv, clk := start(t, "sqlite")
	op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
	b := newBrowser(t, srv.URL)
	for i := range 5 {
		p := b.submit("/ops/login", "/ops/login", url.Values{"email": {op.Email}, "password": {op.Password}, "totp": {wrongCode(t, op.Secret, clk.Now())}})
		wantStatus(t, "wrong code "+strconv.Itoa(i), p, http.StatusUnauthorized)
	}
	p := b.submit("/ops/login", "/ops/login", url.Values{"email": {op.Email}, "password": {op.Password}, "totp": {code(t, op.Secret, clk.Now())}})
	wantStatus(t, "locked", p, http.StatusLocked)
	wantContains(t, "locked", p, "locked")
	if b.cookie("/ops", "haven_ops") != "" {
		t.Fatal("a locked operator got a session")
	}
	clk.Advance(16 * time.Minute)
	wantPath(t, "after the lock", b.opsLogin(clk, op), "/ops")
}

// TestOneTimePasswordMustBeReplaced: a new operator's one-time password
// leads to the change form and nowhere else.
func TestOneTimePasswordMustBeReplaced(t *testing.T) {
	srv, clk := start(t, "sqlite")
	ctx := context.Background()
	created, err := srv.App.Operators.Create(ctx, opsCreateInput("new@vendor.example.com"), systemActor())
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	p := b.submit("/ops/login", "/ops/login", url.Values{"email": {"new@vendor.example.com"}, "password": {created.OneTimePassword},
		"totp": {code(t, created.TOTPSecret, clk.Now())}})
	wantPath(t, "first sign-in", p, "/ops/password")
	wantContains(t, "forced change", p, `id="password-forced"`)
	for _, path := range []string{"/ops", "/ops/requests", "/ops/requests/new", "/ops/tenants/x/objects/contact/records"} {
		wantPath(t, path, b.get(path), "/ops/password")
	}
	p = b.submit("/ops/password", "/ops/password", url.Values{"current_password": {created.OneTimePassword}, "new_password": {"short"}, "confirm_password": {"short"}})
	wantStatus(t, "weak password", p, http.StatusUnprocessableEntity)
	p = b.submit("/ops/password", "/ops/password", url.Values{"current_password": {created.OneTimePassword}, "new_password": {operatorPassword}, "confirm_password": {operatorPassword}})
	wantPath(t, "changed", p, "/ops")
	wantContains(t, "changed", p, "Your password was changed.")
}

// TestCSRF: every POST needs the form's token, and a cross-origin POST
// is refused even with it.
func TestCSRF(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv, clk := start(t, engine)
			tn := srv.NewTenant(t, "csrfco")
			op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
			b := newBrowser(t, srv.URL)

			// The sign-in form: no token, or a token without its cookie.
			b.get("/ops/login")
			p := b.post("/ops/login", url.Values{"email": {op.Email}, "password": {op.Password}, "totp": {code(t, op.Secret, clk.Now())}})
			wantStatus(t, "sign-in without token", p, http.StatusForbidden)
			if b.cookie("/ops", "haven_ops") != "" {
				t.Fatal("sign-in without token set a session")
			}
			clk.Advance(30 * time.Second)
			wantPath(t, "sign-in", b.opsLogin(clk, op), "/ops")

			valid := url.Values{"tenant": {tn.Slug}, "kind": {"support"}, "reason": {"customer ticket"}, "ticket": {"SUP-1"},
				"objects": {"contact"}, "access": {"read"}, "hours": {"2"}}
			p = b.post("/ops/requests", valid)
			wantStatus(t, "request without token", p, http.StatusForbidden)
			wrong := url.Values{}
			for k, v := range valid {
				wrong[k] = v
			}
			wrong.Set("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
			wantStatus(t, "request with a forged token", b.post("/ops/requests", wrong), http.StatusForbidden)
			// The right token from another origin.
			withToken := url.Values{}
			for k, v := range valid {
				withToken[k] = v
			}
			withToken.Set("csrf_token", testbrowser.CSRFToken(t, b.get("/ops/requests/new").Body))
			wantStatus(t, "cross-origin request", b.post("/ops/requests", withToken, "Origin", "https://evil.example.com"), http.StatusForbidden)
			wantStatus(t, "cross-site request", b.post("/ops/requests", withToken, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
			// None of them made a request.
			wantContains(t, "no request made", b.get("/ops/requests"), `id="requests-none"`)
			// Sign-out without a token leaves the session alive.
			wantStatus(t, "logout without token", b.post("/ops/logout", url.Values{}), http.StatusForbidden)
			wantPath(t, "still signed in", b.get("/ops"), "/ops")
			// The same token and origin work.
			p = b.post("/ops/requests", withToken)
			wantStatus(t, "request with token", p, http.StatusOK)
			wantContains(t, "request made", p, `data-state="pending"`)
		})
	}
}

// TestCookieRealms: the tenant UI's session is not accepted at /ops, the
// console's session is not accepted by tenant pages or the tenant API,
// whichever cookie or header carries it.
func TestCookieRealms(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv, clk := start(t, engine)
			tn := srv.NewTenant(t, "realmco")
			op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")

			// A tenant admin signed in to the tenant UI.
			admin := newBrowser(t, srv.URL)
			p := admin.submit("/login", "/login", url.Values{"tenant": {tn.Slug}, "login": {tn.AdminLogin}, "password": {tn.Password}})
			wantPath(t, "tenant sign-in", p, "/")
			tenantToken := admin.cookie("/", "haven_session")
			if tenantToken == "" {
				t.Fatal("no tenant session cookie")
			}
			// The browser itself sends its tenant cookie to /ops: refused.
			wantPath(t, "tenant session at /ops", admin.get("/ops"), "/ops/login")
			wantPath(t, "tenant session at /ops/requests", admin.get("/ops/requests"), "/ops/login")
			// The tenant token carried in the console's cookie: refused.
			x := newBrowser(t, srv.URL)
			wantPath(t, "tenant token as haven_ops", x.getWithCookie("/ops", "haven_ops", tenantToken), "/ops/login")
			wantPath(t, "tenant API token as haven_ops", x.getWithCookie("/ops", "haven_ops", tn.Admin.Token()), "/ops/login")

			// The operator signed in to the console.
			ob := newBrowser(t, srv.URL)
			wantPath(t, "ops sign-in", ob.opsLogin(clk, op), "/ops")
			opsToken := ob.cookie("/ops", "haven_ops")
			if !strings.HasPrefix(opsToken, "hvo_") {
				t.Fatalf("ops cookie %q", opsToken)
			}
			// Its cookie is scoped to /ops: the browser does not send it
			// to tenant pages, which send the operator to the tenant sign-in.
			if ob.cookie("/", "haven_ops") != "" {
				t.Fatal("the ops cookie is visible outside /ops")
			}
			wantPath(t, "operator at the tenant home", ob.get("/"), "/login")
			// Sent anyway, under either name: the tenant UI refuses it.
			y := newBrowser(t, srv.URL)
			wantPath(t, "ops token as haven_session", y.getWithCookie("/", "haven_session", opsToken), "/login")
			wantPath(t, "ops token as haven_session on a list", y.getWithCookie("/o/contact", "haven_session", opsToken), "/login")
			wantPath(t, "ops token as haven_ops on a tenant page", y.getWithCookie("/o/contact", "haven_ops", opsToken), "/login")
			// And the tenant API refuses it as a bearer token.
			api := client.New(srv.URL)
			api.SetToken(opsToken)
			if _, err := api.ListRecords(context.Background(), "contact", client.ListOptions{}); err == nil {
				t.Fatal("the tenant API accepted an operator token")
			}

			// The cookie's attributes.
			p = newBrowser(t, srv.URL).submitRaw(t, clk, op)
			var sc *http.Cookie
			for _, c := range (&http.Response{Header: p.Header}).Cookies() {
				if c.Name == "haven_ops" {
					sc = c
				}
			}
			if sc == nil || sc.Path != "/ops" || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Secure {
				t.Fatalf("haven_ops cookie %+v", sc)
			}
		})
	}
}

// TestScopedViews: records only under an active grant of this operator,
// for this tenant and object, masked as the records service presents
// them to an operator; each read in the tenant's audit log; refused at
// once after revocation and after expiry.
func TestScopedViews(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv, clk := start(t, engine)
			ctx := context.Background()
			acme := srv.NewTenant(t, "viewacme")
			other := srv.NewTenant(t, "viewother")
			const mobile = "13812345678"
			contact, err := acme.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Wang Wei", "mobile": mobile, "email": "wang.wei@customer.example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := acme.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "Acme Trading"}}); err != nil {
				t.Fatal(err)
			}
			otherContact, err := other.Admin.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "Other Person", "mobile": "13900001111"}})
			if err != nil {
				t.Fatal(err)
			}
			op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
			rival := newOperator(t, srv, clk, "rival@vendor.example.com", "Rival")
			b := newBrowser(t, srv.URL)
			wantPath(t, "sign-in", b.opsLogin(clk, op), "/ops")
			rb := newBrowser(t, srv.URL)
			wantPath(t, "rival sign-in", rb.opsLogin(clk, rival), "/ops")

			recordPath := "/ops/tenants/viewacme/objects/contact/records/" + contact.ID
			listPath := "/ops/tenants/viewacme/objects/contact/records"
			wantRefused(t, "no grant", b.get(recordPath))
			wantRefused(t, "no grant, list", b.get(listPath))

			// The form explains what is wrong beside each field.
			p := b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"viewacme"}, "kind": {"support"}, "reason": {""}, "ticket": {""},
				"access": {"read"}, "hours": {"100"}})
			wantStatus(t, "invalid form", p, http.StatusUnprocessableEntity)
			wantContains(t, "invalid form", p, `id="reason-err"`, `id="ticket-err"`, `id="objects-err"`, `id="hours-err"`)
			for _, hours := range []string{"0", "-1", "NaN", "Inf", "72.5", "four"} {
				p = b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"viewacme"}, "kind": {"support"}, "reason": {"r"}, "ticket": {"T"},
					"objects": {"contact"}, "access": {"read"}, "hours": {hours}})
				wantStatus(t, "hours "+hours, p, http.StatusUnprocessableEntity)
				wantContains(t, "hours "+hours, p, `id="hours-err"`)
			}
			// What only the service knows comes back on the form too.
			p = b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"viewacme"}, "kind": {"support"}, "reason": {"r"}, "ticket": {"T"},
				"objects": {"contact"}, "custom_objects": {"nosuch_object"}, "access": {"read"}, "hours": {"2"}})
			wantStatus(t, "unknown object", p, http.StatusUnprocessableEntity)
			wantContains(t, "unknown object", p, `id="request-error"`, "nosuch_object")
			p = b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"nosuchtenant"}, "kind": {"support"}, "reason": {"r"}, "ticket": {"T"},
				"objects": {"contact"}, "access": {"read"}, "hours": {"2"}})
			wantContains(t, "unknown tenant", p, `id="tenant-err"`)

			p = b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"viewacme"}, "kind": {"support"}, "reason": {"contact page shows an error"},
				"ticket": {"SUP-501"}, "objects": {"contact", "account"}, "access": {"read"}, "hours": {"1"}})
			wantStatus(t, "request", p, http.StatusOK)
			wantContains(t, "request", p, `data-state="pending"`, "SUP-501", "Your request was sent")
			grantID := strings.TrimPrefix(p.URL.Path, "/ops/requests/")
			wantRefused(t, "pending", b.get(recordPath))
			// Another operator cannot even see the request.
			wantStatus(t, "rival reads the request", rb.get("/ops/requests/"+grantID), http.StatusNotFound)

			// The tenant's admin approves contacts only.
			if _, err := acme.Admin.DecideSupportAccess(ctx, grantID, "approve", api.GrantDecisionRequest{
				Statement: "I authorize Olga to read contacts for SUP-501.", Scope: &api.GrantScopeDTO{Objects: []string{"contact"}}}); err != nil {
				t.Fatal(err)
			}
			p = b.get("/ops/requests/" + grantID)
			wantContains(t, "approved request", p, `data-state="active"`, "I authorize Olga to read contacts for SUP-501.", `href="`+listPath+`"`)
			wantContains(t, "dashboard", b.get("/ops"), `data-grant="`+grantID+`"`)

			p = b.get(recordPath)
			wantStatus(t, "granted read", p, http.StatusOK)
			wantContains(t, "granted read", p, "Wang Wei", `data-masked="true"`, grantID)
			wantNotContains(t, "granted read", p, mobile, "5678", "wang.wei@", "hv1:", "sealed")
			p = b.get(listPath)
			wantStatus(t, "granted list", p, http.StatusOK)
			wantContains(t, "granted list", p, "Wang Wei", `data-id="`+contact.ID+`"`)
			wantNotContains(t, "granted list", p, mobile, "wang.wei@")

			wantRefused(t, "object outside the grant", b.get("/ops/tenants/viewacme/objects/account/records"))
			wantRefused(t, "grant of A used on B", b.get("/ops/tenants/viewother/objects/contact/records/"+otherContact.ID))
			wantRefused(t, "grant of A used on B, list", b.get("/ops/tenants/viewother/objects/contact/records"))
			wantStatus(t, "B's record under A's grant", b.get("/ops/tenants/viewacme/objects/contact/records/"+otherContact.ID), http.StatusNotFound)
			wantRefused(t, "unknown tenant", b.get("/ops/tenants/nosuch/objects/contact/records"))
			wantRefused(t, "another operator", rb.get(recordPath))

			// Every read is in the tenant's own trail, as the operator via the grant.
			uses, err := acme.Admin.ListAudit(ctx, client.AuditQuery{Action: "support.use"})
			if err != nil {
				t.Fatal(err)
			}
			if len(uses.Items) != 2 {
				t.Fatalf("use events: %+v", uses.Items)
			}
			what := map[string]string{}
			for _, e := range uses.Items {
				if e.Via != "grant:"+grantID || e.Actor.ID != op.ID || e.Actor.Type != "operator" || e.ObjectType != "contact" {
					t.Fatalf("use event %+v", e)
				}
				what[e.ObjectName] = e.ObjectID
			}
			if id, ok := what["read"]; !ok || id != contact.ID {
				t.Fatalf("the record read is not in the trail: %+v", uses.Items)
			}
			if _, ok := what["list"]; !ok {
				t.Fatalf("the list read is not in the trail: %+v", uses.Items)
			}
			if ou, err := other.Admin.ListAudit(ctx, client.AuditQuery{Action: "support.use"}); err != nil || len(ou.Items) != 0 {
				t.Fatalf("the other tenant's trail has uses: %+v %v", ou, err)
			}

			// Revocation stops the very next request.
			if _, err := acme.Admin.DecideSupportAccess(ctx, grantID, "revoke", api.GrantDecisionRequest{Statement: "fixed"}); err != nil {
				t.Fatal(err)
			}
			wantRefused(t, "revoked", b.get(recordPath))
			wantRefused(t, "revoked, list", b.get(listPath))
			wantContains(t, "revoked request", b.get("/ops/requests"), `data-state="revoked"`)

			// Expiry: a one-hour grant ends on its own.
			p = b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"viewacme"}, "kind": {"support"}, "reason": {"follow-up"},
				"ticket": {"SUP-502"}, "objects": {"contact"}, "access": {"read"}, "hours": {"1"}})
			second := strings.TrimPrefix(p.URL.Path, "/ops/requests/")
			if _, err := acme.Admin.DecideSupportAccess(ctx, second, "approve", api.GrantDecisionRequest{Statement: "ok"}); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, "second grant", b.get(recordPath), http.StatusOK)
			for range 3 {
				clk.Advance(20 * time.Minute)
				wantStatus(t, "keep-alive", b.get("/ops/requests"), http.StatusOK)
			}
			wantRefused(t, "expired", b.get(recordPath))
			wantContains(t, "expired request", b.get("/ops/requests/"+second), `data-state="expired"`)
		})
	}
}

// TestChinese: the console speaks zh-CN from Accept-Language or the
// language switch.
func TestChinese(t *testing.T) {
	srv, clk := start(t, "sqlite")
	b := newBrowser(t, srv.URL)
	b.lang = "zh-CN,zh;q=0.9"
	p := b.get("/ops/login")
	wantContains(t, "zh login", p, `lang="zh-CN"`, "运维人员登录", "动态验证码")
	b.lang = "en"
	p = b.get("/ops/login")
	wantContains(t, "en login", p, "Operator sign-in")
	p = b.submit("/ops/login", "/ops/lang", url.Values{"lang": {"zh-CN"}, "next": {"/ops/login"}})
	wantPath(t, "switch", p, "/ops/login")
	wantContains(t, "switched", p, "运维人员登录")
	// Signed in, every page speaks Chinese (and no key is missing: the
	// browser helper fails on untranslated keys).
	srv.NewTenant(t, "zhco")
	op := newOperator(t, srv, clk, "li@vendor.example.com", "Li")
	wantPath(t, "zh sign-in", b.opsLogin(clk, op), "/ops")
	for path, want := range map[string]string{"/ops": "租户", "/ops/requests": "我的访问申请", "/ops/requests/new?tenant=zhco": "申请访问租户",
		"/ops/tenants/zhco/objects/contact/records": "无访问权限"} {
		p := b.get(path)
		wantContains(t, "zh "+path, p, `lang="zh-CN"`, want)
	}
	p = b.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"zhco"}, "kind": {"support"}, "reason": {"排查问题"}, "ticket": {"SUP-9"},
		"objects": {"contact"}, "access": {"read"}, "hours": {"2"}})
	wantContains(t, "zh request", p, "待批准", "联系人", "2 小时")
	// The switch never redirects out of the console.
	p = b.submit("/ops/login", "/ops/lang", url.Values{"lang": {"en"}, "next": {"//evil.example.com/"}})
	if p.URL.Host != strings.TrimPrefix(srv.URL, "http://") || !strings.HasPrefix(p.URL.Path, "/ops") {
		t.Fatalf("language switch went to %s", p.URL)
	}
}

// TestRequestStates: the status pages show each state as it stands,
// including a tenant that requires two admins (approved by one, awaiting
// the second), a denial with its statement, and another operator's
// request never appears.
func TestRequestStates(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			srv, clk := start(t, engine)
			ctx := context.Background()
			tn := srv.NewTenant(t, "stateco")
			second, _ := srv.NewUser(t, tn, "second@stateco.example.com", "Second Admin", "admin")
			tenantID := tenantIDOf(t, srv, "stateco")
			if err := srv.App.DB.SetRequiredApprovals(ctx, tenantID, 2); err != nil {
				t.Fatal(err)
			}
			op := newOperator(t, srv, clk, "olga@vendor.example.com", "Olga")
			rival := newOperator(t, srv, clk, "rival@vendor.example.com", "Rival")
			b := newBrowser(t, srv.URL)
			wantPath(t, "sign-in", b.opsLogin(clk, op), "/ops")
			rb := newBrowser(t, srv.URL)
			wantPath(t, "rival sign-in", rb.opsLogin(clk, rival), "/ops")

			ask := func(br *browser, ticket string) string {
				t.Helper()
				p := br.submit("/ops/requests/new", "/ops/requests", url.Values{"tenant": {"stateco"}, "kind": {"support"}, "reason": {"investigate " + ticket},
					"ticket": {ticket}, "objects": {"contact", "lead"}, "access": {"read"}, "hours": {"8"}})
				wantStatus(t, "request "+ticket, p, http.StatusOK)
				return strings.TrimPrefix(p.URL.Path, "/ops/requests/")
			}
			twoStep := ask(b, "SUP-1")
			denied := ask(b, "SUP-2")
			rivals := ask(rb, "SUP-3")

			if _, err := tn.Admin.DecideSupportAccess(ctx, twoStep, "approve", api.GrantDecisionRequest{Statement: "First approval."}); err != nil {
				t.Fatal(err)
			}
			p := b.get("/ops/requests/" + twoStep)
			wantContains(t, "one of two approvals", p, `data-state="awaiting_second"`, "approved, awaiting a second admin", "1 of 2", "First approval.")
			wantRefused(t, "one of two approvals", b.get("/ops/tenants/stateco/objects/contact/records"))
			if _, err := tn.Admin.DecideSupportAccess(ctx, denied, "deny", api.GrantDecisionRequest{Statement: "Not without a call first."}); err != nil {
				t.Fatal(err)
			}
			if _, err := second.DecideSupportAccess(ctx, twoStep, "approve", api.GrantDecisionRequest{Statement: "Second approval, contacts only.",
				Scope: &api.GrantScopeDTO{Objects: []string{"contact"}}, Hours: 2}); err != nil {
				t.Fatal(err)
			}
			p = b.get("/ops/requests")
			wantContains(t, "list", p, `data-request="`+twoStep+`" data-state="active"`, `data-request="`+denied+`" data-state="denied"`)
			wantNotContains(t, "list", p, rivals, "SUP-3")
			p = b.get("/ops/requests/" + denied)
			wantContains(t, "denied", p, `data-state="denied"`, "Not without a call first.")
			// The granted scope is the narrowed one; only it opens.
			p = b.get("/ops/requests/" + twoStep)
			wantContains(t, "active", p, `id="open-records"`, "/ops/tenants/stateco/objects/contact/records")
			wantNotContains(t, "active", p, "/ops/tenants/stateco/objects/lead/records")
			wantStatus(t, "granted contacts", b.get("/ops/tenants/stateco/objects/contact/records"), http.StatusOK)
			wantRefused(t, "narrowed away", b.get("/ops/tenants/stateco/objects/lead/records"))
			// The admins' IP addresses stay on the tenant's side.
			wantNotContains(t, "active", p, "127.0.0.1")
			// Another operator's request is a 404, like a missing one.
			wantStatus(t, "rival's request", b.get("/ops/requests/"+rivals), http.StatusNotFound)
			wantStatus(t, "no such request", b.get("/ops/requests/not-an-id"), http.StatusNotFound)

			// The language switch works signed in, with the session's token.
			p = b.submit("/ops/requests", "/ops/lang", url.Values{"lang": {"zh-CN"}, "next": {"/ops/requests"}})
			wantPath(t, "switch", p, "/ops/requests")
			wantContains(t, "switched", p, "生效中", "已拒绝")
		})
	}
}

func tenantIDOf(t *testing.T, srv *testserver.Server, slug string) tenant.ID {
	t.Helper()
	tt, err := srv.App.DB.TenantBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return tt.ID
}
