package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/havencrm/haven/tenant"
)

// The export format: JSON Lines, one object per line, each with a "type":
//
//	{"type":"header", "format":"haven-audit/v1", "tenant":…, "exported_at":…, "exported_by":…, "public_keys":[…]}
//	{"type":"anchor", …checkpoint}       (only after a retention purge)
//	{"type":"event", …event, "hash":…}   (in sequence order)
//	{"type":"checkpoint", …checkpoint}   (after the event it signs)
//	{"type":"end", "events":…, "checkpoints":…, "last_seq":…, "last_hash":…}
//
// Everything needed to verify the trail is in the file except trust in the
// public key, which the verifier supplies separately (--public-key), so a
// file carrying its own forged key does not verify itself. The header is
// informational: nothing in it is trusted.
//
// The end line is not signed; it only tells a complete file from one cut
// short (an interrupted download), which would otherwise verify as a
// shorter trail. Whoever rewrites the file can rewrite it too: only
// events up to the last checkpoint are fixed by a signature.

// ExportFormat names the format in the header line.
const ExportFormat = "haven-audit/v1"

// KeyID names an Ed25519 public key by its fingerprint.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// ExportHeader is the first line of an export.
type ExportHeader struct {
	Type       string      `json:"type"`
	Format     string      `json:"format"`
	Tenant     tenant.ID   `json:"tenant"`
	ExportedAt time.Time   `json:"exported_at"`
	ExportedBy string      `json:"exported_by"`
	PublicKeys []PublicKey `json:"public_keys"`
}

// exportEvent is an event line; fields as hashed.
type exportEvent struct {
	Type       string            `json:"type"`
	Seq        int64             `json:"seq"`
	At         time.Time         `json:"at"`
	ActorType  string            `json:"actor_type"`
	ActorID    string            `json:"actor_id"`
	ActorName  string            `json:"actor_name"`
	Via        string            `json:"via,omitempty"`
	Action     string            `json:"action"`
	ObjectType string            `json:"object_type"`
	ObjectID   string            `json:"object_id"`
	ObjectName string            `json:"object_name"`
	IP         string            `json:"ip"`
	UserAgent  string            `json:"user_agent"`
	RequestID  string            `json:"request_id"`
	Changes    map[string]Change `json:"changes,omitempty"`
	Hash       string            `json:"hash"`
}

type exportCheckpoint struct {
	Type string `json:"type"`
	Checkpoint
}

// exportEnd is the last line of an export: what it holds.
type exportEnd struct {
	Type        string `json:"type"`
	Events      int64  `json:"events"`
	Checkpoints int64  `json:"checkpoints"`
	LastSeq     int64  `json:"last_seq"`
	LastHash    string `json:"last_hash"`
}

// endType is the type of the end line.
const endType = "end"

// Export writes a trail as JSON Lines, streaming it from the store: the
// newest anchor, every event from there with its hash, and every
// checkpoint after the event it signs. Values of encrypted fields stay in
// their sealed form: they are what the hashes cover.
func Export(ctx context.Context, st ChainStore, tid tenant.ID, keys []PublicKey, exportedBy string, now time.Time, w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ExportHeader{Type: "header", Format: ExportFormat, Tenant: tid, ExportedAt: now.UTC(), ExportedBy: exportedBy, PublicKeys: keys}); err != nil {
		return err
	}
	anchor, err := st.AuditAnchor(ctx, tid)
	if err != nil {
		return err
	}
	var after int64
	end := exportEnd{Type: endType}
	if anchor != nil {
		if err := enc.Encode(exportCheckpoint{Type: KindAnchor, Checkpoint: *anchor}); err != nil {
			return err
		}
		after = anchor.Seq
		end.LastSeq = anchor.Seq
	}
	cpAfter := after
	var pending []Checkpoint
	cpDone := false
	for {
		events, err := st.AuditEventsAfter(ctx, tid, after, batch)
		if err != nil {
			return err
		}
		// As in Verify: the trail may have grown since the last short
		// read of checkpoints, so look again for each batch.
		cpDone = false
		for _, e := range events {
			if err := enc.Encode(exportEvent{Type: "event", Seq: e.Seq, At: e.At, ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName,
				Via: e.Via, Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectName: e.ObjectName, IP: e.IP,
				UserAgent: e.UserAgent, RequestID: e.RequestID, Changes: e.Changes, Hash: e.Hash}); err != nil {
				return err
			}
			end.Events++
			end.LastSeq, end.LastHash = e.Seq, e.Hash
			for !cpDone && (len(pending) == 0 || pending[len(pending)-1].Seq <= e.Seq) {
				more, err := st.AuditCheckpoints(ctx, tid, cpAfter, batch)
				if err != nil {
					return err
				}
				for _, c := range more {
					if c.Kind == KindCheckpoint {
						pending = append(pending, c)
					}
					cpAfter = c.Seq
				}
				cpDone = len(more) < batch
			}
			for len(pending) > 0 && pending[0].Seq <= e.Seq {
				if err := enc.Encode(exportCheckpoint{Type: KindCheckpoint, Checkpoint: pending[0]}); err != nil {
					return err
				}
				end.Checkpoints++
				pending = pending[1:]
			}
			after = e.Seq
		}
		if len(events) < batch {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := enc.Encode(end); err != nil {
		return err
	}
	return bw.Flush()
}

// ParsePublicKeys reads trusted public keys: one per line, the base64 of
// the 32-byte Ed25519 key, optionally after its key ID ("ed25519:… KEY");
// blank lines and lines starting with # are skipped.
func ParsePublicKeys(r io.Reader) (KeySet, error) {
	ks := KeySet{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		raw, err := base64.StdEncoding.DecodeString(fields[len(fields)-1])
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key file line %d: not a base64 Ed25519 public key", line)
		}
		pub := ed25519.PublicKey(raw)
		if len(fields) == 2 && fields[0] != KeyID(pub) {
			return nil, fmt.Errorf("public key file line %d: key ID %s does not match the key (%s)", line, fields[0], KeyID(pub))
		}
		ks[KeyID(pub)] = pub
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, errors.New("the public key file holds no key")
	}
	return ks, nil
}

// FormatPublicKeys writes keys in the format ParsePublicKeys reads.
func FormatPublicKeys(w io.Writer, keys []PublicKey) error {
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s %s\n", k.ID, base64.StdEncoding.EncodeToString(k.Key)); err != nil {
			return err
		}
	}
	return nil
}

// maxLine bounds one line of an export (an event with large changes).
const maxLine = 16 << 20

// VerifyJSONL verifies an exported trail offline against trusted keys:
// no server and no database, only the file and the public keys.
func VerifyJSONL(r io.Reader, keys KeySet, opts VerifyOptions) (Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var v *Verifier
	var end *exportEnd
	var checkpoints int64
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(strings.TrimSpace(string(raw))) == 0 {
			continue
		}
		if end != nil {
			return Report{}, fmt.Errorf("line %d: the export goes on after its end line", line)
		}
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &kind); err != nil {
			return Report{}, fmt.Errorf("line %d: not JSON: %w", line, err)
		}
		if v == nil {
			var h ExportHeader
			if kind.Type != "header" || json.Unmarshal(raw, &h) != nil || h.Format != ExportFormat {
				return Report{}, fmt.Errorf("line %d: not a Haven audit export (the first line must be its %s header)", line, ExportFormat)
			}
			v = NewVerifier(h.Tenant, keys)
			v.maxGap = opts.MaxGap
			continue
		}
		switch kind.Type {
		case "event":
			var e exportEvent
			if err := strictDecode(raw, &e); err != nil {
				return Report{}, fmt.Errorf("line %d: %w", line, err)
			}
			ev := Event{TenantID: v.tid, Seq: e.Seq, At: e.At, ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName, Via: e.Via,
				Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectName: e.ObjectName, IP: e.IP, UserAgent: e.UserAgent,
				RequestID: e.RequestID, Changes: e.Changes, Hash: e.Hash}
			if v.Event(ev) != nil {
				return v.Finish(0, ""), nil
			}
		case KindCheckpoint, KindAnchor:
			var c exportCheckpoint
			if err := strictDecode(raw, &c); err != nil {
				return Report{}, fmt.Errorf("line %d: %w", line, err)
			}
			// The line's kind and tenant are what the signature covers: they
			// are checked as written, not filled in from the line type and
			// the header.
			if c.Checkpoint.Kind != kind.Type {
				return Report{}, fmt.Errorf("line %d: a %s line holds a checkpoint of kind %q", line, kind.Type, c.Checkpoint.Kind)
			}
			var err error
			if kind.Type == KindAnchor {
				err = v.Anchor(c.Checkpoint)
			} else {
				checkpoints++
				err = v.Checkpoint(c.Checkpoint)
			}
			if err != nil {
				return v.Finish(0, ""), nil
			}
		case endType:
			end = &exportEnd{}
			if err := strictDecode(raw, end); err != nil {
				return Report{}, fmt.Errorf("line %d: %w", line, err)
			}
		default:
			return Report{}, fmt.Errorf("line %d: unknown line type %q", line, kind.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return Report{}, err
	}
	if v == nil {
		return Report{}, errors.New("the file is empty")
	}
	last := v.next - 1 // the last event, or the anchor
	switch {
	case end == nil:
		_ = v.fail(v.next, "the export stops after event %d without its end line: the file is cut short", last)
	case end.LastSeq > last || end.Events > v.report.Events:
		_ = v.fail(v.next, "events %d to %d are missing from the export", v.next, end.LastSeq)
	case end.LastSeq != last || end.Events != v.report.Events || end.Checkpoints != checkpoints || end.LastHash != v.report.LastHash:
		_ = v.fail(last, "the export's end line does not match its events and checkpoints (%d events to %d, %d checkpoints)",
			end.Events, end.LastSeq, end.Checkpoints)
	}
	return v.Finish(0, ""), nil
}

// strictDecode decodes one line into dst refusing unknown keys, and keys
// that match a field only case-insensitively (which encoding/json would
// accept), so that two spellings of one line cannot both verify.
func strictDecode(raw []byte, dst any) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return err
	}
	known := map[string]bool{}
	jsonNames(reflect.TypeOf(dst).Elem(), known)
	for k := range keys {
		if !known[k] {
			return fmt.Errorf("unknown field %q", k)
		}
	}
	// The same holds for the before/after of each change.
	if changes, ok := keys["changes"]; ok {
		var cs map[string]map[string]json.RawMessage
		if err := json.Unmarshal(changes, &cs); err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		for field, c := range cs {
			for k := range c {
				if k != "before" && k != "after" {
					return fmt.Errorf("changes of %q: unknown field %q", field, k)
				}
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

// jsonNames adds the JSON names of t's fields, including those of
// embedded structs, which encoding/json flattens.
func jsonNames(t reflect.Type, known map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			jsonNames(f.Type, known)
			continue
		}
		if name == "" {
			name = f.Name
		}
		known[name] = true
	}
}
