package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/havencrm/haven/tenant"
)

// The hash chain.
//
// Every event of a tenant's trail (and of the platform's, tenant "") is
// hashed over its canonical bytes and the hash of the event before it:
//
//	hash(e) = SHA-256("haven/audit/event/v1" 0x00 || prev || canonical(e))
//
// where prev is the previous event's 32-byte hash, or 32 zero bytes for
// the first event. canonical(e) is the JSON object of the event's fields
// with keys in a fixed order and the changes re-encoded with sorted keys
// (encoding/json sorts map keys), so the bytes do not depend on how a
// database returned them. Changing, removing, inserting or reordering an
// event changes every later hash.
//
// Checkpoints sign the chain: an Ed25519 signature by the platform's
// audit signing key over (tenant, seq, hash, time). A signed checkpoint
// fixes everything up to its sequence number: to rewrite history one
// would need the signing key, which lives outside the database. Purging
// old events leaves a signed anchor (a checkpoint of the last purged
// event) from which the rest still verifies.

// HashSize is the size of an event hash in bytes.
const HashSize = sha256.Size

const (
	eventDomain      = "haven/audit/event/v1"
	checkpointDomain = "haven/audit/checkpoint/v1"
)

// GenesisHash is the "previous hash" of a trail's first event.
var GenesisHash = make([]byte, HashSize)

// canonicalEvent fixes the order of the hashed fields.
type canonicalEvent struct {
	V          int             `json:"v"`
	Tenant     string          `json:"tenant"`
	Seq        int64           `json:"seq"`
	At         int64           `json:"at"`
	ActorType  string          `json:"actor_type"`
	ActorID    string          `json:"actor_id"`
	ActorName  string          `json:"actor_name"`
	Via        string          `json:"via"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	ObjectName string          `json:"object_name"`
	IP         string          `json:"ip"`
	UserAgent  string          `json:"user_agent"`
	RequestID  string          `json:"request_id"`
	Changes    json.RawMessage `json:"changes"`
}

// CanonicalChanges is the canonical JSON of an event's changes: "{}" for
// none, else the map re-encoded (sorted keys, Go's number formatting).
func CanonicalChanges(changes map[string]Change) ([]byte, error) {
	if len(changes) == 0 {
		return []byte("{}"), nil
	}
	// A round trip through any makes values from the database (float64,
	// strings, maps) and values built in Go encode alike.
	b, err := json.Marshal(changes)
	if err != nil {
		return nil, fmt.Errorf("audit: encode changes: %w", err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, fmt.Errorf("audit: decode changes: %w", err)
	}
	return json.Marshal(generic)
}

// Canonical returns the bytes an event's hash covers. Times count in
// microseconds, as stored.
func Canonical(e Event) ([]byte, error) {
	changes, err := CanonicalChanges(e.Changes)
	if err != nil {
		return nil, err
	}
	return json.Marshal(canonicalEvent{
		V: 1, Tenant: string(e.TenantID), Seq: e.Seq, At: e.At.UTC().UnixMicro(),
		ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName, Via: e.Via, Action: e.Action,
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectName: e.ObjectName,
		IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Changes: changes,
	})
}

// ChainHash links canonical event bytes to the previous hash.
func ChainHash(prev, canonical []byte) []byte {
	h := sha256.New()
	h.Write([]byte(eventDomain))
	h.Write([]byte{0})
	h.Write(prev)
	h.Write(canonical)
	return h.Sum(nil)
}

// HashEvent returns e's chain hash after prev.
func HashEvent(prev []byte, e Event) ([]byte, error) {
	c, err := Canonical(e)
	if err != nil {
		return nil, err
	}
	return ChainHash(prev, c), nil
}

// Checkpoint kinds.
const (
	// KindCheckpoint signs the chain up to Seq.
	KindCheckpoint = "checkpoint"
	// KindAnchor is left by a retention purge: events up to Seq were
	// deleted, and the chain continues from Hash.
	KindAnchor = "anchor"
)

// Checkpoint is a signed statement that a trail's event Seq has Hash.
type Checkpoint struct {
	TenantID  tenant.ID `json:"tenant"`
	Kind      string    `json:"kind"`
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"` // hex
	At        time.Time `json:"at"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
}

// CheckpointMessage is what a checkpoint's signature covers.
func CheckpointMessage(c Checkpoint) []byte {
	var b bytes.Buffer
	b.WriteString(checkpointDomain)
	b.WriteByte(0)
	writeLP := func(s string) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(s)))
		b.WriteString(s)
	}
	writeLP(c.Kind)
	writeLP(string(c.TenantID))
	_ = binary.Write(&b, binary.BigEndian, c.Seq)
	writeLP(c.Hash)
	_ = binary.Write(&b, binary.BigEndian, c.At.UTC().UnixMicro())
	writeLP(c.KeyID)
	return b.Bytes()
}

// PublicKey is an audit signing public key.
type PublicKey struct {
	ID        string            `json:"key_id"`
	Key       ed25519.PublicKey `json:"public_key"`
	CreatedAt time.Time         `json:"created_at"`
}

// KeySet finds public keys by ID.
type KeySet map[string]ed25519.PublicKey

// VerifyCheckpoint checks a checkpoint's signature.
func (ks KeySet) VerifyCheckpoint(c Checkpoint) error {
	pub, ok := ks[c.KeyID]
	if !ok {
		return fmt.Errorf("checkpoint at %d is signed by unknown key %q", c.Seq, c.KeyID)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, CheckpointMessage(c), c.Signature) {
		return fmt.Errorf("checkpoint at %d: the signature does not verify", c.Seq)
	}
	return nil
}

// Problem is the first place a trail fails to verify.
type Problem struct {
	// Seq is the first event (or checkpoint) that does not verify.
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Report is the outcome of verifying a trail.
type Report struct {
	OK          bool     `json:"ok"`
	Events      int64    `json:"events"`
	Checkpoints int      `json:"checkpoints"`
	FirstSeq    int64    `json:"first_seq"`
	LastSeq     int64    `json:"last_seq"`
	LastHash    string   `json:"last_hash"`
	Anchored    bool     `json:"anchored"`
	Problem     *Problem `json:"problem,omitempty"`
	// Unsigned counts events after the last checkpoint: intact as far as
	// the chain shows, but not yet fixed by a signature.
	Unsigned int64 `json:"unsigned"`
}

// Verifier recomputes a trail event by event. Feed it the anchor (if
// any), then events in sequence order interleaved with the checkpoints
// (a checkpoint after the event it names), then call Finish.
type Verifier struct {
	keys     KeySet
	tid      tenant.ID
	prev     []byte
	next     int64 // the sequence number expected next
	hashes   map[int64]string
	report   Report
	lastSign int64
	signed   bool
	started  bool
	maxGap   int64
}

// NewVerifier starts verifying tenant tid's trail.
func NewVerifier(tid tenant.ID, keys KeySet) *Verifier {
	return &Verifier{keys: keys, tid: tid, prev: GenesisHash, next: 1, hashes: map[int64]string{}}
}

// ErrBroken is returned (wrapped) once the trail is found broken.
var ErrBroken = errors.New("audit: the trail does not verify")

func (v *Verifier) fail(seq int64, format string, args ...any) error {
	if v.report.Problem == nil {
		v.report.Problem = &Problem{Seq: seq, Reason: fmt.Sprintf(format, args...)}
	}
	return fmt.Errorf("%w: %s", ErrBroken, v.report.Problem.Reason)
}

// Anchor starts the chain after a purge: the anchor's signature must
// verify, and the next event must follow it.
func (v *Verifier) Anchor(a Checkpoint) error {
	if v.report.Problem != nil {
		return ErrBroken
	}
	if v.started {
		return v.fail(a.Seq, "a purge anchor appears after events")
	}
	if a.Kind != KindAnchor || a.TenantID != v.tid {
		return v.fail(a.Seq, "the purge anchor belongs to another trail")
	}
	if err := v.keys.VerifyCheckpoint(a); err != nil {
		return v.fail(a.Seq, "purge anchor: %v", err)
	}
	h, err := hex.DecodeString(a.Hash)
	if err != nil || len(h) != HashSize {
		return v.fail(a.Seq, "the purge anchor's hash is malformed")
	}
	v.prev, v.next, v.report.Anchored, v.lastSign, v.signed = h, a.Seq+1, true, a.Seq, true
	v.hashes[a.Seq] = a.Hash
	return nil
}

// Event checks the next event against the chain.
func (v *Verifier) Event(e Event) error {
	if v.report.Problem != nil {
		return ErrBroken
	}
	v.started = true
	switch {
	case e.TenantID != v.tid:
		return v.fail(e.Seq, "event %d belongs to another trail", e.Seq)
	case e.Seq < v.next:
		return v.fail(e.Seq, "event %d appears again or out of order (expected %d)", e.Seq, v.next)
	case e.Seq > v.next:
		return v.fail(v.next, "event %d is missing (the next event is %d)", v.next, e.Seq)
	}
	if e.Hash == "" {
		// Every event of a chained trail carries its hash (older events get
		// theirs when the server starts). A blank one would let an edit of
		// this event pass unnoticed until the next event's hash or the next
		// checkpoint, which then names the wrong event.
		return v.fail(e.Seq, "event %d has no hash", e.Seq)
	}
	h, err := HashEvent(v.prev, e)
	if err != nil {
		return v.fail(e.Seq, "event %d cannot be encoded: %v", e.Seq, err)
	}
	if e.Hash != hex.EncodeToString(h) {
		return v.fail(e.Seq, "event %d was changed (its content no longer matches its hash), or an earlier one was", e.Seq)
	}
	if v.report.Events == 0 {
		v.report.FirstSeq = e.Seq
	}
	v.prev, v.next = h, e.Seq+1
	v.report.Events++
	v.report.LastSeq, v.report.LastHash = e.Seq, hex.EncodeToString(h)
	v.hashes[e.Seq] = v.report.LastHash
	// Keep the map small: only recent hashes can be named by checkpoints
	// that arrive in order.
	delete(v.hashes, e.Seq-4096)
	return nil
}

// Checkpoint checks a signed checkpoint against the recomputed chain.
func (v *Verifier) Checkpoint(c Checkpoint) error {
	if v.report.Problem != nil {
		return ErrBroken
	}
	if c.TenantID != v.tid || c.Kind != KindCheckpoint {
		return v.fail(c.Seq, "checkpoint at %d belongs to another trail", c.Seq)
	}
	if err := v.keys.VerifyCheckpoint(c); err != nil {
		return v.fail(c.Seq, "%v", err)
	}
	want, ok := v.hashes[c.Seq]
	switch {
	case c.Seq >= v.next:
		return v.fail(c.Seq, "checkpoint at %d names an event that is missing", c.Seq)
	case !ok:
		// Before the verified range (an older anchor) or too far back.
		return nil
	case want != c.Hash:
		return v.fail(c.Seq, "the chain up to event %d differs from what was signed at %s: events up to %d were changed, removed, inserted or reordered",
			c.Seq, c.At.UTC().Format(time.RFC3339), c.Seq)
	}
	if v.maxGap > 0 && v.signed && c.Seq-v.lastSign > v.maxGap {
		return v.fail(v.lastSign+1, "no checkpoint covers events %d to %d: checkpoints were removed", v.lastSign+1, c.Seq-1)
	}
	v.report.Checkpoints++
	v.lastSign, v.signed = max(v.lastSign, c.Seq), true
	return nil
}

// Finish closes the verification. head, when known (the database's
// record of the last sequence number), must be the last event seen.
func (v *Verifier) Finish(headSeq int64, headHash string) Report {
	if v.report.Problem == nil && headSeq > 0 {
		switch {
		case headSeq > v.report.LastSeq && headSeq >= v.next:
			_ = v.fail(v.next, "events %d to %d are missing from the end of the trail", v.next, headSeq)
		case headHash != "" && headSeq == v.report.LastSeq && headHash != v.report.LastHash:
			_ = v.fail(headSeq, "the last event does not match the recorded head of the trail")
		}
	}
	if v.report.Problem == nil && v.maxGap > 0 && v.report.LastSeq-v.lastSign > v.maxGap {
		_ = v.fail(v.lastSign+1, "no checkpoint covers events %d to %d: checkpoints were removed", v.lastSign+1, v.report.LastSeq)
	}
	v.report.OK = v.report.Problem == nil
	if v.report.OK {
		v.report.Unsigned = max(0, v.report.LastSeq-v.lastSign)
	}
	return v.report
}
