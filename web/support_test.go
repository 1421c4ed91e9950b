package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

const supportPage = "/settings/support-access"

// TestSupportAccessWeb drives the admins' support access page: listing a
// pending request, approving it narrowed, the errors beside the forms,
// deny, revoke, the admin-only rule and CSRF.
func TestSupportAccessWeb(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine)
			tn := srv.NewTenant(t, "helpdesk")
			srv.SetSecuritySettings(t, tn, func(s *identity.SecuritySettings) { s.MaxSessions = 0 })
			sf := supportFixture{srv: srv, tn: tn}
			t.Run("ApproveNarrowed", sf.testApproveNarrowed)
			t.Run("Errors", sf.testErrors)
			t.Run("DenyAndRevoke", sf.testDenyRevoke)
			t.Run("AdminOnlyAndCSRF", sf.testAdminOnlyCSRF)
			t.Run("NoticeAndApprovalRule", sf.testNoticeAndRule)
		})
	}
}

type supportFixture struct {
	srv *testserver.Server
	tn  testserver.Tenant
}

func (sf supportFixture) admin(t *testing.T) *browser {
	t.Helper()
	b := newBrowser(t, sf.srv.URL)
	wantPath(t, b.login(sf.tn.Slug, sf.tn.AdminLogin, adminPassword), "/")
	return b
}

func (sf supportFixture) adminActor() tenant.Actor {
	return tenant.Actor{TenantID: tenant.ID(sf.tn.ID), Kind: tenant.ActorUser, Role: "admin", UserID: "test-admin", Name: "Test"}
}

// request files an operator's request for contacts and leads.
func (sf supportFixture) request(t *testing.T, ticket string, write bool) supportaccess.Grant {
	t.Helper()
	g, err := sf.srv.App.Support.Request(context.Background(), supportaccess.Operator{ID: "op-1", Name: "Olga"}, tenant.ID(sf.tn.ID),
		supportaccess.KindSupport, "Customer reports duplicated contacts", ticket,
		supportaccess.Scope{Objects: []string{"contact", "lead"}, Write: write}, 24*time.Hour)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	return g
}

func (sf supportFixture) grant(t *testing.T, id string) supportaccess.Grant {
	t.Helper()
	gs, err := sf.srv.App.Support.List(context.Background(), sf.adminActor())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, g := range gs {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("grant %s not listed", id)
	return supportaccess.Grant{}
}

func action(id, verb string) string { return supportPage + "/" + id + "/" + verb }

func (sf supportFixture) testApproveNarrowed(t *testing.T) {
	g := sf.request(t, "TCK-1001", true)
	a := sf.admin(t)
	p := a.get(supportPage)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, `id="grant-`+g.ID+`"`, "op-1", "TCK-1001", "Customer reports duplicated contacts", "0 of 1 approvals",
		"authorize operator op-1 to read and change", `name="write" value="true" checked`)

	vals := formValues(t, p.Body, action(g.ID, "approve"))
	if vals.Get("statement") == "" || len(vals["objects"]) != 2 || vals.Get("hours") != "24" {
		t.Fatalf("approve form as shown: %v", vals)
	}
	vals["objects"] = []string{"contact"}
	vals.Del("write")
	vals.Set("hours", "4")
	vals.Set("statement", "I authorize op-1 to read contacts for TCK-1001, for 4 hours.")
	p = a.post(action(g.ID, "approve"), vals)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Your approval has been recorded.", "What the operator did", "action=support.use")

	got := sf.grant(t, g.ID)
	if got.State != supportaccess.Active || !slices.Equal(got.Scope.Objects, []string{"contact"}) || got.Scope.Write || got.Duration != 4*time.Hour {
		t.Fatalf("after approval: state %s scope %+v duration %s", got.State, got.Scope, got.Duration)
	}
	if len(got.Approvals) != 1 || got.Approvals[0].Statement != "I authorize op-1 to read contacts for TCK-1001, for 4 hours." {
		t.Fatalf("approvals: %+v", got.Approvals)
	}
}

func (sf supportFixture) testErrors(t *testing.T) {
	g := sf.request(t, "TCK-2002", false)
	a := sf.admin(t)
	p := a.get(supportPage)
	wantNotContains(t, p, `name="write"`) // write was not requested

	vals := formValues(t, p.Body, action(g.ID, "approve"))
	vals.Set("statement", "   ")
	p = a.post(action(g.ID, "approve"), vals)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, `id="grant-`+g.ID+`-approve-err"`, "Write or confirm a statement")

	// Widening: an object not requested, write not requested, more hours.
	for _, change := range []func(v url.Values){
		func(v url.Values) { v.Add("objects", "account") },
		func(v url.Values) { v.Set("write", "true") },
		func(v url.Values) { v.Set("hours", "48") },
	} {
		vals := formValues(t, a.get(supportPage).Body, action(g.ID, "approve"))
		change(vals)
		p = a.post(action(g.ID, "approve"), vals)
		wantStatus(t, p, http.StatusUnprocessableEntity)
		wantContains(t, p, `id="grant-`+g.ID+`-approve-err"`, "never widen it")
	}
	if got := sf.grant(t, g.ID); got.State != supportaccess.Pending {
		t.Fatalf("refused approvals changed the grant: %s", got.State)
	}

	// Another admin denies first; this admin's approval then conflicts.
	vals = formValues(t, a.get(supportPage).Body, action(g.ID, "approve"))
	if _, err := sf.srv.App.Support.Deny(context.Background(), sf.adminActor(), g.ID, "Not needed."); err != nil {
		t.Fatal(err)
	}
	p = a.post(action(g.ID, "approve"), vals)
	wantStatus(t, p, http.StatusConflict)
	wantContains(t, p, `id="support-error"`, "Another administrator decided on this request first.")
}

func (sf supportFixture) testDenyRevoke(t *testing.T) {
	denied := sf.request(t, "TCK-3003", false)
	a := sf.admin(t)
	p := a.get(supportPage)
	vals := formValues(t, p.Body, action(denied.ID, "deny"))
	if vals.Get("statement") != "" {
		t.Fatalf("deny form starts with a statement: %q", vals.Get("statement"))
	}
	p = a.post(action(denied.ID, "deny"), vals)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, `id="grant-`+denied.ID+`-deny-err"`)
	vals.Set("statement", "We will export the data ourselves.")
	p = a.post(action(denied.ID, "deny"), vals)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "The request has been denied.", "We will export the data ourselves.")
	if got := sf.grant(t, denied.ID); got.State != supportaccess.Denied || got.Denial == nil {
		t.Fatalf("after deny: %s", got.State)
	}

	g := sf.request(t, "TCK-3004", false)
	if _, err := sf.srv.App.Support.Approve(context.Background(), sf.adminActor(), g.ID, "ok", nil, 0); err != nil {
		t.Fatal(err)
	}
	p = a.get(supportPage)
	vals = formValues(t, p.Body, action(g.ID, "revoke"))
	p = a.post(action(g.ID, "revoke"), vals)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantContains(t, p, `id="grant-`+g.ID+`-revoke-err"`)
	vals.Set("statement", "Ticket closed.")
	p = a.post(action(g.ID, "revoke"), vals)
	wantStatus(t, p, http.StatusOK)
	wantContains(t, p, "Access has been revoked.", "Ticket closed.")
	if got := sf.grant(t, g.ID); got.State != supportaccess.Revoked {
		t.Fatalf("after revoke: %s", got.State)
	}
}

func (sf supportFixture) testAdminOnlyCSRF(t *testing.T) {
	g := sf.request(t, "TCK-4004", false)
	mail := "sam@helpdesk.example.com"
	sf.srv.NewUser(t, sf.tn, mail, "Sam Sales", "sales")
	s := newBrowser(t, sf.srv.URL)
	wantPath(t, s.login(sf.tn.Slug, mail, testserver.AdminPassword), "/")
	wantStatus(t, s.get(supportPage), http.StatusForbidden)
	token := csrfToken(t, s.get("/").Body)
	p := s.post(action(g.ID, "approve"), url.Values{"csrf_token": {token}, "statement": {"yes"}, "objects": {"contact"}})
	wantStatus(t, p, http.StatusForbidden)
	wantNotContains(t, s.get("/"), supportPage)

	a := sf.admin(t)
	wantContains(t, a.get("/"), `href="`+supportPage+`"`)
	vals := formValues(t, a.get(supportPage).Body, action(g.ID, "approve"))
	vals.Del("csrf_token")
	p = a.post(action(g.ID, "approve"), vals)
	wantStatus(t, p, http.StatusForbidden)
	wantContains(t, p, "Request blocked")
	if got := sf.grant(t, g.ID); got.State != supportaccess.Pending {
		t.Fatalf("refused posts changed the grant: %s", got.State)
	}

	// The Chinese page has every string.
	a.lang = "zh-CN"
	wantContains(t, a.get(supportPage), "支持访问", "待处理的申请")
}

// testNoticeAndRule: admins see pending requests announced on every page
// (sales never), and set the two-admin rule, which only admins can, with
// CSRF, and only to 1 or 2.
func (sf supportFixture) testNoticeAndRule(t *testing.T) {
	g := sf.request(t, "TCK-5005", false)
	a := sf.admin(t)
	home := a.get("/")
	wantContains(t, home, `id="support-notice"`, "await your decision", `href="`+supportPage+`"`)
	// Not on the page it points to.
	wantNotContains(t, a.get(supportPage), `id="support-notice"`)
	s := newBrowser(t, sf.srv.URL)
	wantPath(t, s.login(sf.tn.Slug, "sam@helpdesk.example.com", testserver.AdminPassword), "/")
	wantNotContains(t, s.get("/"), `id="support-notice"`)

	settings := supportPage + "/settings"
	wantContains(t, a.get(supportPage), `id="support-settings"`, `value="1" checked`)
	p := a.submit(supportPage, settings, url.Values{"required_approvals": {"3"}})
	wantStatus(t, p, http.StatusBadRequest)
	wantContains(t, p, `id="support-settings-err"`, "Choose one or two administrators.")
	p = a.post(settings, url.Values{"required_approvals": {"2"}})
	wantStatus(t, p, http.StatusForbidden) // no CSRF token
	token := csrfToken(t, s.get("/").Body)
	wantStatus(t, s.post(settings, url.Values{"csrf_token": {token}, "required_approvals": {"2"}}), http.StatusForbidden)
	if n, _ := sf.srv.App.Support.RequiredApprovals(context.Background(), sf.adminActor()); n != 1 {
		t.Fatalf("refused posts changed the rule to %d", n)
	}
	p = a.submit(supportPage, settings, url.Values{"required_approvals": {"2"}})
	wantContains(t, p, "The approval rule has been saved.", `value="2" checked`)
	// A request made now needs two admins; the one made before keeps one.
	if got := sf.request(t, "TCK-5006", false); got.RequiredApprovals != 2 {
		t.Fatalf("new request needs %d approvals", got.RequiredApprovals)
	}
	if got := sf.grant(t, g.ID); got.RequiredApprovals != 1 {
		t.Fatalf("earlier request now needs %d approvals", got.RequiredApprovals)
	}
	a.lang = "zh-CN"
	wantContains(t, a.get("/"), "个运维访问申请等待您审批")
}
