// Package supportaccess decides when a vendor operator may reach a
// tenant's data: only through a grant the tenant's admins approved in
// writing, for one named operator, one tenant, a scope of objects
// (read-only unless write was granted) and a window of at most 72 hours.
//
// A grant is a pure state machine:
//
//	pending ──approve (enough admins)──▶ approved ──activate──▶ active ──▶ expired
//	   │                                   │                      │
//	   └──deny──▶ denied                   └──revoke──▶ revoked ◀─┘
//	   └──withdraw (by the operator)──▶ withdrawn
//
// Every transition is a method that returns the next grant or an error
// and changes nothing else, so each one, legal and illegal, is tested
// without a database. The store and the HTTP layers only persist what
// these methods return.
package supportaccess

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// State is where a grant stands.
type State string

const (
	Pending   State = "pending"
	Approved  State = "approved"
	Denied    State = "denied"
	Active    State = "active"
	Expired   State = "expired"
	Revoked   State = "revoked"
	Withdrawn State = "withdrawn"
)

// Final reports whether no transition leaves the state.
func (s State) Final() bool {
	return s == Denied || s == Expired || s == Revoked || s == Withdrawn
}

// Kind is what the access is for. Support reads are the common case;
// restoring a backup and fixing data are kinds of their own, each needing
// a grant of that kind, so approving one never approves another.
type Kind string

const (
	KindSupport Kind = "support"
	KindRestore Kind = "restore"
	KindDataFix Kind = "data_fix"
)

// Kinds lists the grant kinds.
var Kinds = []Kind{KindSupport, KindRestore, KindDataFix}

// MaxDuration bounds every grant's window.
const MaxDuration = 72 * time.Hour

// Scope is what a grant reaches.
type Scope struct {
	// Objects lists the object names the operator may read (or change).
	Objects []string
	// Write allows changes, not only reads.
	Write bool
}

// Within reports whether s asks for no more than outer.
func (s Scope) Within(outer Scope) bool {
	if s.Write && !outer.Write {
		return false
	}
	for _, o := range s.Objects {
		if !slices.Contains(outer.Objects, o) {
			return false
		}
	}
	return true
}

// Decision is one admin's approval, denial or revocation: who, when, from
// where, and the statement they typed or confirmed.
type Decision struct {
	AdminID   string
	AdminName string
	IP        string
	At        time.Time
	Statement string
}

// Approval is an admin's approval, possibly narrowing the request.
type Approval struct {
	Decision
	Scope    Scope
	Duration time.Duration
}

// Grant is one access request and everything decided about it.
type Grant struct {
	ID         string
	TenantID   string
	OperatorID string
	Kind       Kind
	Reason     string
	Ticket     string
	// Requested is what the operator asked for; Scope and Duration what
	// is granted (the narrowest of the approvals).
	Requested         Scope
	RequestedDuration time.Duration
	Scope             Scope
	Duration          time.Duration
	// RequiredApprovals is how many different admins must approve (1 or 2).
	RequiredApprovals int

	State      State
	CreatedAt  time.Time
	Approvals  []Approval
	Denial     *Decision
	Revocation *Decision
	ActiveFrom *time.Time
	ExpiresAt  *time.Time
	EndedAt    *time.Time
}

// Errors of illegal transitions; the state machine never panics.
var (
	ErrInvalid    = errors.New("supportaccess: invalid request")
	ErrIllegal    = errors.New("supportaccess: not allowed in this state")
	ErrSameAdmin  = errors.New("supportaccess: this admin already approved")
	ErrBroaderAsk = errors.New("supportaccess: an approval may narrow the request, never widen it")
)

// Request is what an operator asks for.
type Request struct {
	ID, TenantID, OperatorID string
	Kind                     Kind
	Reason, Ticket           string
	Scope                    Scope
	Duration                 time.Duration
	RequiredApprovals        int
	// KnownObjects are the tenant's object names, to check the scope.
	KnownObjects []string
}

const (
	maxReason    = 1000
	maxTicket    = 100
	maxStatement = 2000
)

func cleanText(s string, limit int) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= limit && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n'
	})
}

// NewGrant validates a request and returns the pending grant.
func NewGrant(r Request, now time.Time) (Grant, error) {
	bad := func(msg string, args ...any) (Grant, error) {
		return Grant{}, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(msg, args...))
	}
	switch {
	case r.ID == "" || r.TenantID == "" || r.OperatorID == "":
		return bad("request, tenant and operator are required")
	case !slices.Contains(Kinds, r.Kind):
		return bad("unknown kind %q", r.Kind)
	case strings.TrimSpace(r.Reason) == "" || !cleanText(r.Reason, maxReason):
		return bad("a reason is required (at most %d characters)", maxReason)
	case strings.TrimSpace(r.Ticket) == "" || !cleanText(r.Ticket, maxTicket) || strings.Contains(r.Ticket, "\n"):
		return bad("a ticket reference is required (one line, at most %d characters)", maxTicket)
	case r.Duration < time.Minute || r.Duration > MaxDuration:
		return bad("the duration must be between 1 minute and %d hours", int(MaxDuration.Hours()))
	case len(r.Scope.Objects) == 0:
		return bad("the scope must name at least one object")
	case r.RequiredApprovals != 1 && r.RequiredApprovals != 2:
		return bad("one or two approvals are required")
	}
	seen := map[string]bool{}
	for _, o := range r.Scope.Objects {
		if !slices.Contains(r.KnownObjects, o) {
			return bad("the tenant has no object %q", o)
		}
		if seen[o] {
			return bad("object %q is named twice", o)
		}
		seen[o] = true
	}
	if r.Kind == KindDataFix && !r.Scope.Write {
		return bad("a data fix needs write access")
	}
	scope := Scope{Objects: slices.Clone(r.Scope.Objects), Write: r.Scope.Write}
	slices.Sort(scope.Objects)
	return Grant{
		ID: r.ID, TenantID: r.TenantID, OperatorID: r.OperatorID, Kind: r.Kind,
		Reason: strings.TrimSpace(r.Reason), Ticket: strings.TrimSpace(r.Ticket),
		Requested: scope, RequestedDuration: r.Duration, Scope: scope, Duration: r.Duration,
		RequiredApprovals: r.RequiredApprovals, State: Pending, CreatedAt: now.UTC(),
	}, nil
}

func illegal(g Grant, what string) error {
	return fmt.Errorf("%w: cannot %s a %s grant", ErrIllegal, what, g.State)
}

func checkDecision(d Decision) error {
	switch {
	case d.AdminID == "":
		return fmt.Errorf("%w: the deciding admin is required", ErrInvalid)
	case strings.TrimSpace(d.Statement) == "" || !cleanText(d.Statement, maxStatement):
		return fmt.Errorf("%w: a written statement is required (at most %d characters)", ErrInvalid, maxStatement)
	case d.At.IsZero():
		return fmt.Errorf("%w: the time of the decision is required", ErrInvalid)
	}
	return nil
}

// Approve records one admin's approval. The grant's scope and duration
// become the narrowest approved; once enough different admins approved,
// the grant is approved (and Activate starts its window).
func (g Grant) Approve(a Approval) (Grant, error) {
	if g.State != Pending {
		return g, illegal(g, "approve")
	}
	if err := checkDecision(a.Decision); err != nil {
		return g, err
	}
	for _, prev := range g.Approvals {
		if prev.AdminID == a.AdminID {
			return g, ErrSameAdmin
		}
	}
	if a.Duration <= 0 || a.Duration > g.Duration || len(a.Scope.Objects) == 0 || !a.Scope.Within(g.Scope) {
		return g, ErrBroaderAsk
	}
	next := g
	next.Approvals = append(slices.Clone(g.Approvals), a)
	next.Scope = Scope{Objects: slices.Clone(a.Scope.Objects), Write: a.Scope.Write}
	slices.Sort(next.Scope.Objects)
	next.Duration = a.Duration
	if len(next.Approvals) >= g.RequiredApprovals {
		next.State = Approved
	}
	return next, nil
}

// Deny ends a pending grant.
func (g Grant) Deny(d Decision) (Grant, error) {
	if g.State != Pending {
		return g, illegal(g, "deny")
	}
	if err := checkDecision(d); err != nil {
		return g, err
	}
	next := g
	next.State, next.Denial, next.EndedAt = Denied, &d, &d.At
	return next, nil
}

// Withdraw lets the requesting operator take back a pending request.
func (g Grant) Withdraw(operatorID string, now time.Time) (Grant, error) {
	if g.State != Pending {
		return g, illegal(g, "withdraw")
	}
	if operatorID != g.OperatorID {
		return g, fmt.Errorf("%w: only the requesting operator may withdraw", ErrInvalid)
	}
	next := g
	t := now.UTC()
	next.State, next.EndedAt = Withdrawn, &t
	return next, nil
}

// Activate starts an approved grant's window at now.
func (g Grant) Activate(now time.Time) (Grant, error) {
	if g.State != Approved {
		return g, illegal(g, "activate")
	}
	next := g
	from, until := now.UTC(), now.UTC().Add(g.Duration)
	next.State, next.ActiveFrom, next.ExpiresAt = Active, &from, &until
	return next, nil
}

// Revoke ends an approved or active grant at once.
func (g Grant) Revoke(d Decision) (Grant, error) {
	g = g.At(d.At)
	if g.State != Approved && g.State != Active {
		return g, illegal(g, "revoke")
	}
	if err := checkDecision(d); err != nil {
		return g, err
	}
	next := g
	next.State, next.Revocation, next.EndedAt = Revoked, &d, &d.At
	return next, nil
}

// At returns the grant as it stands at now: an active grant whose window
// has passed is expired.
func (g Grant) At(now time.Time) Grant {
	if g.State == Active && g.ExpiresAt != nil && !now.Before(*g.ExpiresAt) {
		g.State, g.EndedAt = Expired, g.ExpiresAt
	}
	return g
}

// Allows reports whether operatorID may perform a read (or, with write,
// a change) on object under this grant at now: only the named operator,
// only inside the scope and the window.
func (g Grant) Allows(operatorID, object string, write bool, now time.Time) bool {
	g = g.At(now)
	return g.State == Active && operatorID != "" && operatorID == g.OperatorID &&
		g.ActiveFrom != nil && !now.Before(*g.ActiveFrom) &&
		slices.Contains(g.Scope.Objects, object) && (!write || g.Scope.Write)
}
