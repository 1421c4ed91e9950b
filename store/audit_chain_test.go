package store_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/audit/auditkey"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// The tamper tests work the way someone with database access would: with
// the application's role, then as the tables' owner, then with the
// append-only triggers switched off. The triggers stop the first two;
// against the third only the hash chain and the signed checkpoints
// stand, and verification must name where the trail was changed.

// chainEvery is the checkpoint policy of these tests: a signed checkpoint
// every 10 events (at 1, 11, 21, ...), never by time.
const chainEvery = 10

type chainDB struct {
	t      testing.TB
	engine string
	db     *store.DB
	raw    *sql.DB
	tid    tenant.ID
	keys   audit.KeySet
	signer *auditkey.Keys
	// triggers holds SQLite's trigger definitions while they are dropped.
	triggers []string
}

// newChainDB provisions a tenant on a fresh database whose appends sign
// checkpoints, and grows its trail to n events.
func newChainDB(t testing.TB, engine string, n int) *chainDB {
	t.Helper()
	db := testdb.Open(t, engine)
	signer, err := auditkey.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(signer.Close)
	db.SetAuditCheckpointer(audit.CheckpointPolicy{Every: chainEvery, Interval: 24 * time.Hour, Signer: signer})
	res := newTenant(t, db, "chain")
	c := &chainDB{t: t, engine: engine, db: db, raw: store.RawWriter(db), tid: res.Tenant.ID, keys: signer.KeySet(), signer: signer}
	c.grow(n - int(c.head().Seq))
	return c
}

// grow appends n events with varied fields and changes.
func (c *chainDB) grow(n int) {
	c.t.Helper()
	ctx := context.Background()
	err := c.db.WriteTx(ctx, c.tid, func(ctx context.Context) error {
		for i := range n {
			actor := tenant.Actor{Kind: tenant.ActorUser, TenantID: c.tid, UserID: fmt.Sprintf("u%d", i%5), Name: []string{"王小明", "Alice"}[i%2],
				IP: fmt.Sprintf("10.0.0.%d", i%200), UserAgent: "test", RequestID: fmt.Sprintf("r%d", i)}
			ev := audit.New(actor, time.Now(), "record.update", "account", fmt.Sprintf("rec-%d", i%17), fmt.Sprintf("客户 %d", i))
			ev.Changes = map[string]audit.Change{"n": {Before: float64(i), After: float64(i + 1)}, "name": {Before: "a", After: fmt.Sprint("b", i)}}
			if err := c.db.AppendAudit(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *chainDB) head() audit.Head {
	c.t.Helper()
	h, err := c.db.AuditHead(context.Background(), c.tid)
	if err != nil {
		c.t.Fatal(err)
	}
	return h
}

func (c *chainDB) q(query string) string { return store.Rebind(c.db, query) }

// exec runs SQL on the owner's connection, outside the application's
// transactions.
func (c *chainDB) exec(query string, args ...any) {
	c.t.Helper()
	if _, err := c.raw.ExecContext(context.Background(), c.q(query), args...); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
}

func (c *chainDB) verify() audit.Report {
	c.t.Helper()
	rep, err := audit.Verify(context.Background(), c.db, c.tid, c.keys, audit.VerifyOptions{MaxGap: chainEvery})
	if err != nil {
		c.t.Fatalf("verify: %v", err)
	}
	return rep
}

func (c *chainDB) wantOK() audit.Report {
	c.t.Helper()
	rep := c.verify()
	if !rep.OK {
		c.t.Fatalf("want a verified trail, got %s", rep)
	}
	return rep
}

func (c *chainDB) wantBroken(seq int64, reason string) {
	c.t.Helper()
	rep := c.verify()
	if rep.OK || rep.Problem == nil {
		c.t.Fatalf("tampering went unnoticed: %s", rep)
	}
	if rep.Problem.Seq != seq || !strings.Contains(rep.Problem.Reason, reason) {
		c.t.Fatalf("want broken at %d (%q), got %s", seq, reason, rep)
	}
}

// unprotect switches the append-only triggers off, as the owner of the
// tables can.
func (c *chainDB) unprotect() {
	c.t.Helper()
	if c.engine == "postgres" {
		c.exec(`ALTER TABLE audit_events DISABLE TRIGGER USER`)
		c.exec(`ALTER TABLE audit_checkpoints DISABLE TRIGGER USER`)
		return
	}
	rows, err := c.raw.Query(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('audit_events', 'audit_checkpoints')`)
	if err != nil {
		c.t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			c.t.Fatal(err)
		}
		names = append(names, name)
		c.triggers = append(c.triggers, def)
	}
	rows.Close()
	if len(names) < 4 {
		c.t.Fatalf("found only the triggers %v", names)
	}
	for _, name := range names {
		c.exec(`DROP TRIGGER ` + name)
	}
}

// protect switches them on again.
func (c *chainDB) protect() {
	c.t.Helper()
	if c.engine == "postgres" {
		c.exec(`ALTER TABLE audit_events ENABLE TRIGGER USER`)
		c.exec(`ALTER TABLE audit_checkpoints ENABLE TRIGGER USER`)
		return
	}
	for _, def := range c.triggers {
		c.exec(def)
	}
	c.triggers = nil
}

// eventRow is a stored audit event, column for column.
type eventRow struct {
	Seq, At                                                    int64
	ActorType, ActorID, ActorName, Via, Action                 string
	ObjectType, ObjectID, ObjectName, IP, UserAgent, RequestID string
	Changes, Hash                                              string
}

const eventRowCols = `seq, at, actor_type, actor_id, actor_name, via, action, object_type, object_id, object_name, ip, user_agent, request_id, changes, hash`

func (c *chainDB) event(seq int64) eventRow {
	c.t.Helper()
	var r eventRow
	err := c.raw.QueryRow(c.q(`SELECT `+eventRowCols+` FROM audit_events WHERE tenant_id = ? AND seq = ?`), string(c.tid), seq).Scan(
		&r.Seq, &r.At, &r.ActorType, &r.ActorID, &r.ActorName, &r.Via, &r.Action, &r.ObjectType, &r.ObjectID, &r.ObjectName,
		&r.IP, &r.UserAgent, &r.RequestID, &r.Changes, &r.Hash)
	if err != nil {
		c.t.Fatalf("event %d: %v", seq, err)
	}
	return r
}

func (c *chainDB) insertEvent(r eventRow) {
	c.t.Helper()
	c.exec(`INSERT INTO audit_events (tenant_id, `+eventRowCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(c.tid), r.Seq, r.At, r.ActorType, r.ActorID, r.ActorName, r.Via, r.Action, r.ObjectType, r.ObjectID, r.ObjectName,
		r.IP, r.UserAgent, r.RequestID, r.Changes, r.Hash)
}

type checkpointRow struct {
	Kind      string
	Seq, At   int64
	Hash      string
	KeyID     string
	Signature []byte
}

func (c *chainDB) checkpoints() []checkpointRow {
	c.t.Helper()
	rows, err := c.raw.Query(c.q(`SELECT kind, seq, at, hash, key_id, signature FROM audit_checkpoints WHERE tenant_id = ? ORDER BY seq`), string(c.tid))
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []checkpointRow
	for rows.Next() {
		var r checkpointRow
		if err := rows.Scan(&r.Kind, &r.Seq, &r.At, &r.Hash, &r.KeyID, &r.Signature); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (c *chainDB) insertCheckpoint(r checkpointRow) {
	c.t.Helper()
	c.exec(`INSERT INTO audit_checkpoints (tenant_id, kind, seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(c.tid), r.Kind, r.Seq, r.Hash, r.At, r.KeyID, r.Signature)
}

// setHashes stores hashes (by sequence number) in one statement.
func (c *chainDB) setHashes(hashes map[int64]string) {
	c.t.Helper()
	if len(hashes) == 0 {
		return
	}
	var b strings.Builder
	var args []any
	b.WriteString(`UPDATE audit_events SET hash = CASE seq`)
	var lo, hi int64 = 1 << 62, 0
	for seq, h := range hashes {
		b.WriteString(` WHEN ? THEN ?`)
		args = append(args, seq, h)
		lo, hi = min(lo, seq), max(hi, seq)
	}
	b.WriteString(` ELSE hash END WHERE tenant_id = ? AND seq BETWEEN ? AND ?`)
	c.exec(b.String(), append(args, string(c.tid), lo, hi)...)
}

// rewrite changes event seq's actor and recomputes the hash of it and of
// every later event, and the head: all one can do without the signing
// key. It returns the undo.
func (c *chainDB) rewrite(seq int64) (undo func()) {
	c.t.Helper()
	ctx := context.Background()
	evs, err := c.db.AuditEventsAfter(ctx, c.tid, seq-1, 1<<20)
	if err != nil {
		c.t.Fatal(err)
	}
	prev := audit.GenesisHash
	if seq > 1 {
		prev, _ = hex.DecodeString(c.event(seq - 1).Hash)
	}
	old, next := map[int64]string{}, map[int64]string{}
	orig := evs[0].ActorName
	evs[0].ActorName = "Mallory"
	for _, e := range evs {
		h, err := audit.HashEvent(prev, e)
		if err != nil {
			c.t.Fatal(err)
		}
		old[e.Seq], next[e.Seq] = e.Hash, hex.EncodeToString(h)
		prev = h
	}
	head := c.head()
	c.exec(`UPDATE audit_events SET actor_name = 'Mallory' WHERE tenant_id = ? AND seq = ?`, string(c.tid), seq)
	c.setHashes(next)
	c.exec(`UPDATE audit_heads SET last_hash = ? WHERE tenant_id = ?`, hex.EncodeToString(prev), string(c.tid))
	return func() {
		c.exec(`UPDATE audit_events SET actor_name = ? WHERE tenant_id = ? AND seq = ?`, orig, string(c.tid), seq)
		c.setHashes(old)
		c.exec(`UPDATE audit_heads SET last_hash = ? WHERE tenant_id = ?`, head.Hash, string(c.tid))
	}
}

// TestAuditTriggersRefuseChanges: neither the application's role nor the
// tables' owner can update or delete audit events or checkpoints while
// the triggers stand.
func TestAuditTriggersRefuseChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		engine := db.Dialect()
		if engine != "sqlite" {
			engine = "postgres"
		}
		c := newChainDB(t, engine, 25)
		before := c.event(12)
		cps := c.checkpoints()
		if len(cps) != 3 || cps[1].Seq != 11 {
			t.Fatalf("checkpoints %+v", cps)
		}
		ctx := context.Background()
		statements := []struct {
			sql  string
			args []any
		}{
			{`UPDATE audit_events SET actor_name = 'Mallory' WHERE tenant_id = ? AND seq = ?`, []any{string(c.tid), 12}},
			{`UPDATE audit_events SET hash = '' WHERE tenant_id = ? AND seq = ?`, []any{string(c.tid), 12}},
			{`UPDATE audit_events SET seq = 1000 WHERE tenant_id = ? AND seq = ?`, []any{string(c.tid), 12}},
			{`DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, []any{string(c.tid), 12}},
			{`DELETE FROM audit_events WHERE tenant_id = ?`, []any{string(c.tid)}},
			{`UPDATE audit_checkpoints SET signature = ? WHERE tenant_id = ? AND seq = ?`, []any{[]byte("forged"), string(c.tid), 11}},
			{`UPDATE audit_checkpoints SET kind = 'anchor' WHERE tenant_id = ? AND seq = ?`, []any{string(c.tid), 11}},
			{`DELETE FROM audit_checkpoints WHERE tenant_id = ? AND seq = ?`, []any{string(c.tid), 11}},
		}
		for _, st := range statements {
			// As the application, in its own transaction.
			err := c.db.WriteTx(ctx, c.tid, func(ctx context.Context) error {
				_, err := store.RawExec(ctx, c.q(st.sql), st.args...)
				return err
			})
			if err == nil || !refused(err) {
				t.Errorf("the application ran %q: %v", st.sql, err)
			}
			// As the owner of the tables.
			_, err = c.raw.ExecContext(ctx, c.q(st.sql), st.args...)
			if err == nil || !refused(err) {
				t.Errorf("the owner ran %q: %v", st.sql, err)
			}
		}
		if after := c.event(12); after != before {
			t.Fatalf("event 12 changed: %+v", after)
		}
		if got := c.checkpoints(); len(got) != len(cps) || string(got[1].Signature) != string(cps[1].Signature) {
			t.Fatal("checkpoints changed")
		}
		c.wantOK()
	})
}

// refused reports whether err is the database refusing a change of the
// audit tables (a trigger, or on PostgreSQL the missing privilege).
func refused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "append-only") || strings.Contains(msg, "permanent") || strings.Contains(msg, "permission denied")
}

// TestAuditTamperingIsNamed: with the triggers off, each kind of change
// to the stored trail is found, at the event it concerns.
func TestAuditTamperingIsNamed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		engine := "sqlite"
		if db.Dialect() != "sqlite" {
			engine = "postgres"
		}
		// 45 events: checkpoints at 1, 11, 21, 31, 41; 42 to 45 unsigned.
		c := newChainDB(t, engine, 45)
		rep := c.wantOK()
		if rep.Events != 45 || rep.Checkpoints != 5 || rep.Unsigned != 4 {
			t.Fatalf("report %+v", rep)
		}
		c.unprotect()
		tid := string(c.tid)

		t.Run("field", func(t *testing.T) {
			for col, val := range map[string]any{"actor_name": "Mallory", "action": "auth.logout", "object_id": "other", "ip": "198.51.100.7",
				"via": "token:x", "changes": `{"n":{"after":1,"before":0}}`, "at": int64(1)} {
				orig := c.event(17)
				c.exec(`UPDATE audit_events SET `+col+` = ? WHERE tenant_id = ? AND seq = ?`, val, tid, 17)
				c.wantBroken(17, "event 17 was changed")
				c.exec(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, tid, 17)
				c.insertEvent(orig)
				c.wantOK()
			}
			// Changes that are not even JSON: still a broken event, not a
			// failure to read the trail.
			orig := c.event(18)
			c.exec(`UPDATE audit_events SET changes = 'garbage' WHERE tenant_id = ? AND seq = ?`, tid, 18)
			c.wantBroken(18, "event 18 was changed")
			c.exec(`UPDATE audit_events SET changes = ? WHERE tenant_id = ? AND seq = ?`, orig.Changes, tid, 18)
			c.exec(`UPDATE audit_events SET hash = '' WHERE tenant_id = ? AND seq = ?`, tid, 18)
			c.wantBroken(18, "event 18 has no hash")
			c.exec(`UPDATE audit_events SET hash = ? WHERE tenant_id = ? AND seq = ?`, orig.Hash, tid, 18)
			c.wantOK()
		})
		t.Run("delete", func(t *testing.T) {
			for _, seq := range []int64{1, 17, 45} {
				orig := c.event(seq)
				c.exec(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, tid, seq)
				c.wantBroken(seq, "missing")
				c.insertEvent(orig)
				c.wantOK()
			}
		})
		t.Run("reorder", func(t *testing.T) {
			swap := func(a, b int64) {
				c.exec(`UPDATE audit_events SET seq = -1 WHERE tenant_id = ? AND seq = ?`, tid, a)
				c.exec(`UPDATE audit_events SET seq = ? WHERE tenant_id = ? AND seq = ?`, a, tid, b)
				c.exec(`UPDATE audit_events SET seq = ? WHERE tenant_id = ? AND seq = -1`, b, tid)
			}
			swap(17, 30)
			c.wantBroken(17, "event 17 was changed")
			swap(17, 30)
			c.wantOK()
		})
		t.Run("forged event", func(t *testing.T) {
			// Inserting needs no trigger off: it is how events are written.
			c.protect()
			defer c.unprotect()
			forged := c.event(45)
			forged.Seq, forged.ActorName, forged.Hash = 46, "Mallory", strings.Repeat("ab", 32)
			c.insertEvent(forged)
			c.wantBroken(46, "event 46 was changed")
			// Even with a hash that chains: the head does not know it.
			e := c.event(45)
			prev, _ := hex.DecodeString(e.Hash)
			evs, _ := c.db.AuditEventsAfter(context.Background(), c.tid, 45, 1)
			h, _ := audit.HashEvent(prev, evs[0])
			c.unprotect()
			c.exec(`UPDATE audit_events SET hash = ? WHERE tenant_id = ? AND seq = 46`, hex.EncodeToString(h), tid)
			c.wantBroken(46, "lies beyond the recorded head")
			// Moving the head along is undetectable for events after the last
			// checkpoint: that is what "unsigned" counts.
			c.exec(`UPDATE audit_heads SET last_seq = 46, last_hash = ? WHERE tenant_id = ?`, hex.EncodeToString(h), tid)
			if rep := c.wantOK(); rep.Unsigned != 5 {
				t.Fatalf("unsigned %d", rep.Unsigned)
			}
			c.exec(`UPDATE audit_heads SET last_seq = 45, last_hash = ? WHERE tenant_id = ?`, e.Hash, tid)
			c.exec(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = 46`, tid)
			c.protect()
			c.wantOK()
		})
		t.Run("rewrite with recomputed hashes", func(t *testing.T) {
			undo := c.rewrite(17)
			c.wantBroken(21, "the chain up to event 21 differs from what was signed")
			undo()
			c.wantOK()
			undo = c.rewrite(41)
			c.wantBroken(41, "differs from what was signed")
			undo()
			// After the last checkpoint nothing signed covers the events.
			undo = c.rewrite(43)
			c.wantOK()
			undo()
			c.wantOK()
		})
		t.Run("checkpoints", func(t *testing.T) {
			cps := c.checkpoints()
			byseq := map[int64]checkpointRow{}
			for _, cp := range cps {
				byseq[cp.Seq] = cp
			}
			for seq, want := range map[int64]int64{11: 2, 21: 12, 31: 22, 41: 32} {
				c.exec(`DELETE FROM audit_checkpoints WHERE tenant_id = ? AND seq = ?`, tid, seq)
				c.wantBroken(want, "checkpoints were removed")
				c.insertCheckpoint(byseq[seq])
				c.wantOK()
			}
			c.exec(`DELETE FROM audit_checkpoints WHERE tenant_id = ?`, tid)
			c.wantBroken(1, "no checkpoint covers events 1 to 45")
			for _, cp := range cps {
				c.insertCheckpoint(cp)
			}
			c.wantOK()

			// A signature changed, a checkpoint by another key, a forged
			// checkpoint where there was none, a signed one moved.
			sig := append([]byte(nil), byseq[21].Signature...)
			sig[5] ^= 1
			c.exec(`UPDATE audit_checkpoints SET signature = ? WHERE tenant_id = ? AND seq = 21`, sig, tid)
			c.wantBroken(21, "signature does not verify")
			c.exec(`UPDATE audit_checkpoints SET signature = ? WHERE tenant_id = ? AND seq = 21`, byseq[21].Signature, tid)
			c.wantOK()

			other := ed25519.NewKeyFromSeed(make([]byte, 32))
			otherID := audit.KeyID(other.Public().(ed25519.PublicKey))
			e25 := c.event(25)
			forged := audit.Checkpoint{TenantID: c.tid, Kind: audit.KindCheckpoint, Seq: 25, Hash: e25.Hash, At: time.UnixMicro(e25.At).UTC(), KeyID: otherID}
			forged.Signature = ed25519.Sign(other, audit.CheckpointMessage(forged))
			c.insertCheckpoint(checkpointRow{Kind: "checkpoint", Seq: 25, At: e25.At, Hash: e25.Hash, KeyID: otherID, Signature: forged.Signature})
			c.wantBroken(25, "unknown key")
			c.exec(`UPDATE audit_checkpoints SET key_id = ? WHERE tenant_id = ? AND seq = 25`, byseq[21].KeyID, tid)
			c.wantBroken(25, "signature does not verify")
			c.exec(`DELETE FROM audit_checkpoints WHERE tenant_id = ? AND seq = 25`, tid)
			c.wantOK()

			c.exec(`UPDATE audit_checkpoints SET seq = 22 WHERE tenant_id = ? AND seq = 21`, tid)
			c.wantBroken(22, "signature does not verify")
			c.exec(`UPDATE audit_checkpoints SET seq = 21 WHERE tenant_id = ? AND seq = 22`, tid)
			c.wantOK()
		})
		t.Run("head", func(t *testing.T) {
			h := c.head()
			c.exec(`UPDATE audit_heads SET last_hash = ? WHERE tenant_id = ?`, c.event(44).Hash, tid)
			c.wantBroken(45, "does not match the recorded head")
			c.exec(`UPDATE audit_heads SET last_hash = ? WHERE tenant_id = ?`, h.Hash, tid)
			c.wantOK()
		})
		c.protect()
		c.wantOK()
		// The triggers are back: they refuse again.
		if _, err := c.raw.ExecContext(context.Background(), c.q(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = 3`), tid); err == nil {
			t.Fatal("the triggers did not come back")
		}
	})
}

// TestAuditRandomTampering applies 1,000 random tamperings to a trail of
// a few hundred events, one at a time: each must be found at the right
// event, and once undone the trail must verify again. PostgreSQL runs it
// too unless -short.
func TestAuditRandomTampering(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		engine := "sqlite"
		if db.Dialect() != "sqlite" {
			engine = "postgres"
			if testing.Short() {
				t.Skip("the PostgreSQL run of the random tampering test is skipped with -short")
			}
		}
		const n = 250
		c := newChainDB(t, engine, n)
		c.unprotect()
		cps := c.checkpoints()
		lastCP := cps[len(cps)-1].Seq
		if lastCP != 241 {
			t.Fatalf("last checkpoint at %d", lastCP)
		}
		tid := string(c.tid)
		cpAfter := func(seq int64) int64 { // the first checkpoint at or after seq
			for _, cp := range cps {
				if cp.Seq >= seq {
					return cp.Seq
				}
			}
			return 0
		}
		iterations := 1000
		if raceEnabled() {
			// The race detector slows the pure-Go SQLite driver about
			// tenfold; 1,000 rounds would take minutes there. A plain
			// "go test" runs them all.
			iterations = 200
		}
		if v := os.Getenv("HAVEN_TAMPER_ITERATIONS"); v != "" {
			if _, err := fmt.Sscan(v, &iterations); err != nil {
				t.Fatalf("HAVEN_TAMPER_ITERATIONS: %v", err)
			}
		}
		rng := rand.New(rand.NewSource(20261129))
		cols := []string{"actor_name", "action", "object_type", "object_id", "object_name", "ip", "user_agent", "request_id", "actor_id", "actor_type", "via", "changes", "at", "hash"}
		counts := map[string]int{}
		start := time.Now()
		for i := range iterations {
			var kind string
			var want int64
			var undo func()
			switch rng.Intn(9) {
			case 0, 1:
				seq := 1 + rng.Int63n(n)
				col := cols[rng.Intn(len(cols))]
				kind, want = "edit "+col, seq
				orig := c.event(seq)
				switch col {
				case "at":
					c.exec(`UPDATE audit_events SET at = at + 1 WHERE tenant_id = ? AND seq = ?`, tid, seq)
				case "changes":
					c.exec(`UPDATE audit_events SET changes = ? WHERE tenant_id = ? AND seq = ?`, `{"n":{"after":-1,"before":-2}}`, tid, seq)
				case "hash":
					c.exec(`UPDATE audit_events SET hash = ? WHERE tenant_id = ? AND seq = ?`, strings.Repeat("0", 64), tid, seq)
				default:
					c.exec(`UPDATE audit_events SET `+col+` = `+col+` || '~' WHERE tenant_id = ? AND seq = ?`, tid, seq)
				}
				undo = func() {
					c.exec(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, tid, seq)
					c.insertEvent(orig)
				}
			case 2:
				seq := 1 + rng.Int63n(n)
				kind, want = "delete event", seq
				orig := c.event(seq)
				c.exec(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, tid, seq)
				undo = func() { c.insertEvent(orig) }
			case 3:
				a, b := 1+rng.Int63n(n), 1+rng.Int63n(n)
				if a == b {
					continue
				}
				kind, want = "swap events", min(a, b)
				swap := func() {
					c.exec(`UPDATE audit_events SET seq = -1 WHERE tenant_id = ? AND seq = ?`, tid, a)
					c.exec(`UPDATE audit_events SET seq = ? WHERE tenant_id = ? AND seq = ?`, a, tid, b)
					c.exec(`UPDATE audit_events SET seq = ? WHERE tenant_id = ? AND seq = -1`, b, tid)
				}
				swap()
				undo = swap
			case 4:
				seq := 1 + rng.Int63n(lastCP)
				kind, want = "rewrite and rehash", cpAfter(seq)
				undo = c.rewrite(seq)
			case 5:
				j := 1 + rng.Intn(len(cps)-1) // the first checkpoint is not measured from the genesis
				kind, want = "delete checkpoint", cps[j-1].Seq+1
				c.exec(`DELETE FROM audit_checkpoints WHERE tenant_id = ? AND seq = ?`, tid, cps[j].Seq)
				cp := cps[j]
				undo = func() { c.insertCheckpoint(cp) }
			case 6:
				cp := cps[rng.Intn(len(cps))]
				kind, want = "forge signature", cp.Seq
				sig := append([]byte(nil), cp.Signature...)
				sig[rng.Intn(len(sig))] ^= byte(1 + rng.Intn(255))
				c.exec(`UPDATE audit_checkpoints SET signature = ? WHERE tenant_id = ? AND seq = ?`, sig, tid, cp.Seq)
				undo = func() {
					c.exec(`UPDATE audit_checkpoints SET signature = ? WHERE tenant_id = ? AND seq = ?`, cp.Signature, tid, cp.Seq)
				}
			case 7:
				seq := 1 + rng.Int63n(n)
				if cpAfter(seq) == seq {
					continue
				}
				kind, want = "forged checkpoint", seq
				e := c.event(seq)
				sig := make([]byte, ed25519.SignatureSize)
				rng.Read(sig)
				c.insertCheckpoint(checkpointRow{Kind: "checkpoint", Seq: seq, At: e.At, Hash: e.Hash, KeyID: cps[0].KeyID, Signature: sig})
				undo = func() { c.exec(`DELETE FROM audit_checkpoints WHERE tenant_id = ? AND seq = ?`, tid, seq) }
			case 8:
				kind, want = "forged event", n+1
				forged := c.event(n)
				forged.Seq, forged.ObjectName = n+1, "forged"
				c.insertEvent(forged)
				undo = func() { c.exec(`DELETE FROM audit_events WHERE tenant_id = ? AND seq = ?`, tid, n+1) }
			}
			rep := c.verify()
			if rep.OK || rep.Problem == nil || rep.Problem.Seq != want {
				t.Fatalf("tampering %d (%s): want broken at %d, got %s", i, kind, want, rep)
			}
			undo()
			if rep := c.verify(); !rep.OK {
				t.Fatalf("after undoing tampering %d (%s): %s", i, kind, rep)
			}
			counts[kind]++
		}
		c.protect()
		t.Logf("%s: %d tamperings found and undone in %s: %v", engine, iterations, time.Since(start).Round(time.Millisecond), counts)
	})
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
