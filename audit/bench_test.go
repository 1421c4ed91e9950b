package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/audit/auditkey"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testkeys"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// Benchmarks of the hash chain, on both engines:
//
//	go test ./audit/ -run '^$' -bench . -benchtime 3s
//	(PostgreSQL with HAVEN_TEST_POSTGRES_URL set)
//
// BenchmarkAuditedWrite: what a change pays for its audit event. One
// write transaction updating a record, against the same transaction
// also appending the event (sequence, canonical encoding, hash, head) and
// signing a checkpoint when due, at the default policy (every 100 events
// or 10 minutes).
//
// BenchmarkVerifySpeed: events verified per second over a stored trail
// of 20,000 events: audit.Verify reading the database, VerifyJSONL over
// the trail's export, and, as the floor, the bare SHA-256 chain over the
// same canonical bytes (and the canonical encoding plus hash without any
// reading).

// benchEngines runs fn on each engine (PostgreSQL skipped without it).
func benchEngines(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	for _, engine := range testdb.Engines() {
		b.Run(engine, func(b *testing.B) { fn(b, testdb.Open(b, engine)) })
	}
}

// benchTenant provisions a tenant and returns its admin.
func benchTenant(b *testing.B, db *store.DB) (tenant.Actor, *records.Service) {
	b.Helper()
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		b.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, nil)
	recs := records.NewService(db, testkeys.Keyring(b, db, nil), nil)
	res, err := provision.New(db, recs, ids, nil).CreateTenant(context.Background(), provision.Input{Slug: "bench", Name: "Bench", AdminEmail: "admin@bench.example.com"})
	if err != nil {
		b.Fatal(err)
	}
	return tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Name: res.Admin.Name, Role: access.RoleAdmin,
		IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (bench)", RequestID: "bench"}, recs
}

// defaultCheckpoints signs at the default policy with a fresh key.
func defaultCheckpoints(b *testing.B, db *store.DB) *auditkey.Keys {
	b.Helper()
	signer, err := auditkey.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(signer.Close)
	db.SetAuditCheckpointer(audit.CheckpointPolicy{Every: audit.DefaultCheckpointEvery, Interval: audit.DefaultCheckpointInterval, Signer: signer})
	return signer
}

func BenchmarkAuditedWrite(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		defaultCheckpoints(b, db)
		actor, recs := benchTenant(b, db)
		ctx := context.Background()
		// Updates go round a set of records, as real ones spread over
		// many rows (one row updated thousands of times measures bloat).
		recs200 := make([]records.Record, 200)
		for i := range recs200 {
			created, err := recs.Create(ctx, actor, "account", "", records.Values{"name": []byte(fmt.Sprintf(`"上海锐思精密制造有限公司 %d"`, i)),
				"phone": []byte(`"021-62345678"`)})
			if err != nil {
				b.Fatal(err)
			}
			if recs200[i], err = db.Record(ctx, actor.TenantID, "account", created.ID); err != nil {
				b.Fatal(err)
			}
		}
		update := func(i int, withAudit bool) error {
			rec := &recs200[i%len(recs200)]
			return db.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
				before := map[string]any{"name": rec.Fields["name"]}
				rec.Version++
				rec.Fields["name"] = fmt.Sprintf("上海锐思精密制造有限公司 %d", i)
				rec.UpdatedAt = time.Now()
				if err := db.UpdateRecord(ctx, actor.TenantID, *rec); err != nil {
					return err
				}
				if !withAudit {
					return nil
				}
				ev := audit.New(actor, rec.UpdatedAt, audit.ActionRecordUpdated, "account", rec.ID, rec.Name)
				ev.Changes = audit.Diff(before, map[string]any{"name": rec.Fields["name"]})
				return db.AppendAudit(ctx, ev)
			})
		}
		for _, withAudit := range []bool{false, true} {
			name := "update"
			if withAudit {
				name = "update+audit"
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := update(i, withAudit); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// benchTrailEvents is the length of the trail the verification
// benchmarks read.
const benchTrailEvents = 20_000

func BenchmarkVerifySpeed(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		signer := defaultCheckpoints(b, db)
		actor, _ := benchTenant(b, db)
		ctx := context.Background()
		tid := actor.TenantID
		head, err := db.AuditHead(ctx, tid)
		if err != nil {
			b.Fatal(err)
		}
		at := time.Now().Add(-time.Hour)
		for done := int(head.Seq); done < benchTrailEvents; {
			err := db.WriteTx(ctx, tid, func(ctx context.Context) error {
				for i := 0; i < 500 && done < benchTrailEvents; i++ {
					ev := audit.New(actor, at.Add(time.Duration(done)*time.Millisecond), audit.ActionRecordUpdated, "account",
						fmt.Sprintf("0190b6a0-0000-7000-8000-%012d", done%1000), fmt.Sprintf("客户 %d", done))
					ev.Changes = map[string]audit.Change{"name": {Before: fmt.Sprintf("旧名 %d", done), After: fmt.Sprintf("新名 %d", done)},
						"annual_revenue": {Before: float64(done), After: float64(done) + 0.5}}
					if err := db.AppendAudit(ctx, ev); err != nil {
						return err
					}
					done++
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		keys := signer.KeySet()
		opts := audit.VerifyOptions{MaxGap: audit.DefaultCheckpointEvery}
		perSecond := func(b *testing.B, n int) {
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		}
		b.Run("stored", func(b *testing.B) {
			for b.Loop() {
				rep, err := audit.Verify(ctx, db, tid, keys, opts)
				if err != nil || !rep.OK || rep.Events != benchTrailEvents {
					b.Fatalf("%v %v", rep, err)
				}
			}
			perSecond(b, benchTrailEvents)
		})
		var export bytes.Buffer
		if err := audit.Export(ctx, db, tid, signer.PublicKeys(), "bench", time.Now(), &export); err != nil {
			b.Fatal(err)
		}
		b.Run("jsonl", func(b *testing.B) {
			b.SetBytes(int64(export.Len()))
			for b.Loop() {
				rep, err := audit.VerifyJSONL(bytes.NewReader(export.Bytes()), keys, opts)
				if err != nil || !rep.OK || rep.Events != benchTrailEvents {
					b.Fatalf("%v %v", rep, err)
				}
			}
			perSecond(b, benchTrailEvents)
		})
		events, err := db.AuditEventsAfter(ctx, tid, 0, benchTrailEvents)
		if err != nil || len(events) != benchTrailEvents {
			b.Fatalf("%d events, %v", len(events), err)
		}
		canonical := make([][]byte, len(events))
		for i, e := range events {
			if canonical[i], err = audit.Canonical(e); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("hash-events", func(b *testing.B) {
			for b.Loop() {
				prev := audit.GenesisHash
				for _, e := range events {
					if prev, err = audit.HashEvent(prev, e); err != nil {
						b.Fatal(err)
					}
				}
			}
			perSecond(b, benchTrailEvents)
		})
		b.Run("sha256-chain", func(b *testing.B) {
			for b.Loop() {
				prev := audit.GenesisHash
				for _, c := range canonical {
					prev = audit.ChainHash(prev, c)
				}
				if fmt.Sprintf("%x", prev) != events[len(events)-1].Hash {
					b.Fatal("the bare chain does not reach the stored head")
				}
			}
			perSecond(b, benchTrailEvents)
		})
		b.Logf("%s: export of %d events is %d bytes", db.Dialect(), benchTrailEvents, export.Len())
	})
}
