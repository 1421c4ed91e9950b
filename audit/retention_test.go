package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

func TestValidateRetentionDays(t *testing.T) {
	for _, days := range []int{-1, 0, 1, 179, 3651, 100000} {
		err := audit.ValidateRetentionDays(days)
		if !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("%d days: %v, want invalid", days, err)
			continue
		}
		if e, _ := apperr.As(err); !strings.Contains(e.Message, "180") || !strings.Contains(e.Message, "minimum") {
			t.Errorf("%d days: message %q does not name the minimum", days, e.Message)
		}
	}
	for _, days := range []int{180, 181, 1095, 3650} {
		if err := audit.ValidateRetentionDays(days); err != nil {
			t.Errorf("%d days: %v", days, err)
		}
	}
}

// memSettings is an in-memory RetentionStore.
type memSettings struct {
	days   map[tenant.ID]int
	events []audit.Event
	locks  int
}

func (m *memSettings) WriteTx(ctx context.Context, _ tenant.ID, fn func(context.Context) error) error {
	// Roll back on error, as a transaction would.
	days, n := map[tenant.ID]int{}, len(m.events)
	for k, v := range m.days {
		days[k] = v
	}
	if err := fn(ctx); err != nil {
		m.days, m.events = days, m.events[:n]
		return err
	}
	return nil
}
func (m *memSettings) LockTenant(context.Context, tenant.ID) error { m.locks++; return nil }
func (m *memSettings) AuditRetentionDays(_ context.Context, tid tenant.ID) (int, bool, error) {
	d, ok := m.days[tid]
	return d, ok, nil
}
func (m *memSettings) PutAuditRetentionDays(_ context.Context, tid tenant.ID, days int, _ time.Time) error {
	m.days[tid] = days
	return nil
}
func (m *memSettings) AppendAudit(_ context.Context, e audit.Event) error {
	m.events = append(m.events, e)
	return nil
}

func TestRetentionSettings(t *testing.T) {
	ctx := context.Background()
	st := &memSettings{days: map[tenant.ID]int{}}
	s := audit.NewRetentionSettings(st, func() time.Time { return t0 })
	admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: "t1", UserID: "u1", Name: "Admin", Role: access.RoleAdmin}
	sales := admin
	sales.Role = access.RoleSales

	if d, err := s.Get(ctx, admin); err != nil || d != audit.DefaultRetentionDays {
		t.Fatalf("default: %d %v", d, err)
	}
	if d, _ := s.Days(ctx, ""); d != audit.DefaultRetentionDays {
		t.Errorf("platform trail keeps %d days", d)
	}
	if _, err := s.Get(ctx, sales); !apperr.Is(err, apperr.KindForbidden) {
		t.Errorf("sales reads the setting: %v", err)
	}
	if _, err := s.Put(ctx, sales, 2000); !apperr.Is(err, apperr.KindForbidden) {
		t.Errorf("sales changes the setting: %v", err)
	}
	// Below the platform minimum: refused, nothing stored or recorded.
	for _, days := range []int{179, 30, 0} {
		if _, err := s.Put(ctx, admin, days); !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("admin shortens to %d days: %v", days, err)
		}
	}
	if len(st.days) != 0 || len(st.events) != 0 {
		t.Fatalf("a refused change left %v and %d events", st.days, len(st.events))
	}
	// Lengthening, then shortening down to the minimum, are both allowed
	// and audited with before and after.
	for i, step := range []struct{ before, after int }{{1095, 2000}, {2000, 180}} {
		if d, err := s.Put(ctx, admin, step.after); err != nil || d != step.after {
			t.Fatalf("put %d: %d %v", step.after, d, err)
		}
		if len(st.events) != i+1 {
			t.Fatalf("%d events after %d changes", len(st.events), i+1)
		}
		ev := st.events[i]
		if ev.Action != audit.ActionSettingsUpdated || ev.ObjectType != "settings" || ev.ObjectID != audit.SettingsObjectAudit ||
			ev.ActorID != "u1" || !ev.At.Equal(t0) {
			t.Errorf("event %+v", ev)
		}
		if c := ev.Changes["retention_days"]; c.Before != step.before || c.After != step.after || len(ev.Changes) != 1 {
			t.Errorf("changes %+v, want %d -> %d", ev.Changes, step.before, step.after)
		}
	}
	if d, _ := s.Days(ctx, "t1"); d != 180 {
		t.Errorf("in force: %d", d)
	}
	// Setting the value in force again records nothing.
	if _, err := s.Put(ctx, admin, 180); err != nil || len(st.events) != 2 {
		t.Errorf("no-op put: %v, %d events", err, len(st.events))
	}
	// A stored value below the minimum (impossible in the database, which
	// has a CHECK) still never shortens retention.
	st.days["t2"] = 7
	if d, _ := s.Days(ctx, "t2"); d != audit.MinRetentionDays {
		t.Errorf("a stored 7 days gives %d", d)
	}
}

// memTrail is an in-memory PurgeStore of one trail.
type memTrail struct {
	tid     tenant.ID
	events  []audit.Event
	cps     []audit.Checkpoint
	anchors []audit.Checkpoint
	head    audit.Head
}

func (m *memTrail) add(t *testing.T, e audit.Event) {
	t.Helper()
	e.TenantID, e.Seq = m.tid, m.head.Seq+1
	prev := audit.GenesisHash
	if m.head.Hash != "" {
		prev, _ = hex.DecodeString(m.head.Hash)
	}
	h, err := audit.HashEvent(prev, e)
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = hex.EncodeToString(h)
	m.events = append(m.events, e)
	m.head.Seq, m.head.Hash = e.Seq, e.Hash
}

func (m *memTrail) AuditEventsAfter(_ context.Context, _ tenant.ID, after int64, limit int) ([]audit.Event, error) {
	var out []audit.Event
	for _, e := range m.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
func (m *memTrail) AuditCheckpoints(_ context.Context, _ tenant.ID, after int64, limit int) ([]audit.Checkpoint, error) {
	var out []audit.Checkpoint
	for _, c := range m.cps {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}
func (m *memTrail) AuditAnchor(context.Context, tenant.ID) (*audit.Checkpoint, error) {
	if len(m.anchors) == 0 {
		return nil, nil
	}
	a := m.anchors[len(m.anchors)-1]
	return &a, nil
}
func (m *memTrail) AuditHead(context.Context, tenant.ID) (audit.Head, error) { return m.head, nil }
func (m *memTrail) WriteTx(ctx context.Context, _ tenant.ID, fn func(context.Context) error) error {
	return fn(ctx)
}
func (m *memTrail) AuditPurgeCandidate(_ context.Context, _ tenant.ID, cutoff time.Time) (*audit.Event, error) {
	var last *audit.Event
	for i := range m.events {
		if !m.events[i].At.Before(cutoff) {
			break
		}
		last = &m.events[i]
	}
	return last, nil
}
func (m *memTrail) PurgeAudit(_ context.Context, _ tenant.ID, a audit.Checkpoint) (int64, error) {
	m.anchors = append(m.anchors, a)
	var n int64
	kept := m.events[:0]
	for _, e := range m.events {
		if e.Seq <= a.Seq {
			n++
			continue
		}
		kept = append(kept, e)
	}
	m.events = kept
	return n, nil
}
func (m *memTrail) AppendAudit(_ context.Context, e audit.Event) error {
	m.events = append(m.events, e) // hashing is the store's job; not needed here
	m.head.Seq++
	return nil
}

// memSigner signs with an in-memory Ed25519 key.
type memSigner struct{ priv ed25519.PrivateKey }

func newSigner(t *testing.T) memSigner {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return memSigner{priv}
}

func (s memSigner) pub() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }
func (s memSigner) Sign(c audit.Checkpoint) (audit.Checkpoint, error) {
	c.KeyID = audit.KeyID(s.pub())
	c.Signature = ed25519.Sign(s.priv, audit.CheckpointMessage(c))
	return c, nil
}
func (s memSigner) PublicKeys() []audit.PublicKey {
	return []audit.PublicKey{{ID: audit.KeyID(s.pub()), Key: s.pub()}}
}

// oldTrail has ten events a day apart from t0, and a signed checkpoint
// of the fifth.
func oldTrail(t *testing.T, s memSigner) *memTrail {
	m := &memTrail{tid: "t1"}
	for i := range 10 {
		m.add(t, audit.Event{At: t0.AddDate(0, 0, i), ActorType: "user", ActorID: "u1", Action: audit.ActionRecordUpdated,
			ObjectType: "account", ObjectID: "a1", Changes: map[string]audit.Change{"n": {After: float64(i)}}})
	}
	cp, _ := s.Sign(audit.Checkpoint{TenantID: m.tid, Kind: audit.KindCheckpoint, Seq: 5, Hash: m.events[4].Hash, At: m.events[4].At})
	m.cps = append(m.cps, cp)
	return m
}

func TestPurgeRefusesAShorterPeriodThanTheMinimum(t *testing.T) {
	s := newSigner(t)
	m := oldTrail(t, s)
	_, err := audit.Purge(context.Background(), m, s, m.tid, t0.AddDate(10, 0, 0), 179*audit.Day)
	if err == nil || len(m.anchors) != 0 || len(m.events) != 10 {
		t.Fatalf("purge with 179 days: %v; %d anchors, %d events", err, len(m.anchors), len(m.events))
	}
}

// TestPurgeRefusesToEraseEvidence: when the events a purge would remove
// do not verify, it removes nothing and signs nothing, so tampering is
// never laundered into a signed anchor.
func TestPurgeRefusesToEraseEvidence(t *testing.T) {
	ctx := context.Background()
	for name, tamper := range map[string]func(m *memTrail){
		"edited event":        func(m *memTrail) { m.events[2].ActorID = "someone-else" },
		"edited last event":   func(m *memTrail) { m.events[6].Changes = nil },
		"removed event":       func(m *memTrail) { m.events = append(m.events[:3:3], m.events[4:]...) },
		"forged checkpoint":   func(m *memTrail) { m.cps[0].Signature[0] ^= 1 },
		"unknown signing key": func(m *memTrail) { m.cps[0].KeyID = "ed25519:0000000000000000" },
		"history rewritten": func(m *memTrail) {
			// Every hash recomputed after an edit: only the signed
			// checkpoint still tells.
			evs := m.events
			evs[1].ActorID = "someone-else"
			m.events, m.head = nil, audit.Head{}
			for _, e := range evs {
				m.add(t, e)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSigner(t)
			m := oldTrail(t, s)
			tamper(m)
			n := len(m.events)
			// The cutoff falls after the seventh event.
			_, err := audit.Purge(ctx, m, s, m.tid, t0.AddDate(0, 0, 6+audit.MinRetentionDays).Add(time.Hour), audit.MinRetentionDays*audit.Day)
			if !errors.Is(err, audit.ErrPurgeRefused) {
				t.Fatalf("purge of a tampered trail: %v", err)
			}
			if len(m.anchors) != 0 || len(m.events) != n {
				t.Fatalf("a refused purge left %d anchors and %d of %d events", len(m.anchors), len(m.events), n)
			}
		})
	}
}

// TestPurgeVerifiesOnlyWhatItRemoves: a broken event after the cutoff
// stays for investigation and does not block removing older ones.
func TestPurgeVerifiesOnlyWhatItRemoves(t *testing.T) {
	s := newSigner(t)
	m := oldTrail(t, s)
	m.events[8].ActorID = "someone-else"
	now := t0.AddDate(0, 0, 6+audit.MinRetentionDays).Add(time.Hour)
	res, err := audit.Purge(context.Background(), m, s, m.tid, now, audit.MinRetentionDays*audit.Day)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 7 || res.Anchor == nil || res.Anchor.Seq != 7 || res.Anchor.Kind != audit.KindAnchor || !res.Anchor.At.Equal(t0.AddDate(0, 0, 6)) {
		t.Fatalf("result %+v", res)
	}
	if !res.Cutoff.Equal(now.Add(-audit.MinRetentionDays * audit.Day)) {
		t.Errorf("cutoff %v", res.Cutoff)
	}
	if err := (audit.KeySet{audit.KeyID(s.pub()): s.pub()}).VerifyCheckpoint(*res.Anchor); err != nil {
		t.Errorf("anchor: %v", err)
	}
	// Left: events 8..10 and the purge's own event, system actor.
	if len(m.events) != 4 || m.events[0].Seq != 8 {
		t.Fatalf("left %d events from %d", len(m.events), m.events[0].Seq)
	}
	ev := m.events[3]
	if ev.Action != audit.ActionAuditPurged || ev.ActorType != string(tenant.ActorSystem) || ev.ActorName != audit.PurgeActorName ||
		ev.Changes["events"].After != int64(7) || ev.Changes["through_seq"].After != int64(7) || !ev.At.Equal(now) {
		t.Errorf("purge event %+v", ev)
	}
}

func TestPurgeWithNothingOldEnoughDoesNothing(t *testing.T) {
	s := newSigner(t)
	m := oldTrail(t, s)
	res, err := audit.Purge(context.Background(), m, s, m.tid, t0.AddDate(0, 0, audit.DefaultRetentionDays), audit.DefaultRetentionDays*audit.Day)
	if err != nil || res.Events != 0 || res.Anchor != nil || len(m.anchors) != 0 || len(m.events) != 10 {
		t.Fatalf("%+v %v; %d anchors, %d events", res, err, len(m.anchors), len(m.events))
	}
}
