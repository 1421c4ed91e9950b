package supportaccess

import (
	"context"
	"fmt"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// When a grant ends (it expires or an admin revokes it), the tenant's
// admins receive a digest of everything the operator did under it, read
// back from the tenant's own audit trail: the e-mail repeats what the
// trail already proves, so nothing the operator did can be missing from
// one and present in the other.

// TenantGrant is a grant with the tenant it belongs to, for platform-wide
// sweeps.
type TenantGrant struct {
	TenantID tenant.ID
	Grant    Grant
}

// DigestStore finds ended grants whose digest is due and reads the trail.
type DigestStore interface {
	GrantsAwaitingDigest(ctx context.Context, limit int) ([]TenantGrant, error)
	ClaimGrantDigest(ctx context.Context, tid tenant.ID, id string, at time.Time) (bool, error)
	QueryAudit(ctx context.Context, tid tenant.ID, f audit.Filter) ([]audit.Event, error)
}

// EndNotifier sends the digest to the tenant's admins.
type EndNotifier interface {
	AccessEnded(ctx context.Context, tid tenant.ID, d Digest)
}

// Use is one thing the operator did under a grant.
type Use struct {
	At       time.Time
	Action   string // support.use for reads, record.update etc. for changes
	What     string // for support.use: read or list
	Object   string
	RecordID string
	Records  int // how many records a list showed
}

// Digest is what an ended grant was used for.
type Digest struct {
	Grant Grant
	Uses  []Use // oldest first, at most MaxDigestUses
	// Omitted counts uses beyond MaxDigestUses; the audit log has them all.
	Omitted int
	Reads   int // records viewed (a list counts each record it showed)
	Changes int // records created, changed or deleted
}

// MaxDigestUses bounds the lines of one e-mail.
const MaxDigestUses = 200

// SetDigests enables grant-end digests.
func (s *Service) SetDigests(st DigestStore, n EndNotifier) { s.digestStore, s.ender = st, n }

// SendEndedDigests sends the digest of every grant that has ended and
// not had one yet, and returns how many it sent. Each is claimed first,
// so several instances sweeping at once send it once; a crash between
// the claim and the hand-over to the mailer loses that digest, never the
// trail it summarizes.
func (s *Service) SendEndedDigests(ctx context.Context) (int, error) {
	if s.digestStore == nil || s.ender == nil {
		return 0, nil
	}
	cands, err := s.digestStore.GrantsAwaitingDigest(ctx, 500)
	if err != nil {
		return 0, fmt.Errorf("grants awaiting a digest: %w", err)
	}
	sent := 0
	for _, c := range cands {
		ok, err := s.sendDigest(ctx, c.TenantID, c.Grant)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// sendDigest sends g's digest if g has ended and nobody sent it yet.
func (s *Service) sendDigest(ctx context.Context, tid tenant.ID, g Grant) (bool, error) {
	now := s.now().UTC()
	g = g.At(now)
	if g.State != Expired && g.State != Revoked {
		return false, nil
	}
	// Read before claiming: a failed read leaves the digest to the next
	// sweep instead of losing it.
	d, err := s.digest(ctx, tid, g)
	if err != nil {
		return false, fmt.Errorf("digest of grant %s: %w", g.ID, err)
	}
	claimed, err := s.digestStore.ClaimGrantDigest(ctx, tid, g.ID, now)
	if err != nil || !claimed {
		return false, err
	}
	s.ender.AccessEnded(ctx, tid, d)
	return true, nil
}

// digest reads the operator's events in the grant's window from the
// tenant's trail, keeping those made under this grant.
func (s *Service) digest(ctx context.Context, tid tenant.ID, g Grant) (Digest, error) {
	d := Digest{Grant: g}
	if g.ActiveFrom == nil {
		return d, nil
	}
	f := audit.Filter{ActorID: g.OperatorID, From: *g.ActiveFrom, Limit: 500}
	if g.EndedAt != nil {
		// Events of the request that was refused at the boundary carry
		// the same second; one microsecond past the end keeps them.
		f.To = g.EndedAt.Add(time.Microsecond)
	}
	via := "grant:" + g.ID
	var newestFirst []Use
	for {
		events, err := s.digestStore.QueryAudit(ctx, tid, f)
		if err != nil {
			return d, err
		}
		for _, e := range events {
			if e.Via != via || e.ActorType != string(tenant.ActorOperator) {
				continue
			}
			u, reads, changes, ok := useOf(e)
			if !ok {
				continue
			}
			d.Reads += reads
			d.Changes += changes
			if len(newestFirst) < MaxDigestUses {
				newestFirst = append(newestFirst, u)
			} else {
				d.Omitted++
			}
		}
		if len(events) < f.Limit {
			break
		}
		f.BeforeSeq = events[len(events)-1].Seq
	}
	// The newest MaxDigestUses were kept; show them oldest first.
	for i := len(newestFirst) - 1; i >= 0; i-- {
		d.Uses = append(d.Uses, newestFirst[i])
	}
	return d, nil
}

// useOf turns a trail event into a digest line: reads recorded by
// RecordUse, and record changes the operator made under a write grant.
func useOf(e audit.Event) (u Use, reads, changes int, ok bool) {
	u = Use{At: e.At, Action: e.Action, Object: e.ObjectType, RecordID: e.ObjectID}
	switch e.Action {
	case ActionUsed:
		u.What = e.ObjectName
		n := 1
		if c, found := e.Changes["records"]; found {
			if v, isNum := c.After.(float64); isNum {
				n = int(v)
			} else if v, isInt := c.After.(int); isInt {
				n = v
			}
		}
		u.Records = n
		return u, n, 0, true
	case "record.create", "record.update", "record.delete", "record.restore":
		return u, 0, 1, true
	}
	return u, 0, 0, false
}
