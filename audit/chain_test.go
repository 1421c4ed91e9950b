package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// chSigner signs checkpoints with a deterministic test key.
type chSigner struct{ priv ed25519.PrivateKey }

func newChSigner(seed byte) chSigner {
	return chSigner{priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

func (s chSigner) pub() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

func (s chSigner) Sign(c audit.Checkpoint) (audit.Checkpoint, error) {
	c.KeyID = audit.KeyID(s.pub())
	c.Signature = ed25519.Sign(s.priv, audit.CheckpointMessage(c))
	return c, nil
}

func (s chSigner) keys() audit.KeySet { return audit.KeySet{audit.KeyID(s.pub()): s.pub()} }

func (s chSigner) publicKeys() []audit.PublicKey {
	return []audit.PublicKey{{ID: audit.KeyID(s.pub()), Key: s.pub(), CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// chTrail is an in-memory trail that grows like the store's: each event
// hashed onto the previous one, a checkpoint signed every `every` events.
type chTrail struct {
	tid    tenant.ID
	signer chSigner
	every  int64
	events []audit.Event
	cps    []audit.Checkpoint
	anchor *audit.Checkpoint
	head   audit.Head
	// onRead, when set, runs before each read of events or checkpoints
	// (to grow the trail while it is being verified).
	onRead func()
}

var chT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newChTrail(tid tenant.ID, every int64) *chTrail {
	return &chTrail{tid: tid, signer: newChSigner(7), every: every}
}

// chEvent is a varied event: the fields and changes differ from one
// sequence number to the next.
func chEvent(tid tenant.ID, i int) audit.Event {
	e := audit.Event{TenantID: tid, At: chT0.Add(time.Duration(i) * 1500 * time.Millisecond), ActorType: "user",
		ActorID: fmt.Sprintf("0190b6a0-0000-7000-8000-%012d", i%7), ActorName: []string{"王小明", "Alice <admin>", "Ops & Co"}[i%3],
		Action: []string{"record.update", "auth.login", "record.create", "user.update"}[i%4], ObjectType: "account",
		ObjectID: fmt.Sprintf("rec-%d", i%13), ObjectName: fmt.Sprintf("上海客户 %d", i), IP: fmt.Sprintf("10.0.%d.%d", i%5, i%250),
		UserAgent: "Mozilla/5.0", RequestID: fmt.Sprintf("req-%d", i)}
	if i%3 == 0 {
		e.Via = "token:t1"
	}
	if i%2 == 0 {
		e.Changes = map[string]audit.Change{
			"name":    {Before: fmt.Sprintf("旧 %d", i), After: fmt.Sprintf("新 %d", i)},
			"revenue": {Before: float64(i) * 1.5, After: float64(i*2) + 0.25},
			"tags":    {Before: nil, After: []any{"vip", float64(i)}},
		}
	}
	return e
}

// append adds the next event, hashed, and a checkpoint when due.
func (m *chTrail) append(t testing.TB, e audit.Event) {
	t.Helper()
	e.TenantID = m.tid
	e.Seq = m.head.Seq + 1
	e.At = e.At.Truncate(time.Microsecond)
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
	if m.every > 0 && (e.Seq == 1 || e.Seq-m.head.CheckpointSeq >= m.every) {
		m.sign(t, e)
	}
}

func (m *chTrail) sign(t testing.TB, e audit.Event) {
	t.Helper()
	c, err := m.signer.Sign(audit.Checkpoint{TenantID: m.tid, Kind: audit.KindCheckpoint, Seq: e.Seq, Hash: e.Hash, At: e.At})
	if err != nil {
		t.Fatal(err)
	}
	m.cps = append(m.cps, c)
	m.head.CheckpointSeq, m.head.CheckpointAt = e.Seq, e.At
}

func (m *chTrail) grow(t testing.TB, n int) *chTrail {
	t.Helper()
	for range n {
		m.append(t, chEvent(m.tid, int(m.head.Seq)+1))
	}
	return m
}

func (m *chTrail) AuditEventsAfter(_ context.Context, _ tenant.ID, after int64, limit int) ([]audit.Event, error) {
	if m.onRead != nil {
		m.onRead()
	}
	sort.SliceStable(m.events, func(i, j int) bool { return m.events[i].Seq < m.events[j].Seq })
	var out []audit.Event
	for _, e := range m.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *chTrail) AuditCheckpoints(_ context.Context, _ tenant.ID, after int64, limit int) ([]audit.Checkpoint, error) {
	if m.onRead != nil {
		m.onRead()
	}
	sort.SliceStable(m.cps, func(i, j int) bool { return m.cps[i].Seq < m.cps[j].Seq })
	var out []audit.Checkpoint
	for _, c := range m.cps {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *chTrail) AuditAnchor(context.Context, tenant.ID) (*audit.Checkpoint, error) {
	return m.anchor, nil
}

func (m *chTrail) AuditHead(context.Context, tenant.ID) (audit.Head, error) { return m.head, nil }

func (m *chTrail) verify(t testing.TB, maxGap int64) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), m, m.tid, m.signer.keys(), audit.VerifyOptions{MaxGap: maxGap})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantOK(t testing.TB, rep audit.Report) {
	t.Helper()
	if !rep.OK || rep.Problem != nil {
		t.Fatalf("want a verified trail, got %s", rep)
	}
}

func wantBroken(t testing.TB, rep audit.Report, seq int64, reason string) {
	t.Helper()
	if rep.OK || rep.Problem == nil {
		t.Fatalf("tampering went unnoticed: %s", rep)
	}
	if rep.Problem.Seq != seq || !strings.Contains(rep.Problem.Reason, reason) {
		t.Fatalf("want broken at %d (%q), got %s", seq, reason, rep)
	}
}

// TestCanonicalGolden pins the hashed bytes: changing the canonical form
// would break every trail already stored.
func TestCanonicalGolden(t *testing.T) {
	e := audit.Event{TenantID: "0190b6a0-0000-7000-8000-00000000000a", Seq: 42, At: time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC),
		ActorType: "user", ActorID: "u1", ActorName: "王小明", Via: "token:t1", Action: "record.update", ObjectType: "account",
		ObjectID: "r1", ObjectName: "A<b>&c", IP: "203.0.113.9", UserAgent: "curl/8", RequestID: "req-1",
		Changes: map[string]audit.Change{"z": {Before: 1.0, After: 2.5}, "a": {After: map[string]any{"y": true, "x": nil}}}}
	c, err := audit.Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"tenant":"0190b6a0-0000-7000-8000-00000000000a","seq":42,"at":1772357400123456,"actor_type":"user","actor_id":"u1",` +
		`"actor_name":"王小明","via":"token:t1","action":"record.update","object_type":"account","object_id":"r1",` +
		`"object_name":"A\u003cb\u003e\u0026c","ip":"203.0.113.9","user_agent":"curl/8","request_id":"req-1",` +
		`"changes":{"a":{"after":{"x":null,"y":true},"before":null},"z":{"after":2.5,"before":1}}}`
	if string(c) != want {
		t.Fatalf("canonical bytes changed:\n got %s\nwant %s", c, want)
	}
	h, err := audit.HashEvent(audit.GenesisHash, e)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h); got != "0d477bb66e80f453d296dbd45ebfecd6a7b6b6680518bc52637481e7eac0bc65" {
		t.Fatalf("event hash changed: %s", got)
	}
}

// TestCanonicalStableAcrossRoundTrips: an event built in Go, read back
// from the database (changes decoded from JSON) or from an export hashes
// alike.
func TestCanonicalStableAcrossRoundTrips(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	for i := range 40 {
		e := chEvent("t1", i)
		e.Seq = int64(i + 1)
		e.At = e.At.In(shanghai).Truncate(time.Microsecond)
		if e.Changes != nil {
			e.Changes["int"] = audit.Change{Before: 3, After: int64(1) << 40}
			e.Changes["nested"] = audit.Change{After: map[string]any{"b": []any{1, "2", nil}, "a": map[string]any{"html": "<&>"}}}
			e.Changes["bytes"] = audit.Change{After: []byte{0, 1, 2}}
		}
		want, err := audit.Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		// As the store returns it: changes decoded from their JSON, time in UTC.
		raw, err := json.Marshal(e.Changes)
		if err != nil {
			t.Fatal(err)
		}
		back := e
		back.At = e.At.UTC()
		back.Changes = nil
		if err := json.Unmarshal(raw, &back.Changes); err != nil {
			t.Fatal(err)
		}
		got, err := audit.Canonical(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d: canonical bytes differ after a JSON round trip:\n%s\n%s", i, got, want)
		}
		// Encoding twice gives the same bytes (map order does not leak).
		again, _ := audit.Canonical(e)
		if !bytes.Equal(again, want) {
			t.Fatal("canonical bytes are not deterministic")
		}
	}
	// No changes and empty changes hash alike ("{}").
	a, b := chEvent("t1", 1), chEvent("t1", 1)
	a.Changes, b.Changes = nil, map[string]audit.Change{}
	ca, _ := audit.Canonical(a)
	cb, _ := audit.Canonical(b)
	if !bytes.Equal(ca, cb) || !bytes.Contains(ca, []byte(`"changes":{}`)) {
		t.Fatalf("nil and empty changes: %s / %s", ca, cb)
	}
}

// TestEveryFieldIsHashed: changing any field of an event (but its hash)
// changes its hash.
func TestEveryFieldIsHashed(t *testing.T) {
	base := chEvent("t1", 2)
	base.Seq = 5
	h0, err := audit.HashEvent(audit.GenesisHash, base)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Hash" {
			continue
		}
		e := base
		e.Changes = map[string]audit.Change{}
		for k, v := range base.Changes {
			e.Changes[k] = v
		}
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch f.Name {
		case "TenantID":
			e.TenantID = "t2"
		case "Seq":
			e.Seq++
		case "At":
			e.At = e.At.Add(time.Microsecond)
		case "Changes":
			e.Changes["name"] = audit.Change{Before: "旧 2", After: "新 3"}
		default:
			v.SetString(v.String() + "x")
		}
		h, err := audit.HashEvent(audit.GenesisHash, e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(h, h0) {
			t.Errorf("changing %s does not change the hash", f.Name)
		}
	}
	// The previous hash is covered too.
	other := bytes.Repeat([]byte{1}, audit.HashSize)
	if h, _ := audit.HashEvent(other, base); bytes.Equal(h, h0) {
		t.Error("the previous hash is not covered")
	}
}

// TestGenesis: the first event chains onto 32 zero bytes and must be
// event 1.
func TestGenesis(t *testing.T) {
	if len(audit.GenesisHash) != audit.HashSize || !bytes.Equal(audit.GenesisHash, make([]byte, 32)) {
		t.Fatal("the genesis hash is not 32 zero bytes")
	}
	m := newChTrail("t1", 10).grow(t, 25)
	c, _ := audit.Canonical(m.events[0])
	if hex.EncodeToString(audit.ChainHash(audit.GenesisHash, c)) != m.events[0].Hash {
		t.Fatal("event 1 is not hashed onto the genesis hash")
	}
	rep := m.verify(t, 10)
	wantOK(t, rep)
	if rep.Events != 25 || rep.FirstSeq != 1 || rep.LastSeq != 25 || rep.Checkpoints != 3 || rep.Unsigned != 4 || rep.Anchored ||
		rep.LastHash != m.head.Hash {
		t.Fatalf("report %+v", rep)
	}
	if !strings.HasPrefix(rep.String(), "ok: 25 events (1 to 25), 3 checkpoints verified, 4 events after the last checkpoint") {
		t.Fatalf("report line %q", rep.String())
	}

	// A trail that starts later without an anchor misses its beginning.
	late := newChTrail("t1", 10).grow(t, 12)
	late.events = late.events[1:]
	wantBroken(t, late.verify(t, 10), 1, "event 1 is missing")

	// A first event hashed onto anything but the genesis hash fails there.
	fake := newChTrail("t1", 0)
	fake.head.Hash = hex.EncodeToString(bytes.Repeat([]byte{9}, 32))
	fake.grow(t, 3)
	wantBroken(t, fake.verify(t, 0), 1, "event 1 was changed")

	// An empty trail verifies (nothing to vouch for).
	wantOK(t, newChTrail("t1", 10).verify(t, 10))
}

// TestAnchor: after a purge the chain continues from a signed anchor.
func TestAnchor(t *testing.T) {
	build := func() *chTrail {
		m := newChTrail("t1", 10).grow(t, 60)
		last := m.events[39]
		a, _ := m.signer.Sign(audit.Checkpoint{TenantID: "t1", Kind: audit.KindAnchor, Seq: last.Seq, Hash: last.Hash, At: last.At})
		m.anchor = &a
		m.events = m.events[40:]
		var kept []audit.Checkpoint
		for _, c := range m.cps {
			if c.Seq > 40 {
				kept = append(kept, c)
			}
		}
		m.cps = kept
		return m
	}
	rep := build().verify(t, 10)
	wantOK(t, rep)
	if !rep.Anchored || rep.FirstSeq != 41 || rep.LastSeq != 60 || rep.Events != 20 || rep.Checkpoints != 2 || rep.Unsigned != 9 {
		t.Fatalf("anchored report %+v", rep)
	}

	m := build()
	m.anchor.Signature[3] ^= 1
	wantBroken(t, m.verify(t, 10), 40, "purge anchor")

	m = build()
	forged, _ := newChSigner(8).Sign(*m.anchor)
	m.anchor = &forged
	wantBroken(t, m.verify(t, 10), 40, "unknown key")

	// An anchor signed over another hash does not lead to event 41.
	m = build()
	a, _ := m.signer.Sign(audit.Checkpoint{TenantID: "t1", Kind: audit.KindAnchor, Seq: 40, Hash: m.events[0].Hash, At: m.anchor.At})
	m.anchor = &a
	wantBroken(t, m.verify(t, 10), 41, "event 41 was changed")

	// A checkpoint is no anchor: the kind is signed.
	m = build()
	c, _ := m.signer.Sign(audit.Checkpoint{TenantID: "t1", Kind: audit.KindCheckpoint, Seq: 40, Hash: m.anchor.Hash, At: m.anchor.At})
	c.Kind = audit.KindAnchor
	m.anchor = &c
	wantBroken(t, m.verify(t, 10), 40, "signature does not verify")

	// Another trail's anchor does not serve.
	m = build()
	m.anchor.TenantID = "t2"
	wantBroken(t, m.verify(t, 10), 40, "another trail")

	// An anchor with all its events gone and nothing after verifies.
	m = build()
	m.events, m.cps = nil, nil
	m.head = audit.Head{Seq: 40, Hash: m.anchor.Hash}
	rep = m.verify(t, 10)
	wantOK(t, rep)
	if rep.Events != 0 || !rep.Anchored {
		t.Fatalf("anchor only: %+v", rep)
	}

	// The verifier refuses an anchor after events.
	v := audit.NewVerifier("t1", build().signer.keys())
	m = build()
	if err := v.Anchor(*m.anchor); err != nil {
		t.Fatal(err)
	}
	if err := v.Event(m.events[0]); err != nil {
		t.Fatal(err)
	}
	if err := v.Anchor(*m.anchor); err == nil {
		t.Fatal("an anchor after events was accepted")
	}
}

// TestMaxGap: removing checkpoints leaves more events between two
// signatures than the policy allows.
func TestMaxGap(t *testing.T) {
	// Checkpoints at 1, 11, 21, 31, 41; events up to 45.
	build := func() *chTrail { return newChTrail("t1", 10).grow(t, 45) }
	drop := func(m *chTrail, seqs ...int64) *chTrail {
		var kept []audit.Checkpoint
		for _, c := range m.cps {
			if !containsSeq(seqs, c.Seq) {
				kept = append(kept, c)
			}
		}
		m.cps = kept
		return m
	}
	wantOK(t, build().verify(t, 10))
	// A middle checkpoint: the gap from 11 to 31 is 20 > 10.
	wantBroken(t, drop(build(), 21).verify(t, 10), 12, "no checkpoint covers events 12 to 30")
	// The last: 45 - 31 = 14 events unsigned.
	wantBroken(t, drop(build(), 41).verify(t, 10), 32, "no checkpoint covers events 32 to 45")
	// All of them.
	wantBroken(t, drop(build(), 1, 11, 21, 31, 41).verify(t, 10), 1, "no checkpoint covers events 1 to 45")
	// Without the rule, a checkpoint fewer goes unnoticed: that is what
	// MaxGap is for.
	wantOK(t, drop(build(), 21).verify(t, 0))
	// The first checkpoint of a trail is not measured from the genesis
	// (trails chained after the fact are first signed late); the next
	// checkpoint covers those events all the same.
	rep := drop(build(), 1).verify(t, 10)
	wantOK(t, rep)
	// A gap of exactly the policy is fine.
	exact := newChTrail("t1", 10).grow(t, 41)
	wantOK(t, exact.verify(t, 10))
}

func containsSeq(seqs []int64, s int64) bool {
	for _, x := range seqs {
		if x == s {
			return true
		}
	}
	return false
}

// TestVerifyNamesTheFirstBadEvent covers each way to tamper with the
// stored trail without the signing key.
func TestVerifyNamesTheFirstBadEvent(t *testing.T) {
	build := func() *chTrail { return newChTrail("t1", 10).grow(t, 45) }
	at := func(m *chTrail, seq int64) *audit.Event {
		for i := range m.events {
			if m.events[i].Seq == seq {
				return &m.events[i]
			}
		}
		t.Fatalf("no event %d", seq)
		return nil
	}

	m := build()
	at(m, 17).ActorName = "someone else"
	wantBroken(t, m.verify(t, 10), 17, "event 17 was changed")

	m = build()
	at(m, 18).Changes = nil
	wantBroken(t, m.verify(t, 10), 18, "event 18 was changed")

	m = build()
	at(m, 17).Hash = ""
	wantBroken(t, m.verify(t, 10), 17, "event 17 has no hash")

	m = build()
	m.events = append(m.events[:16], m.events[17:]...)
	wantBroken(t, m.verify(t, 10), 17, "event 17 is missing")

	// Reordered: 17 and 18 swap sequence numbers.
	m = build()
	at(m, 17).Seq, at(m, 18).Seq = 18, 17
	wantBroken(t, m.verify(t, 10), 17, "event 17 was changed")

	// The same event twice.
	m = build()
	m.events = append(m.events, *at(m, 17))
	wantBroken(t, m.verify(t, 10), 17, "event 17 appears again")

	// Rewritten and every later hash recomputed, head included: the next
	// signed checkpoint (21) still knows the old chain.
	m = build()
	rewrite(t, m, 17, func(e *audit.Event) { e.Action = "auth.logout" })
	wantBroken(t, m.verify(t, 10), 21, "the chain up to event 21 differs from what was signed")

	// Rewritten after the last checkpoint: nothing signed covers it.
	// That is what Unsigned reports.
	m = build()
	rewrite(t, m, 43, func(e *audit.Event) { e.Action = "auth.logout" })
	rep := m.verify(t, 10)
	wantOK(t, rep)
	if rep.Unsigned != 4 {
		t.Fatalf("unsigned %d", rep.Unsigned)
	}

	// The last events deleted (head untouched).
	m = build()
	m.events = m.events[:40]
	wantBroken(t, m.verify(t, 10), 41, "events 41 to 45 are missing from the end")

	// Deleted with the head rewound: the checkpoint at 41 names a missing event.
	m = build()
	m.events = m.events[:39]
	m.head.Seq, m.head.Hash = 39, m.events[38].Hash
	wantBroken(t, m.verify(t, 10), 41, "names an event that is missing")

	// An event appended outside the store (its hash even correct) without
	// moving the head.
	m = build()
	head := m.head
	m.grow(t, 1)
	m.head = head
	wantBroken(t, m.verify(t, 10), 46, "event 46 lies beyond the recorded head")

	// The head rewritten.
	m = build()
	m.head.Hash = m.events[10].Hash
	wantBroken(t, m.verify(t, 10), 45, "does not match the recorded head")

	// A forged signature, a checkpoint by another key, a checkpoint over
	// another hash, another trail's checkpoint.
	m = build()
	m.cps[2].Signature[0] ^= 0x80
	wantBroken(t, m.verify(t, 10), 21, "signature does not verify")
	m = build()
	m.cps[2], _ = newChSigner(9).Sign(m.cps[2])
	wantBroken(t, m.verify(t, 10), 21, "unknown key")
	m = build()
	m.cps[2].Hash = at(m, 20).Hash
	wantBroken(t, m.verify(t, 10), 21, "signature does not verify")
	m = build()
	m.cps[2].TenantID = "t2"
	wantBroken(t, m.verify(t, 10), 21, "another trail")
	// A validly signed checkpoint moved to another event.
	m = build()
	m.cps[2].Seq = 22
	wantBroken(t, m.verify(t, 10), 22, "signature does not verify")
	// An event of another trail.
	m = build()
	at(m, 30).TenantID = "t2"
	wantBroken(t, m.verify(t, 10), 30, "another trail")
}

// rewrite changes event seq and recomputes every later hash and the head,
// as someone with write access but without the signing key could.
func rewrite(t testing.TB, m *chTrail, seq int64, change func(*audit.Event)) {
	t.Helper()
	prev := audit.GenesisHash
	for i := range m.events {
		e := &m.events[i]
		if e.Seq == seq {
			change(e)
		}
		if e.Seq >= seq {
			h, err := audit.HashEvent(prev, *e)
			if err != nil {
				t.Fatal(err)
			}
			e.Hash = hex.EncodeToString(h)
		}
		prev, _ = hex.DecodeString(e.Hash)
	}
	m.head.Hash = m.events[len(m.events)-1].Hash
}

// TestVerifyWhileTheTrailGrows: events and checkpoints committed during
// the walk are growth, not tampering.
func TestVerifyWhileTheTrailGrows(t *testing.T) {
	for _, every := range []int64{1, 3, 10} {
		m := newChTrail("t1", every).grow(t, 2500) // more than one batch
		reads := 0
		m.onRead = func() {
			reads++
			// A few events (and their checkpoints) land between reads.
			for range reads % 4 {
				m.append(t, chEvent(m.tid, int(m.head.Seq)+1))
			}
		}
		rep := m.verify(t, every)
		wantOK(t, rep)
		if rep.LastSeq < 2500 || rep.LastSeq > m.head.Seq {
			t.Fatalf("every %d: verified up to %d of %d", every, rep.LastSeq, m.head.Seq)
		}
	}
}

// TestVerifyDuringPurge: a retention purge that commits while the walk
// runs removes events it had yet to read; the walk starts again from the
// new anchor instead of reporting them missing.
func TestVerifyDuringPurge(t *testing.T) {
	m := newChTrail("t1", 10).grow(t, 2500)
	reads := 0
	m.onRead = func() {
		reads++
		if reads != 3 { // after the first batch of events was read
			return
		}
		last := m.events[1499]
		a, _ := m.signer.Sign(audit.Checkpoint{TenantID: "t1", Kind: audit.KindAnchor, Seq: last.Seq, Hash: last.Hash, At: last.At})
		m.anchor = &a
		m.events = m.events[1500:]
		var kept []audit.Checkpoint
		for _, c := range m.cps {
			if c.Seq > last.Seq {
				kept = append(kept, c)
			}
		}
		m.cps = kept
	}
	rep := m.verify(t, 10)
	wantOK(t, rep)
	if !rep.Anchored || rep.FirstSeq != 1501 || rep.LastSeq != 2500 {
		t.Fatalf("after a purge during the walk: %+v", rep)
	}
}

func TestKeySet(t *testing.T) {
	s := newChSigner(1)
	c, _ := s.Sign(audit.Checkpoint{TenantID: "t1", Kind: audit.KindCheckpoint, Seq: 3, Hash: strings.Repeat("ab", 32), At: chT0})
	if err := s.keys().VerifyCheckpoint(c); err != nil {
		t.Fatal(err)
	}
	if err := (audit.KeySet{}).VerifyCheckpoint(c); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("empty key set: %v", err)
	}
	short := audit.KeySet{c.KeyID: s.pub()[:16]}
	if err := short.VerifyCheckpoint(c); err == nil {
		t.Fatal("a truncated public key verified")
	}
	// Each signed field is covered.
	for name, change := range map[string]func(*audit.Checkpoint){
		"tenant": func(c *audit.Checkpoint) { c.TenantID = "t2" }, "kind": func(c *audit.Checkpoint) { c.Kind = audit.KindAnchor },
		"seq": func(c *audit.Checkpoint) { c.Seq++ }, "hash": func(c *audit.Checkpoint) { c.Hash = strings.Repeat("cd", 32) },
		"at": func(c *audit.Checkpoint) { c.At = c.At.Add(time.Microsecond) },
	} {
		d := c
		change(&d)
		if s.keys().VerifyCheckpoint(d) == nil {
			t.Errorf("the signature does not cover the %s", name)
		}
	}
	// A key ID claimed by another key: the signature decides.
	other := newChSigner(2)
	claimed := audit.KeySet{c.KeyID: other.pub()}
	if claimed.VerifyCheckpoint(c) == nil {
		t.Fatal("a checkpoint verified under another key with the same ID")
	}
}

func TestPublicKeyFile(t *testing.T) {
	a, b := newChSigner(1), newChSigner(2)
	var buf bytes.Buffer
	if err := audit.FormatPublicKeys(&buf, append(a.publicKeys(), b.publicKeys()...)); err != nil {
		t.Fatal(err)
	}
	ks, err := audit.ParsePublicKeys(strings.NewReader("# Haven audit keys\n\n" + buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || !bytes.Equal(ks[audit.KeyID(a.pub())], a.pub()) || !bytes.Equal(ks[audit.KeyID(b.pub())], b.pub()) {
		t.Fatalf("parsed %v", ks)
	}
	// A bare key (no ID) is accepted and named by its fingerprint.
	bare := strings.Fields(strings.Split(buf.String(), "\n")[0])[1]
	if ks, err := audit.ParsePublicKeys(strings.NewReader(bare + "\n")); err != nil || ks[audit.KeyID(a.pub())] == nil {
		t.Fatalf("bare key: %v %v", ks, err)
	}
	for name, in := range map[string]string{
		"empty":         "# nothing\n",
		"not base64":    "ed25519:00 !!!\n",
		"short":         "AAAA\n",
		"wrong key ID":  audit.KeyID(b.pub()) + " " + bare + "\n",
		"private key":   "ed25519:00 " + strings.Repeat("A", 86) + "==\n",
		"three columns": audit.KeyID(a.pub()) + " " + bare + " extra\n",
	} {
		if _, err := audit.ParsePublicKeys(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRandomTamperingInMemory applies random tamperings to an in-memory
// trail, one at a time, and undoes each (the database version is in
// package store).
func TestRandomTamperingInMemory(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	m := newChTrail("t1", 10).grow(t, 150)
	m.grow(t, 5) // a few unsigned events at the end
	lastCP := m.cps[len(m.cps)-1].Seq
	for i := range 300 {
		events := append([]audit.Event(nil), m.events...)
		cps := append([]audit.Checkpoint(nil), m.cps...)
		for j := range cps {
			cps[j].Signature = append([]byte(nil), cps[j].Signature...)
		}
		head := m.head
		var desc string
		switch k := rng.Intn(6); k {
		case 0:
			j := rng.Intn(len(m.events))
			m.events[j].ObjectName += "!"
			desc = fmt.Sprintf("edit %d", m.events[j].Seq)
		case 1:
			j := rng.Intn(len(m.events))
			desc = fmt.Sprintf("delete %d", m.events[j].Seq)
			m.events = append(m.events[:j:j], m.events[j+1:]...)
		case 2:
			j := rng.Intn(len(m.events) - 1)
			m.events[j].Seq, m.events[j+1].Seq = m.events[j+1].Seq, m.events[j].Seq
			desc = fmt.Sprintf("swap %d", m.events[j].Seq)
		case 3:
			seq := int64(1 + rng.Intn(int(lastCP)))
			rewrite(t, m, seq, func(e *audit.Event) { e.IP = "198.51.100.1" })
			desc = fmt.Sprintf("rewrite %d", seq)
		case 4:
			j := 1 + rng.Intn(len(m.cps)-1) // the first is not measured from the genesis
			desc = fmt.Sprintf("drop checkpoint %d", m.cps[j].Seq)
			m.cps = append(m.cps[:j:j], m.cps[j+1:]...)
		case 5:
			j := rng.Intn(len(m.cps))
			m.cps[j].Signature[rng.Intn(64)] ^= byte(1 + rng.Intn(255))
			desc = fmt.Sprintf("forge checkpoint %d", m.cps[j].Seq)
		}
		if rep := m.verify(t, 10); rep.OK {
			t.Fatalf("tampering %d (%s) went unnoticed", i, desc)
		}
		m.events, m.cps, m.head = events, cps, head
		if rep := m.verify(t, 10); !rep.OK {
			t.Fatalf("after undoing %s: %s", desc, rep)
		}
	}
}
