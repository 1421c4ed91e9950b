package supportaccess_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

type digestInbox struct {
	mu   sync.Mutex
	sent []supportaccess.Digest
}

func (b *digestInbox) AccessEnded(_ context.Context, _ tenant.ID, d supportaccess.Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, d)
}

func (b *digestInbox) take() []supportaccess.Digest {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.sent
	b.sent = nil
	return out
}

func TestGrantEndDigest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := setup(t, db)
		inbox := &digestInbox{}
		e.svc.SetDigests(db, inbox)
		tid, admin, _ := e.tenant(t)
		otherTID, otherAdmin, _ := e.tenant(t)
		op := supportaccess.Operator{ID: tenant.NewID(), Name: "Olga (support)", IP: "203.0.113.9"}
		scope := supportaccess.Scope{Objects: []string{"contact", "lead"}}
		grant := func(tid tenant.ID, admin tenant.Actor, hours time.Duration) supportaccess.Grant {
			t.Helper()
			g, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "phone numbers missing", "SUP-9", scope, hours)
			if err != nil {
				t.Fatal(err)
			}
			if g, err = e.svc.Approve(ctx, admin, g.ID, "I approve reading contacts and leads for SUP-9.", nil, 0); err != nil {
				t.Fatal(err)
			}
			return g
		}

		// Revoked: the digest goes out with the revocation, listing the
		// uses made under this grant and nothing else.
		g := grant(tid, admin, 4*time.Hour)
		if err := e.svc.RecordUse(ctx, op, tid, g, "read", "contact", []string{"c-1"}); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Minute)
		if err := e.svc.RecordUse(ctx, op, tid, g, "list", "lead", []string{"l-1", "l-2", "l-3"}); err != nil {
			t.Fatal(err)
		}
		// The same operator's use of another tenant's grant is not this
		// tenant's business.
		og := grant(otherTID, otherAdmin, 4*time.Hour)
		if err := e.svc.RecordUse(ctx, op, otherTID, og, "read", "contact", []string{"x-1"}); err != nil {
			t.Fatal(err)
		}
		// A second grant of the same operator in the same tenant, in force
		// at the same time: its uses belong to its own digest.
		g2 := grant(tid, admin, 4*time.Hour)
		if err := e.svc.RecordUse(ctx, op, tid, g2, "read", "lead", []string{"l-9"}); err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.SendEndedDigests(ctx); err != nil || n != 0 {
			t.Fatalf("digests while grants are active: %d, %v", n, err)
		}
		e.clk.Advance(time.Minute)
		if _, err := e.svc.Revoke(ctx, admin, g.ID, "done with SUP-9"); err != nil {
			t.Fatal(err)
		}
		sent := inbox.take()
		if len(sent) != 1 {
			t.Fatalf("digests after revoke: %d", len(sent))
		}
		d := sent[0]
		if d.Grant.ID != g.ID || d.Grant.State != supportaccess.Revoked || d.Reads != 4 || d.Changes != 0 || len(d.Uses) != 2 {
			t.Fatalf("digest = %+v", d)
		}
		if d.Uses[0].RecordID != "c-1" || d.Uses[0].What != "read" || d.Uses[1].Object != "lead" || d.Uses[1].Records != 3 {
			t.Fatalf("uses (oldest first) = %+v", d.Uses)
		}
		// Sent once: neither a sweep nor another instance's sweep repeats it.
		if n, err := e.svc.SendEndedDigests(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep sent %d, %v", n, err)
		}
		if ok, err := db.ClaimGrantDigest(ctx, tid, g.ID, e.clk.Now()); err != nil || ok {
			t.Fatalf("claim of a sent digest = %v, %v", ok, err)
		}

		if _, err := e.svc.Revoke(ctx, admin, g2.ID, "second grant done"); err != nil {
			t.Fatal(err)
		}
		if sent := inbox.take(); len(sent) != 1 || sent[0].Grant.ID != g2.ID || sent[0].Reads != 1 || sent[0].Uses[0].RecordID != "l-9" {
			t.Fatalf("second grant's digest = %+v", sent)
		}

		// Expired: the sweep sends it once the window has passed, not before.
		e.clk.Advance(3 * time.Hour)
		if n, err := e.svc.SendEndedDigests(ctx); err != nil || n != 0 {
			t.Fatalf("sweep before expiry sent %d, %v", n, err)
		}
		e.clk.Advance(2 * time.Hour)
		n, err := e.svc.SendEndedDigests(ctx)
		if err != nil || n != 1 {
			t.Fatalf("sweep after expiry sent %d, %v", n, err)
		}
		sent = inbox.take()
		if len(sent) != 1 || sent[0].Grant.ID != og.ID || sent[0].Grant.State != supportaccess.Expired || sent[0].Reads != 1 {
			t.Fatalf("expired digest = %+v", sent)
		}

		// Pending and denied requests were never used: no digest.
		p, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "SUP-10", scope, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "SUP-11", scope, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Deny(ctx, admin, d2.ID, "no"); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(48 * time.Hour)
		if n, err := e.svc.SendEndedDigests(ctx); err != nil || n != 0 {
			t.Fatalf("digests for pending %s / denied %s: %d, %v", p.ID, d2.ID, n, err)
		}
	})
}

func TestPendingCountAndRequiredApprovals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := setup(t, db)
		tid, admin, _ := e.tenant(t)
		_, otherAdmin, _ := e.tenant(t)
		sales := tenant.Actor{Kind: tenant.ActorUser, TenantID: tid, UserID: tenant.NewID(), Role: access.RoleSales}
		op := supportaccess.Operator{ID: tenant.NewID(), Name: "Olga"}
		for i := 0; i < 2; i++ {
			if _, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "T", supportaccess.Scope{Objects: []string{"lead"}}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := e.svc.PendingCount(ctx, admin); err != nil || n != 2 {
			t.Fatalf("pending for admin = %d, %v", n, err)
		}
		// Sales have no say and another tenant's admin sees their own zero.
		if n, err := e.svc.PendingCount(ctx, sales); err != nil || n != 0 {
			t.Fatalf("pending for sales = %d, %v", n, err)
		}
		if n, err := e.svc.PendingCount(ctx, otherAdmin); err != nil || n != 0 {
			t.Fatalf("pending for another tenant = %d, %v", n, err)
		}
		if n, err := e.svc.RequiredApprovals(ctx, admin); err != nil || n != 1 {
			t.Fatalf("default required approvals = %d, %v", n, err)
		}
		if _, err := e.svc.RequiredApprovals(ctx, sales); err == nil {
			t.Fatal("sales read the approval rule")
		}
		if err := e.svc.SetRequiredApprovals(ctx, admin, 2); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.svc.RequiredApprovals(ctx, admin); n != 2 {
			t.Fatalf("required approvals after set = %d", n)
		}
		if n, _ := e.svc.RequiredApprovals(ctx, otherAdmin); n != 1 {
			t.Fatalf("another tenant's rule changed to %d", n)
		}
	})
}

func TestRefusalsSayTheReasonOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := setup(t, db)
		tid, admin, _ := e.tenant(t)
		op := supportaccess.Operator{ID: tenant.NewID(), Name: "Olga"}
		_, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "T", supportaccess.Scope{Objects: []string{"lead"}}, 100*time.Hour)
		if ae, ok := apperr.As(err); !ok || ae.Message != "the duration must be between 1 minute and 72 hours" {
			t.Fatalf("too long: %v", err)
		}
		g, err := e.svc.Request(ctx, op, tid, supportaccess.KindSupport, "r", "T", supportaccess.Scope{Objects: []string{"lead"}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Deny(ctx, admin, g.ID, "no"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Revoke(ctx, admin, g.ID, "again")
		if ae, ok := apperr.As(err); !ok || strings.Contains(ae.Message, "supportaccess") || !strings.Contains(ae.Message, "cannot revoke a denied grant") {
			t.Fatalf("revoke a denied grant: %v", err)
		}
	})
}
