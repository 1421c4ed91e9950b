package keyops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testkeys"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/keyops"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// crashingRecords fails ReconcileBatch after a number of calls, as a
// worker dying mid-job would stop, and records where each call started.
type crashingRecords struct {
	keyops.Records
	failAfter int
	mu        sync.Mutex
	calls     []string
}

func (c *crashingRecords) ReconcileBatch(ctx context.Context, tid tenant.ID, object, afterID string, limit int) (string, int, int, bool, error) {
	c.mu.Lock()
	c.calls = append(c.calls, afterID)
	n := len(c.calls)
	c.mu.Unlock()
	if c.failAfter > 0 && n > c.failAfter {
		return "", 0, 0, false, errors.New("simulated crash")
	}
	return c.Records.ReconcileBatch(ctx, tid, object, afterID, limit)
}

type env struct {
	db    *store.DB
	clk   *clock
	keys  *keyring.Keyring
	recs  *records.Service
	queue *jobs.Queue
	ops   *keyops.Service
	tid   tenant.ID
	admin tenant.Actor
}

var tenants atomic.Int64

func setup(t *testing.T, db *store.DB, recsFor func(keyops.Records) keyops.Records) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: 8192, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 2 * time.Hour}, clk.Now)
	keys := testkeys.Keyring(t, db, clk.Now)
	recs := records.NewService(db, keys, clk.Now)
	prov := provision.New(db, recs, ids, clk.Now)
	prov.SetKeyIssuer(keys)
	q := jobs.New(db, clk.Now)
	var r keyops.Records = recs
	if recsFor != nil {
		r = recsFor(recs)
	}
	ops := keyops.New(db, r, keys, q, nil, clk.Now)
	recs.SetJobQueue(ops)
	res, err := prov.CreateTenant(context.Background(), provision.Input{Slug: "ops-" + strconv.FormatInt(tenants.Add(1), 10), Name: "Ops", AdminEmail: "admin@ops.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: res.Tenant.ID, UserID: res.Admin.ID, Role: access.RoleAdmin, Name: "Admin"}
	return &env{db: db, clk: clk, keys: keys, recs: recs, queue: q, ops: ops, tid: res.Tenant.ID, admin: admin}
}

func (e *env) worker() *jobs.Worker {
	w := jobs.NewWorker(e.queue, jobs.WorkerOptions{Now: e.clk.Now, Heartbeat: -1})
	e.ops.Register(w)
	return w
}

// contacts creates n contacts with a plain title and no default-encrypted value.
func (e *env) contacts(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	err := e.db.WriteTx(context.Background(), e.tid, func(ctx context.Context) error {
		for i := range n {
			r, err := e.recs.Create(ctx, e.admin, "contact", "", records.Values{
				"name": json.RawMessage(fmt.Sprintf(`"c%04d"`, i)), "title": json.RawMessage(fmt.Sprintf(`"title-%d"`, i%5))})
			if err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (e *env) storedTitleTerm(t *testing.T, id string) uint32 {
	t.Helper()
	r, err := e.db.Record(context.Background(), e.tid, "contact", id)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Fields["title"].(map[string]any)
	if !ok {
		return 0
	}
	term, err := fieldcrypt.Term(m["$sealed"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return term
}

func encryptTitle(t *testing.T, e *env) string {
	t.Helper()
	_, jobID, err := e.recs.SetProtection(context.Background(), e.admin, "contact", "title", records.Protection{Encrypted: true, Searchable: true,
		Policy: access.SensitivePolicy(access.MaskFull, false)})
	if err != nil || jobID == "" {
		t.Fatalf("set protection: %q %v", jobID, err)
	}
	return jobID
}

func testConversionResumesAfterCrash(t *testing.T, db *store.DB) {
	var crashing *crashingRecords
	e := setup(t, db, func(r keyops.Records) keyops.Records {
		crashing = &crashingRecords{Records: r, failAfter: 1}
		return crashing
	})
	ctx := context.Background()
	ids := e.contacts(t, 450) // three batches of 200
	jobID := encryptTitle(t, e)

	// The first run converts one batch, saves its place and dies.
	if ran, err := e.worker().RunOnce(ctx); err != nil || !ran {
		t.Fatalf("first run: %v %v", ran, err)
	}
	j, err := e.queue.Get(ctx, e.tid, jobID)
	if err != nil || j.State != jobs.Queued || j.Done != 200 || j.Total != 450 {
		t.Fatalf("after crash: %+v %v", j, err)
	}
	if e.storedTitleTerm(t, ids[0]) == 0 || e.storedTitleTerm(t, ids[449]) != 0 {
		t.Fatal("first batch not converted, or more than it")
	}
	// Meanwhile everything reads and searches.
	got, _, err := e.recs.List(ctx, e.admin, "contact", records.ListQuery{Filters: map[string]string{"title": "title-3"}, Limit: 200})
	if err != nil || len(got) != 90 {
		t.Fatalf("search mid-conversion: %d %v", len(got), err)
	}
	// The next run resumes after the last converted record.
	crashing.failAfter = 0
	e.clk.Advance(jobs.MaxBackoff)
	if ran, err := e.worker().RunOnce(ctx); err != nil || !ran {
		t.Fatalf("second run: %v %v", ran, err)
	}
	if crashing.calls[2] == "" || crashing.calls[2] != crashing.calls[1] {
		t.Fatalf("did not resume: calls start at %q", crashing.calls)
	}
	j, _ = e.queue.Get(ctx, e.tid, jobID)
	if j.State != jobs.Succeeded || j.Done != 450 || j.Percent() != 100 {
		t.Fatalf("finished job: %+v", j)
	}
	for _, id := range ids {
		if e.storedTitleTerm(t, id) == 0 {
			t.Fatalf("%s not converted", id)
		}
	}
	obj, _ := e.recs.Object(ctx, e.admin, "contact")
	if fl, _ := obj.Field("title"); fl.CryptoPending {
		t.Fatal("field still pending")
	}
	got, _, err = e.recs.List(ctx, e.admin, "contact", records.ListQuery{Filters: map[string]string{"title": "title-3"}, Limit: 200})
	if err != nil || len(got) != 90 {
		t.Fatalf("search after conversion: %d %v", len(got), err)
	}
}

func testRotationReencryptsAndRetires(t *testing.T, db *store.DB) {
	e := setup(t, db, nil)
	ctx := context.Background()
	ids := e.contacts(t, 30)
	encryptTitle(t, e)
	w := e.worker()
	if ran, err := w.RunOnce(ctx); err != nil || !ran {
		t.Fatal(ran, err)
	}
	if e.storedTitleTerm(t, ids[0]) != 1 {
		t.Fatal("not sealed under term 1")
	}
	_, _, err := e.ops.RotateDataKey(ctx, tenant.Actor{Kind: tenant.ActorUser, TenantID: e.tid, UserID: "x", Role: access.RoleManager})
	wantKind(t, err, apperr.KindForbidden)
	term, job, err := e.ops.RotateDataKey(ctx, e.admin)
	if err != nil || term != 2 || job.ID == "" {
		t.Fatalf("rotate: %d %+v %v", term, job, err)
	}
	// One rotation at a time.
	_, _, err = e.ops.RotateDataKey(ctx, e.admin)
	wantKind(t, err, apperr.KindConflict)
	if ran, err := w.RunOnce(ctx); err != nil || !ran {
		t.Fatal(ran, err)
	}
	for _, id := range ids {
		if got := e.storedTitleTerm(t, id); got != 2 {
			t.Fatalf("%s under term %d", id, got)
		}
	}
	terms, err := e.ops.Terms(ctx, e.admin)
	if err != nil || len(terms) != 2 || terms[0].State != keyring.StateRetired || terms[1].State != keyring.StateActive {
		t.Fatalf("terms: %+v %v", terms, err)
	}
	got, _, err := e.recs.List(ctx, e.admin, "contact", records.ListQuery{Filters: map[string]string{"title": "title-1"}})
	if err != nil || len(got) != 6 {
		t.Fatalf("search after rotation: %d %v", len(got), err)
	}
	evs, err := e.db.QueryAudit(ctx, e.tid, audit.Filter{Action: audit.ActionDataKeyRotated, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ActorID != e.admin.UserID {
		t.Fatalf("rotation audit: %+v %v", evs, err)
	}

	// A value sealed under the old term in the audit trail keeps the term.
	if _, err := e.recs.Create(ctx, e.admin, "contact", "", records.Values{"name": json.RawMessage(`"m"`), "mobile": json.RawMessage(`"13812345678"`)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.ops.RotateDataKey(ctx, e.admin); err != nil {
		t.Fatal(err)
	}
	if ran, err := w.RunOnce(ctx); err != nil || !ran {
		t.Fatal(ran, err)
	}
	terms, _ = e.ops.Terms(ctx, e.admin)
	if terms[1].State != keyring.StateActive || terms[2].State != keyring.StateActive {
		t.Fatalf("term 2 retired although the audit trail uses it: %+v", terms)
	}
}

func testDestroyIsAuditedAndFinal(t *testing.T, db *store.DB) {
	e := setup(t, db, nil)
	ctx := context.Background()
	r, err := e.recs.Create(ctx, e.admin, "contact", "", records.Values{"name": json.RawMessage(`"d"`), "mobile": json.RawMessage(`"13812345678"`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ops.DestroyTenantKeys(ctx, e.admin, "contract ended")
	wantKind(t, err, apperr.KindForbidden)
	_, err = e.ops.DestroyTenantKeys(ctx, tenant.System(e.tid, "req-1"), " ")
	wantKind(t, err, apperr.KindInvalid)
	n, err := e.ops.DestroyTenantKeys(ctx, tenant.System(e.tid, "req-2"), "contract ended 2026-05-01, grace period over")
	if err != nil || n != 1 {
		t.Fatalf("destroy: %d %v", n, err)
	}
	evs, err := e.db.QueryAudit(ctx, e.tid, audit.Filter{Action: audit.ActionDataKeysDestroyed, Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ActorType != string(tenant.ActorSystem) || evs[0].RequestID != "req-2" {
		t.Fatalf("destroy audit: %+v %v", evs, err)
	}
	if _, err := e.recs.Get(ctx, e.admin, "contact", r.ID); !errors.Is(err, records.ErrKeysGone) {
		t.Fatalf("read after destroy: %v", err)
	}
	// A fresh keyring (another instance, a restart) cannot read it either.
	cold := testkeys.Keyring(t, db, e.clk.Now)
	if _, err := cold.KeyForTerm(ctx, e.tid, 1); !errors.Is(err, keyring.ErrDestroyed) {
		t.Fatalf("cold keyring: %v", err)
	}
	if _, _, err := cold.CurrentKey(ctx, e.tid); !errors.Is(err, keyring.ErrDestroyed) {
		t.Fatalf("new keys for a shredded tenant: %v", err)
	}
}

func testResumePending(t *testing.T, db *store.DB) {
	e := setup(t, db, nil)
	ctx := context.Background()
	ids := e.contacts(t, 5)
	// As a migration leaves it: the setting on, values still plain.
	obj, err := db.Object(ctx, e.tid, "contact")
	if err != nil {
		t.Fatal(err)
	}
	fl, _ := obj.Field("title")
	fl.Encrypted, fl.CryptoPending = true, true
	if err := db.UpdateFieldProtection(ctx, e.tid, "contact", fl); err != nil {
		t.Fatal(err)
	}
	n, err := e.ops.ResumePending(ctx)
	if err != nil || n < 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	if n2, err := e.ops.ResumePending(ctx); err != nil || n2 != 0 {
		t.Fatalf("second resume queued %d more (%v)", n2, err)
	}
	w := e.worker()
	for {
		ran, err := w.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ran {
			break
		}
	}
	for _, id := range ids {
		if e.storedTitleTerm(t, id) == 0 {
			t.Fatalf("%s not converted", id)
		}
	}
	if pending, _ := e.recs.PendingFields(ctx, e.tid); len(pending) != 0 {
		t.Fatalf("still pending: %v", pending)
	}
}

func wantKind(t *testing.T, err error, kind apperr.Kind) {
	t.Helper()
	if !apperr.Is(err, kind) {
		t.Fatalf("want %v, got %v", kind, err)
	}
}

func TestKeyOpsOnDatabase(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"ConversionResumesAfterCrash", testConversionResumesAfterCrash},
		{"RotationReencryptsAndRetires", testRotationReencryptsAndRetires},
		{"DestroyIsAuditedAndFinal", testDestroyIsAuditedAndFinal},
		{"ResumePending", testResumePending},
	}
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.fn(t, db) })
		}
	})
}
