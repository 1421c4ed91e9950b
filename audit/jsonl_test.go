package audit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

var chExportedAt = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// exportOf exports the in-memory trail.
func exportOf(t testing.TB, m *chTrail) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := audit.Export(context.Background(), m, m.tid, m.signer.publicKeys(), "Admin (u1)", chExportedAt, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verifyFile(t testing.TB, file []byte, keys audit.KeySet) (audit.Report, error) {
	t.Helper()
	return audit.VerifyJSONL(bytes.NewReader(file), keys, audit.VerifyOptions{MaxGap: 10})
}

// splitLines returns the file's lines without their newlines.
func splitLines(file []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(file, []byte("\n")), []byte("\n"))
}

func joinLines(lines [][]byte) []byte {
	return append(bytes.Join(lines, []byte("\n")), '\n')
}

// TestExportVerifies: an export verifies offline with the same result as
// the stored trail, and its lines are what the format says.
func TestExportVerifies(t *testing.T) {
	m := newChTrail("0190b6a0-0000-7000-8000-00000000000a", 10).grow(t, 45)
	file := exportOf(t, m)
	rep, err := verifyFile(t, file, m.signer.keys())
	if err != nil {
		t.Fatal(err)
	}
	stored := m.verify(t, 10)
	wantOK(t, rep)
	if !reflect.DeepEqual(rep, stored) {
		t.Fatalf("offline %+v\nstored %+v", rep, stored)
	}
	lines := splitLines(file)
	if len(lines) != 1+45+5+1 {
		t.Fatalf("%d lines", len(lines))
	}
	var h audit.ExportHeader
	if err := json.Unmarshal(lines[0], &h); err != nil || h.Type != "header" || h.Format != audit.ExportFormat ||
		h.Tenant != m.tid || h.ExportedBy != "Admin (u1)" || !h.ExportedAt.Equal(chExportedAt) || len(h.PublicKeys) != 1 {
		t.Fatalf("header %s (%v)", lines[0], err)
	}
	var end map[string]any
	if err := json.Unmarshal(lines[len(lines)-1], &end); err != nil || end["type"] != "end" || end["events"] != 45.0 ||
		end["checkpoints"] != 5.0 || end["last_seq"] != 45.0 || end["last_hash"] != m.head.Hash {
		t.Fatalf("end line %s", lines[len(lines)-1])
	}
	// Each checkpoint follows the event it signs.
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"type":"checkpoint"`)) {
			var c, e struct{ Seq int64 }
			_ = json.Unmarshal(l, &c)
			_ = json.Unmarshal(lines[i-1], &e)
			if c.Seq != e.Seq {
				t.Fatalf("checkpoint %d follows event %d", c.Seq, e.Seq)
			}
		}
	}

	// A trail that grows while it is exported still exports a file that
	// verifies (checkpoints of events not exported stay out).
	g := newChTrail("t1", 3).grow(t, 2200)
	reads := 0
	g.onRead = func() {
		reads++
		for range reads % 3 {
			g.append(t, chEvent(g.tid, int(g.head.Seq)+1))
		}
	}
	if rep, err := verifyFile(t, exportOf(t, g), g.signer.keys()); err != nil || !rep.OK || rep.LastSeq < 2200 {
		t.Fatalf("export of a growing trail: %v %v", rep, err)
	}
}

func TestExportAnchored(t *testing.T) {
	m := newChTrail("t1", 10).grow(t, 30)
	last := m.events[19]
	a, _ := m.signer.Sign(audit.Checkpoint{TenantID: "t1", Kind: audit.KindAnchor, Seq: last.Seq, Hash: last.Hash, At: last.At})
	m.anchor, m.events, m.cps = &a, m.events[20:], m.cps[2:]
	file := exportOf(t, m)
	rep, err := verifyFile(t, file, m.signer.keys())
	if err != nil || !rep.OK || !rep.Anchored || rep.FirstSeq != 21 || rep.Events != 10 {
		t.Fatalf("anchored export: %+v %v", rep, err)
	}
	if !bytes.HasPrefix(splitLines(file)[1], []byte(`{"type":"anchor"`)) {
		t.Fatalf("second line %s", splitLines(file)[1])
	}
	// Everything gone but the anchor.
	m.events, m.cps = nil, nil
	if rep, err := verifyFile(t, exportOf(t, m), m.signer.keys()); err != nil || !rep.OK || rep.Events != 0 {
		t.Fatalf("anchor-only export: %+v %v", rep, err)
	}
}

// TestExportCutShort: a file cut anywhere fails, though every event in
// it is authentic; the end line tells a complete file from a prefix.
func TestExportCutShort(t *testing.T) {
	m := newChTrail("t1", 10).grow(t, 25)
	file := exportOf(t, m)
	// Cut at every line end, and in the middle of every line.
	lines := splitLines(file)
	n := 0
	for _, l := range lines[:len(lines)-1] {
		for _, cut := range []int{n + len(l)/2, n + len(l) + 1} {
			rep, err := verifyFile(t, file[:cut], m.signer.keys())
			if err == nil && rep.OK {
				t.Fatalf("the first %d of %d bytes verified: %s", cut, len(file), rep)
			}
		}
		n += len(l) + 1
	}
	rep, err := verifyFile(t, joinLines(lines[:len(lines)-1]), m.signer.keys())
	if err != nil || rep.OK || !strings.Contains(rep.Problem.Reason, "without its end line") || rep.Problem.Seq != 26 {
		t.Fatalf("without the end line: %v %v", rep, err)
	}
	// The end line must be the last.
	extra := joinLines(append(append([][]byte{}, lines...), lines[len(lines)-2]))
	if _, err := verifyFile(t, extra, m.signer.keys()); err == nil || !strings.Contains(err.Error(), "after its end line") {
		t.Fatalf("a line after the end line: %v", err)
	}
	if _, err := verifyFile(t, nil, m.signer.keys()); err == nil {
		t.Fatal("an empty file verified")
	}
	if _, err := verifyFile(t, joinLines(lines[1:]), m.signer.keys()); err == nil || !strings.Contains(err.Error(), "header") {
		t.Fatalf("a file without its header: %v", err)
	}
}

// TestForgedKeyInTheFile: someone who rewrites the trail and re-signs it
// with a key of their own, listing that key in the header, gains
// nothing: only the keys the verifier brings are trusted.
func TestForgedKeyInTheFile(t *testing.T) {
	m := newChTrail("t1", 10).grow(t, 45)
	real := m.signer
	// The forger rewrites event 5, rehashes, re-signs with its own key.
	forger := newChSigner(66)
	rewrite(t, m, 5, func(e *audit.Event) { e.ActorName = "nobody" })
	m.signer = forger
	for i, c := range m.cps {
		for _, e := range m.events {
			if e.Seq == c.Seq {
				c.Hash = e.Hash
			}
		}
		m.cps[i], _ = forger.Sign(c)
	}
	file := exportOf(t, m) // the header now lists the forger's key
	if !bytes.Contains(splitLines(file)[0], []byte(base64.StdEncoding.EncodeToString(forger.pub()))) {
		t.Fatal("the forged header does not carry the forger's key")
	}
	rep, err := verifyFile(t, file, real.keys())
	if err != nil || rep.OK || rep.Problem.Seq != 1 || !strings.Contains(rep.Problem.Reason, "unknown key") {
		t.Fatalf("forged file against the real key: %v %v", rep, err)
	}
	// The forger's key under the real key's ID fares no better.
	claimed := audit.KeySet{audit.KeyID(real.pub()): real.pub()}
	for i := range m.cps {
		m.cps[i].KeyID = audit.KeyID(real.pub())
	}
	rep, err = verifyFile(t, exportOf(t, m), claimed)
	if err != nil || rep.OK || rep.Problem.Seq != 1 || !strings.Contains(rep.Problem.Reason, "signature does not verify") {
		t.Fatalf("forged signatures under the real key ID: %v %v", rep, err)
	}
	// Whoever trusts the file's own key is fooled: that is why the key
	// comes from elsewhere.
	if rep, err := verifyFile(t, file, forger.keys()); err != nil || !rep.OK {
		t.Fatalf("sanity: the forged file under the forger's key: %v %v", rep, err)
	}
}

// TestCheckpointByAnotherKey: one checkpoint signed by a key the verifier
// does not trust breaks the file there.
func TestCheckpointByAnotherKey(t *testing.T) {
	m := newChTrail("t1", 10).grow(t, 45)
	keys := m.signer.keys()
	m.cps[2], _ = newChSigner(3).Sign(m.cps[2])
	rep, err := verifyFile(t, exportOf(t, m), keys)
	if err != nil || rep.OK || rep.Problem.Seq != 21 {
		t.Fatalf("checkpoint by another key: %v %v", rep, err)
	}
	// Trusting both keys (a rotation) verifies.
	both := m.signer.keys()
	for id, k := range newChSigner(3).keys() {
		both[id] = k
	}
	if rep, err := verifyFile(t, exportOf(t, m), both); err != nil || !rep.OK {
		t.Fatalf("two trusted keys: %v %v", rep, err)
	}
}

// TestStrictLines: every line is read exactly as written; other
// spellings, unknown fields and checkpoints of another trail fail.
func TestStrictLines(t *testing.T) {
	m := newChTrail("t1", 10).grow(t, 12)
	file := exportOf(t, m)
	keys := m.signer.keys()
	lines := splitLines(file)
	edit := func(i int, from, to string) []byte {
		out := append([][]byte{}, lines...)
		if !bytes.Contains(out[i], []byte(from)) {
			t.Fatalf("line %d has no %q: %s", i, from, out[i])
		}
		out[i] = bytes.Replace(out[i], []byte(from), []byte(to), 1)
		return joinLines(out)
	}
	// lines: 0 header, 1 event 1, 2 checkpoint 1, 3 event 2, 4 event 3 (with changes)...
	for name, tampered := range map[string][]byte{
		"key case":             edit(1, `"actor_name"`, `"Actor_name"`),
		"unknown field":        edit(1, `"actor_name"`, `"actor_nick":"x","actor_name"`),
		"change key case":      edit(5, `"before"`, `"Before"`),
		"unknown change field": edit(5, `"before"`, `"old":1,"before"`),
		"checkpoint tenant":    edit(2, `"tenant":"t1"`, `"tenant":"t2"`),
		"checkpoint kind":      edit(2, `"kind":"checkpoint"`, `"kind":"anchor"`),
		"anchor line":          edit(2, `"type":"checkpoint"`, `"type":"anchor"`),
		"header tenant":        edit(0, `"tenant":"t1"`, `"tenant":"t2"`),
		"header format":        edit(0, audit.ExportFormat, "haven-audit/v0"),
		"unknown line":         edit(3, `"type":"event"`, `"type":"note"`),
		"end count":            edit(len(lines)-1, `"checkpoints":2`, `"checkpoints":3`),
		"end hash":             edit(len(lines)-1, m.head.Hash[:8], "00000000"),
		"event hash case":      edit(1, m.events[0].Hash[:8], strings.ToUpper(m.events[0].Hash[:8])),
		"not json":             edit(3, `{`, `[`),
	} {
		rep, err := verifyFile(t, tampered, keys)
		if err == nil && rep.OK {
			t.Errorf("%s: verified", name)
		}
	}
	// The header is informational: who exported and when is not covered.
	rep, err := verifyFile(t, edit(0, `"exported_by":"Admin (u1)"`, `"exported_by":"someone"`), keys)
	if err != nil || !rep.OK {
		t.Fatalf("header edit: %v %v", rep, err)
	}
}

// semantic is what a line says, independent of spelling the verifier
// reads alike (a signature's unused base64 bits, a time's notation).
func semantic(line []byte) (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		return nil, false
	}
	if s, ok := m["signature"].(string); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, false
		}
		m["signature"] = hex.EncodeToString(b)
	}
	if s, ok := m["at"].(string); ok {
		var at time.Time
		if json.Unmarshal([]byte(strconv.Quote(s)), &at) != nil {
			return nil, false
		}
		m["at"] = at.UnixMicro()
	}
	return m, true
}

// TestRandomTamperingOfExports: 1,000 random edits of an export, one at
// a time, each undone before the next: byte changes, deleted, swapped,
// repeated and forged lines, checkpoints signed by another key. Every
// one that changes what the file says must fail verification.
func TestRandomTamperingOfExports(t *testing.T) {
	rng := rand.New(rand.NewSource(2026))
	m := newChTrail("0190b6a0-0000-7000-8000-00000000000a", 10).grow(t, 50)
	m.grow(t, 4)
	file := exportOf(t, m)
	keys := m.signer.keys()
	lines := splitLines(file)
	other := newChSigner(99)
	var eventLines, cpLines []int
	for i, l := range lines {
		switch {
		case bytes.HasPrefix(l, []byte(`{"type":"event"`)):
			eventLines = append(eventLines, i)
		case bytes.HasPrefix(l, []byte(`{"type":"checkpoint"`)):
			cpLines = append(cpLines, i)
		}
	}
	lastCPLine := cpLines[len(cpLines)-1]
	kinds := map[string]int{}
	skipped := 0
	for applied := 0; applied < 1000; {
		tampered := append([][]byte{}, lines...)
		var kind string
		switch rng.Intn(7) {
		case 0, 1: // a byte of an event, checkpoint or end line
			kind = "byte"
			i := 1 + rng.Intn(len(lines)-1)
			l := append([]byte{}, lines[i]...)
			l[rng.Intn(len(l))] = byte(32 + rng.Intn(95))
			if rng.Intn(10) == 0 {
				l[rng.Intn(len(l))] = byte(rng.Intn(256)) // any byte, invalid UTF-8 included
			}
			before, _ := semantic(lines[i])
			after, ok := semantic(l)
			if ok && reflect.DeepEqual(before, after) {
				skipped++ // the same content spelt differently
				continue
			}
			tampered[i] = l
		case 2:
			kind = "delete line"
			i := rng.Intn(len(lines))
			tampered = append(tampered[:i:i], tampered[i+1:]...)
		case 3:
			kind = "swap lines"
			i, j := rng.Intn(len(lines)), rng.Intn(len(lines))
			if i > j {
				i, j = j, i
			}
			if i == j || j == i+1 && slices.Contains(cpLines, i) && slices.Contains(eventLines, j) {
				// A checkpoint may come any time after the event it signs
				// (one signed while the export ran comes later): moving it
				// past the next event changes nothing.
				skipped++
				continue
			}
			tampered[i], tampered[j] = tampered[j], tampered[i]
		case 4:
			kind = "repeat line"
			i, j := rng.Intn(len(lines)), rng.Intn(len(lines))
			tampered = append(tampered[:j:j], append([][]byte{lines[i]}, tampered[j:]...)...)
		case 5:
			// A forged event in the signed part, chained onto the event
			// before it exactly as a real one would be.
			kind = "forged event"
			i := eventLines[rng.Intn(len(eventLines))]
			if i >= lastCPLine {
				continue
			}
			prev := eventFromLine(t, m.tid, lines[i])
			forged := chEvent(m.tid, 9999)
			forged.TenantID, forged.Seq, forged.At = m.tid, prev.Seq+1, prev.At
			ph, _ := hex.DecodeString(prev.Hash)
			h, err := audit.HashEvent(ph, forged)
			if err != nil {
				t.Fatal(err)
			}
			forged.Hash = hex.EncodeToString(h)
			tampered = append(tampered[:i+1:i+1], append([][]byte{eventLine(t, forged)}, tampered[i+1:]...)...)
		case 6:
			kind = "checkpoint by another key"
			i := cpLines[rng.Intn(len(cpLines))]
			var c struct {
				audit.Checkpoint
				Type string `json:"type"`
			}
			if err := json.Unmarshal(lines[i], &c); err != nil {
				t.Fatal(err)
			}
			s, _ := other.Sign(c.Checkpoint)
			if rng.Intn(2) == 0 {
				s.KeyID = c.KeyID // the trusted key's ID, another key's signature
			}
			c.Checkpoint = s
			tampered[i], _ = json.Marshal(c)
		}
		rep, err := verifyFile(t, joinLines(tampered), keys)
		if err == nil && rep.OK {
			t.Fatalf("tampering %d (%s) went unnoticed", applied, kind)
		}
		kinds[kind]++
		applied++
		// Undo: the original, byte for byte, verifies again.
		if applied%100 == 0 {
			if rep, err := verifyFile(t, joinLines(lines), keys); err != nil || !rep.OK {
				t.Fatalf("the original after %d tamperings: %v %v", applied, rep, err)
			}
		}
	}
	if skipped > 50 {
		t.Fatalf("%d edits changed nothing the verifier reads: the oracle is too loose", skipped)
	}
	t.Logf("detected: %v; %d edits left the content unchanged", kinds, skipped)
}

// TestVerifyJSONLReadsLongLines: an event with large changes fits.
func TestVerifyJSONLReadsLongLines(t *testing.T) {
	m := newChTrail("t1", 10)
	e := chEvent("t1", 2)
	e.Changes["notes"] = audit.Change{After: strings.Repeat("备注", 200_000)}
	m.append(t, e)
	rep, err := audit.VerifyJSONL(io.MultiReader(bytes.NewReader(exportOf(t, m))), m.signer.keys(), audit.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("%v %v", rep, err)
	}
}

// lineEvent mirrors an event line of the export format.
type lineEvent struct {
	Type       string                  `json:"type"`
	Seq        int64                   `json:"seq"`
	At         time.Time               `json:"at"`
	ActorType  string                  `json:"actor_type"`
	ActorID    string                  `json:"actor_id"`
	ActorName  string                  `json:"actor_name"`
	Via        string                  `json:"via,omitempty"`
	Action     string                  `json:"action"`
	ObjectType string                  `json:"object_type"`
	ObjectID   string                  `json:"object_id"`
	ObjectName string                  `json:"object_name"`
	IP         string                  `json:"ip"`
	UserAgent  string                  `json:"user_agent"`
	RequestID  string                  `json:"request_id"`
	Changes    map[string]audit.Change `json:"changes,omitempty"`
	Hash       string                  `json:"hash"`
}

func eventFromLine(t testing.TB, tid tenant.ID, line []byte) audit.Event {
	t.Helper()
	var l lineEvent
	if err := json.Unmarshal(line, &l); err != nil {
		t.Fatal(err)
	}
	return audit.Event{TenantID: tid, Seq: l.Seq, At: l.At, ActorType: l.ActorType, ActorID: l.ActorID, ActorName: l.ActorName, Via: l.Via,
		Action: l.Action, ObjectType: l.ObjectType, ObjectID: l.ObjectID, ObjectName: l.ObjectName, IP: l.IP, UserAgent: l.UserAgent,
		RequestID: l.RequestID, Changes: l.Changes, Hash: l.Hash}
}

func eventLine(t testing.TB, e audit.Event) []byte {
	t.Helper()
	b, err := json.Marshal(lineEvent{Type: "event", Seq: e.Seq, At: e.At, ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName,
		Via: e.Via, Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectName: e.ObjectName, IP: e.IP,
		UserAgent: e.UserAgent, RequestID: e.RequestID, Changes: e.Changes, Hash: e.Hash})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
