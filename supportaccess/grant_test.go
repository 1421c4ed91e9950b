package supportaccess

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

func request(approvals int) Request {
	return Request{ID: "g1", TenantID: "t1", OperatorID: "op1", Kind: KindSupport, Reason: "customer reports a broken list",
		Ticket: "SUP-1234", Scope: Scope{Objects: []string{"contact", "account"}}, Duration: 24 * time.Hour,
		RequiredApprovals: approvals, KnownObjects: []string{"account", "contact", "lead"}}
}

func decision(admin string, at time.Time) Decision {
	return Decision{AdminID: admin, AdminName: "Admin " + admin, IP: "192.0.2.1", At: at,
		Statement: "I, Admin " + admin + ", authorize this access for the stated reason."}
}

func approval(admin string, at time.Time) Approval {
	return Approval{Decision: decision(admin, at), Scope: Scope{Objects: []string{"contact"}}, Duration: 8 * time.Hour}
}

// inState returns a grant in the given state.
func inState(t *testing.T, s State) Grant {
	t.Helper()
	g, err := NewGrant(request(1), t0)
	if err != nil {
		t.Fatal(err)
	}
	must := func(next Grant, err error) Grant {
		t.Helper()
		if err != nil {
			t.Fatalf("building %s: %v", s, err)
		}
		return next
	}
	switch s {
	case Pending:
	case Approved:
		g = must(g.Approve(approval("a1", t0.Add(time.Minute))))
	case Denied:
		g = must(g.Deny(decision("a1", t0.Add(time.Minute))))
	case Withdrawn:
		g = must(g.Withdraw("op1", t0.Add(time.Minute)))
	case Active:
		g = must(must(g.Approve(approval("a1", t0.Add(time.Minute)))).Activate(t0.Add(2 * time.Minute)))
	case Expired:
		g = must(must(g.Approve(approval("a1", t0.Add(time.Minute)))).Activate(t0.Add(2 * time.Minute))).At(t0.Add(9 * time.Hour))
	case Revoked:
		g = must(must(must(g.Approve(approval("a1", t0.Add(time.Minute)))).Activate(t0.Add(2 * time.Minute))).Revoke(decision("a2", t0.Add(time.Hour))))
	}
	if g.State != s {
		t.Fatalf("built %s, want %s", g.State, s)
	}
	return g
}

// TestEveryTransition tries every action in every state: the legal ones
// lead where the diagram says, the others fail with ErrIllegal and leave
// the grant as it was.
func TestEveryTransition(t *testing.T) {
	later := t0.Add(3 * time.Hour) // inside an active window
	actions := map[string]func(g Grant) (Grant, error){
		"approve":  func(g Grant) (Grant, error) { return g.Approve(approval("a9", later)) },
		"deny":     func(g Grant) (Grant, error) { return g.Deny(decision("a9", later)) },
		"withdraw": func(g Grant) (Grant, error) { return g.Withdraw("op1", later) },
		"activate": func(g Grant) (Grant, error) { return g.Activate(later) },
		"revoke":   func(g Grant) (Grant, error) { return g.Revoke(decision("a9", later)) },
	}
	legal := map[State]map[string]State{
		Pending:   {"approve": Approved, "deny": Denied, "withdraw": Withdrawn},
		Approved:  {"activate": Active, "revoke": Revoked},
		Active:    {"revoke": Revoked},
		Denied:    {},
		Expired:   {},
		Revoked:   {},
		Withdrawn: {},
	}
	for state, allowed := range legal {
		for name, act := range actions {
			t.Run(fmt.Sprintf("%s/%s", state, name), func(t *testing.T) {
				g := inState(t, state)
				next, err := act(g)
				want, ok := allowed[name]
				if !ok {
					if !errors.Is(err, ErrIllegal) {
						t.Fatalf("%s on %s: want ErrIllegal, got %v (state %s)", name, state, err, next.State)
					}
					if next.State != g.At(later).State {
						t.Fatalf("an illegal %s changed the state to %s", name, next.State)
					}
					return
				}
				if err != nil || next.State != want {
					t.Fatalf("%s on %s: got %s, %v; want %s", name, state, next.State, err, want)
				}
				if state.Final() {
					t.Fatalf("a final state %s allowed %s", state, name)
				}
			})
		}
	}
}

func TestTwoAdminsMustApprove(t *testing.T) {
	g, err := NewGrant(request(2), t0)
	if err != nil {
		t.Fatal(err)
	}
	g, err = g.Approve(approval("a1", t0.Add(time.Minute)))
	if err != nil || g.State != Pending {
		t.Fatalf("after one of two: %s %v", g.State, err)
	}
	if _, err := g.Approve(approval("a1", t0.Add(2*time.Minute))); !errors.Is(err, ErrSameAdmin) {
		t.Fatalf("the same admin twice: %v", err)
	}
	if _, err := g.Activate(t0); !errors.Is(err, ErrIllegal) {
		t.Fatalf("activated with one approval: %v", err)
	}
	g, err = g.Approve(approval("a2", t0.Add(3*time.Minute)))
	if err != nil || g.State != Approved || len(g.Approvals) != 2 {
		t.Fatalf("after two: %s %v", g.State, err)
	}
}

func TestApprovalNarrowsNeverWidens(t *testing.T) {
	g, _ := NewGrant(request(2), t0)
	wider := []Approval{
		{Decision: decision("a1", t0), Scope: Scope{Objects: []string{"lead"}}, Duration: time.Hour},                 // object not asked for
		{Decision: decision("a1", t0), Scope: Scope{Objects: []string{"contact"}, Write: true}, Duration: time.Hour}, // write not asked for
		{Decision: decision("a1", t0), Scope: Scope{Objects: []string{"contact"}}, Duration: 25 * time.Hour},         // longer
		{Decision: decision("a1", t0), Scope: Scope{}, Duration: time.Hour},                                          // nothing
		{Decision: decision("a1", t0), Scope: Scope{Objects: []string{"contact"}}, Duration: 0},
	}
	for i, a := range wider {
		if _, err := g.Approve(a); !errors.Is(err, ErrBroaderAsk) {
			t.Fatalf("case %d: %v", i, err)
		}
	}
	g, err := g.Approve(Approval{Decision: decision("a1", t0), Scope: Scope{Objects: []string{"contact", "account"}}, Duration: 10 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The second admin narrows further; the first's wider approval does not come back.
	g, err = g.Approve(Approval{Decision: decision("a2", t0), Scope: Scope{Objects: []string{"account"}}, Duration: 2 * time.Hour})
	if err != nil || g.Duration != 2*time.Hour || strings.Join(g.Scope.Objects, ",") != "account" {
		t.Fatalf("narrowed: %+v %v", g.Scope, err)
	}
	if _, err := (Grant{State: Pending, Scope: g.Scope, Duration: g.Duration, RequiredApprovals: 3, Approvals: g.Approvals}).
		Approve(Approval{Decision: decision("a3", t0), Scope: Scope{Objects: []string{"contact"}}, Duration: time.Hour}); !errors.Is(err, ErrBroaderAsk) {
		t.Fatalf("a third approval widened back: %v", err)
	}
}

func TestDecisionsNeedAStatement(t *testing.T) {
	g, _ := NewGrant(request(1), t0)
	for _, d := range []Decision{
		{AdminID: "a1", At: t0},
		{AdminID: "a1", At: t0, Statement: "   "},
		{AdminID: "", At: t0, Statement: "ok"},
		{AdminID: "a1", Statement: "ok"},
		{AdminID: "a1", At: t0, Statement: "ok\x00"},
		{AdminID: "a1", At: t0, Statement: strings.Repeat("x", maxStatement+1)},
	} {
		if _, err := g.Approve(Approval{Decision: d, Scope: g.Scope, Duration: g.Duration}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("approve with %+v: %v", d, err)
		}
		if _, err := g.Deny(d); !errors.Is(err, ErrInvalid) {
			t.Fatalf("deny with %+v: %v", d, err)
		}
	}
}

func TestRequestValidation(t *testing.T) {
	for name, mod := range map[string]func(r *Request){
		"no reason":          func(r *Request) { r.Reason = " " },
		"no ticket":          func(r *Request) { r.Ticket = "" },
		"two-line ticket":    func(r *Request) { r.Ticket = "A\nB" },
		"73 hours":           func(r *Request) { r.Duration = 73 * time.Hour },
		"zero duration":      func(r *Request) { r.Duration = 0 },
		"no objects":         func(r *Request) { r.Scope.Objects = nil },
		"unknown object":     func(r *Request) { r.Scope.Objects = []string{"invoice"} },
		"object twice":       func(r *Request) { r.Scope.Objects = []string{"lead", "lead"} },
		"unknown kind":       func(r *Request) { r.Kind = "superuser" },
		"three approvals":    func(r *Request) { r.RequiredApprovals = 3 },
		"no operator":        func(r *Request) { r.OperatorID = "" },
		"read-only data fix": func(r *Request) { r.Kind = KindDataFix },
		"control characters": func(r *Request) { r.Reason = "a\x1bb" },
	} {
		r := request(1)
		mod(&r)
		if _, err := NewGrant(r, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	r := request(1)
	r.Duration = MaxDuration
	if _, err := NewGrant(r, t0); err != nil {
		t.Fatalf("72 hours: %v", err)
	}
}

// TestAllowsOnlyTheOperatorInScopeAndWindow tries to get around a grant:
// another operator, another object, a write on a read grant, before the
// window, at its end, after a revocation.
func TestAllowsOnlyTheOperatorInScopeAndWindow(t *testing.T) {
	g := inState(t, Active) // contact only, read, window t0+2m .. t0+8h2m
	inside := t0.Add(time.Hour)
	if !g.Allows("op1", "contact", false, inside) {
		t.Fatal("the granted read is refused")
	}
	for name, ok := range map[string]bool{
		"other operator":   g.Allows("op2", "contact", false, inside),
		"empty operator":   g.Allows("", "contact", false, inside),
		"other object":     g.Allows("op1", "account", false, inside),
		"write":            g.Allows("op1", "contact", true, inside),
		"before the start": g.Allows("op1", "contact", false, t0),
		"at the end":       g.Allows("op1", "contact", false, *g.ExpiresAt),
		"after the end":    g.Allows("op1", "contact", false, g.ExpiresAt.Add(time.Second)),
	} {
		if ok {
			t.Errorf("%s allowed", name)
		}
	}
	revoked, err := g.Revoke(decision("a1", inside))
	if err != nil {
		t.Fatal(err)
	}
	if revoked.Allows("op1", "contact", false, inside.Add(time.Second)) {
		t.Fatal("a revoked grant still allows")
	}
	for _, s := range []State{Pending, Approved, Denied, Withdrawn, Expired, Revoked} {
		if inState(t, s).Allows("op1", "contact", false, inside) {
			t.Errorf("a %s grant allows", s)
		}
	}
	// A revocation after expiry is refused: the grant already ended.
	if _, err := g.Revoke(decision("a1", g.ExpiresAt.Add(time.Minute))); !errors.Is(err, ErrIllegal) {
		t.Fatalf("revoke after expiry: %v", err)
	}
}
