package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/smtptest"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// TestSupportAccessApproval: a tenant admin sees an operator's request,
// approves it in writing while narrowing it, and revokes it; nobody else
// can, and every decision is in the tenant's trail.
func TestSupportAccessApproval(t *testing.T) {
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		acme := srv.NewTenant(t, "grants")
		other := srv.NewTenant(t, "othergrants")
		sales, _ := srv.NewUser(t, acme, "sam@grants.example.com", "Sam", "sales")
		op := supportaccess.Operator{ID: "op-42", Name: "Olga", IP: "203.0.113.9"}
		g, err := srv.App.Support.Request(ctx, op, tenant.ID(acme.ID), supportaccess.KindSupport, "customer cannot see contacts", "SUP-9",
			supportaccess.Scope{Objects: []string{"contact", "lead"}, Write: true}, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		list, err := acme.Admin.SupportAccess(ctx)
		if err != nil || len(list.Items) != 1 || list.Items[0].State != "pending" || list.Items[0].Ticket != "SUP-9" {
			t.Fatalf("list: %+v %v", list, err)
		}
		_, err = sales.SupportAccess(ctx)
		checkErr(t, "sales lists", err, http.StatusForbidden, "forbidden")
		_, err = other.Admin.DecideSupportAccess(ctx, g.ID, "approve", api.GrantDecisionRequest{Statement: "yes"})
		checkErr(t, "other tenant approves", err, http.StatusNotFound, "not_found")
		_, err = acme.Admin.DecideSupportAccess(ctx, g.ID, "approve", api.GrantDecisionRequest{Statement: " "})
		checkErr(t, "no statement", err, http.StatusBadRequest, "invalid_request")
		_, err = acme.Admin.DecideSupportAccess(ctx, g.ID, "approve", api.GrantDecisionRequest{Statement: "ok", Scope: &api.GrantScopeDTO{Objects: []string{"account"}}})
		checkErr(t, "widened scope", err, http.StatusBadRequest, "invalid_request")
		got, err := acme.Admin.DecideSupportAccess(ctx, g.ID, "approve", api.GrantDecisionRequest{
			Statement: "I authorize read access to contacts for SUP-9.", Scope: &api.GrantScopeDTO{Objects: []string{"contact"}}, Hours: 2})
		if err != nil || got.State != "active" || got.Scope.Write || len(got.Scope.Objects) != 1 || got.Hours != 2 || len(got.Approvals) != 1 {
			t.Fatalf("approve: %+v %v", got, err)
		}
		if _, err := srv.App.Support.Authorize(ctx, op.ID, tenant.ID(acme.ID), g.ID, "contact", false); err != nil {
			t.Fatalf("authorize after approval: %v", err)
		}
		_, err = acme.Admin.DecideSupportAccess(ctx, g.ID, "deny", api.GrantDecisionRequest{Statement: "too late"})
		checkErr(t, "deny an active grant", err, http.StatusConflict, "conflict")
		got, err = acme.Admin.DecideSupportAccess(ctx, g.ID, "revoke", api.GrantDecisionRequest{Statement: "resolved"})
		if err != nil || got.State != "revoked" || got.Revocation == nil || got.Revocation.Statement != "resolved" {
			t.Fatalf("revoke: %+v %v", got, err)
		}
		if _, err := srv.App.Support.Authorize(ctx, op.ID, tenant.ID(acme.ID), g.ID, "contact", false); err == nil {
			t.Fatal("a revoked grant still authorizes")
		}
		log, err := acme.Admin.ListAudit(ctx, client.AuditQuery{Object: "support_access"})
		if err != nil || len(log.Items) != 3 {
			t.Fatalf("support events: %+v %v", log, err)
		}
	})
}

// TestSupportAccessRequestNotifiesAdmins: every active admin gets an
// e-mail naming the operator, reason, ticket and scope; sales users and
// deactivated admins do not.
func TestSupportAccessRequestNotifiesAdmins(t *testing.T) {
	mail := smtptest.Start(t)
	srv := testserver.Start(t, "sqlite", testserver.Options{Configure: func(c *config.Config) {
		c.Notify.SMTPHost, c.Notify.SMTPPort = mail.Host, mail.Port
		c.Notify.SMTPFrom = "Haven <no-reply@haven.test>"
		c.Notify.SMTPTLS = config.SMTPTLSNone
	}})
	t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
	ctx := context.Background()
	tn := srv.NewTenant(t, "notice")
	srv.NewUser(t, tn, "second-admin@notice.example.com", "Second", "admin")
	srv.NewUser(t, tn, "sam@notice.example.com", "Sam", "sales")
	_, gone := srv.NewUser(t, tn, "gone@notice.example.com", "Gone", "admin")
	if _, err := tn.Admin.DeactivateUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	op := supportaccess.Operator{ID: "op-7", Name: "Olga"}
	if _, err := srv.App.Support.Request(ctx, op, tenant.ID(tn.ID), supportaccess.KindSupport, "import failed for 3 contacts", "SUP-31",
		supportaccess.Scope{Objects: []string{"contact"}}, 6*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{tn.AdminLogin, "second-admin@notice.example.com"} {
		m := mail.WaitFor(t, 15*time.Second, smtptest.To(to))
		for _, want := range []string{"op-7", "import failed for 3 contacts", "SUP-31", "contact"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("mail to %s lacks %q:\n%s", to, want, m.Text)
			}
		}
	}
	if err := srv.App.Notifier.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range mail.Messages() {
		for _, to := range m.To {
			if to == "sam@notice.example.com" || to == "gone@notice.example.com" {
				t.Errorf("notice sent to %s", to)
			}
		}
	}
}
