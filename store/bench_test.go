package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/havencrm/haven/internal/testkeys"
	"testing"
	"time"

	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// The benchmarks put Haven's record paths beside bare SQL of the same row
// shape on the same database, so one run gives the overhead ratios:
//
//	go test ./store/ -run '^$' -bench . -benchtime 2s
//
// Create: validation, lookup checks, version, JSON encoding, the audit
// event and its sequence, all in one transaction, against one INSERT in a
// transaction. Get and List: tenant-fenced transactions, permission checks
// and JSON decoding against bare SELECTs returning the same rows.

var benchFields = map[string]any{
	"name": "上海锐思精密制造有限公司", "industry": "manufacturing", "type": "customer", "phone": "021-62345678",
	"email": "sales@ruisi.example.com", "website": "https://ruisi.example.com", "annual_revenue": 125000000.5,
	"employees": 830.0, "city": "上海", "address": "上海市浦东新区张江路 88 号",
}

func benchValues(b *testing.B, i int) records.Values {
	b.Helper()
	v := records.Values{}
	for k, val := range benchFields {
		if k == "name" {
			val = fmt.Sprintf("%s %d", val, i)
		}
		raw, err := json.Marshal(val)
		if err != nil {
			b.Fatal(err)
		}
		v[k] = raw
	}
	return v
}

func benchEngines(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) { fn(b, testdb.Open(b, engine)) })
	}
}

func BenchmarkRecordCreate(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		res := newTenant(b, db, "bench")
		svc := records.NewService(db, testkeys.Keyring(b, db, nil), nil)
		actor := adminActor(res)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := svc.Create(ctx, actor, "account", "", benchValues(b, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawInsert(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		res := newTenant(b, db, "bench")
		raw := store.RawWriter(db)
		ctx := context.Background()
		q := store.Rebind(db, `INSERT INTO records (tenant_id, id, object, version, owner_id, name, fields, created_at, updated_at, created_by, updated_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		fields, _ := json.Marshal(benchFields)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			tx, err := raw.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now().UnixMicro()
			if _, err := tx.ExecContext(ctx, q, string(res.Tenant.ID), tenant.NewID(), "account", 1, res.Admin.ID,
				fmt.Sprintf("name %d", i), string(fields), now, now, res.Admin.ID, res.Admin.ID); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// seedBench creates n accounts and returns their IDs.
func seedBench(b *testing.B, db *store.DB, n int) (tenant.Actor, []string) {
	res := newTenant(b, db, "bench")
	svc := records.NewService(db, testkeys.Keyring(b, db, nil), nil)
	actor := adminActor(res)
	ids := make([]string, 0, n)
	err := db.WriteTx(context.Background(), res.Tenant.ID, func(ctx context.Context) error {
		for i := range n {
			r, err := svc.Create(ctx, actor, "account", "", benchValues(b, i))
			if err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return actor, ids
}

func BenchmarkRecordGet(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		actor, ids := seedBench(b, db, 200)
		svc := records.NewService(db, testkeys.Keyring(b, db, nil), nil)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := svc.Get(ctx, actor, "account", ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawSelectOne(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		actor, ids := seedBench(b, db, 200)
		raw := store.RawReader(db)
		ctx := context.Background()
		q := store.Rebind(db, `SELECT id, object, version, owner_id, name, fields, created_at, updated_at, created_by, updated_by
			FROM records WHERE tenant_id = ? AND object = ? AND id = ?`)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			var id, object, owner, name, cb, ub string
			var fields []byte
			var version, created, updated int64
			if err := raw.QueryRowContext(ctx, q, string(actor.TenantID), "account", ids[i%len(ids)]).
				Scan(&id, &object, &version, &owner, &name, &fields, &created, &updated, &cb, &ub); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const benchPage = 50

func BenchmarkRecordList(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		actor, _ := seedBench(b, db, 1000)
		svc := records.NewService(db, testkeys.Keyring(b, db, nil), nil)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			items, _, err := svc.List(ctx, actor, "account", records.ListQuery{Limit: benchPage})
			if err != nil || len(items) != benchPage {
				b.Fatal(len(items), err)
			}
		}
	})
}

func BenchmarkRawSelectPage(b *testing.B) {
	benchEngines(b, func(b *testing.B, db *store.DB) {
		actor, _ := seedBench(b, db, 1000)
		raw := store.RawReader(db)
		ctx := context.Background()
		q := store.Rebind(db, `SELECT id, object, version, owner_id, name, fields, created_at, updated_at, created_by, updated_by
			FROM records WHERE tenant_id = ? AND object = ? ORDER BY created_at DESC, id DESC LIMIT ?`)
		b.ResetTimer()
		for b.Loop() {
			rows, err := raw.QueryContext(ctx, q, string(actor.TenantID), "account", benchPage)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var id, object, owner, name, cb, ub string
				var fields []byte
				var version, created, updated int64
				if err := rows.Scan(&id, &object, &version, &owner, &name, &fields, &created, &updated, &cb, &ub); err != nil {
					b.Fatal(err)
				}
				n++
			}
			rows.Close()
			if n != benchPage {
				b.Fatal(n)
			}
		}
	})
}
