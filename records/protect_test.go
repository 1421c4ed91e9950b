package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// queued records the conversions SetProtection asks for.
type queued struct {
	mu   sync.Mutex
	jobs []string
}

func (q *queued) EnqueueFieldConversion(_ context.Context, _ tenant.ID, object, field, _ string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, object+"."+field)
	return fmt.Sprintf("job-%d", len(q.jobs)), nil
}

var contactPII = map[string]any{
	"name": "张三", "mobile": "13812345678", "email": "zhang.san@example.com",
	"id_number": "11010119900307123X", "bank_account": "6222021234567890123", "address": "上海市浦东新区张江路88号",
	"title": "CFO",
}

// storedRow reads a record as the database holds it.
func storedRow(t *testing.T, f *fixture, object, id string) records.Record {
	t.Helper()
	r, err := f.db.Record(context.Background(), f.tid, object, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func envelopeOf(t *testing.T, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("stored value %v is not sealed", v)
	}
	env, _ := m["$sealed"].(string)
	if !fieldcrypt.IsEnvelope(env) {
		t.Fatalf("stored value %v is not an envelope", v)
	}
	return env
}

func testSensitiveFieldsSealedAndMasked(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.sales, "contact", contactPII)

	// At rest: every default sensitive field sealed, the rest in clear.
	raw := storedRow(t, f, "contact", r.ID)
	for _, name := range []string{"mobile", "email", "id_number", "bank_account", "address"} {
		envelopeOf(t, raw.Fields[name])
	}
	if raw.Fields["title"] != "CFO" || raw.Name != "张三" {
		t.Fatalf("plain fields changed at rest: %v", raw.Fields)
	}
	b, _ := json.Marshal(raw.Fields)
	for _, v := range contactPII {
		if v != "CFO" && v != "张三" && strings.Contains(string(b), v.(string)) {
			t.Fatalf("plaintext %q at rest", v)
		}
	}

	// The creating sales user gets masked values back, even for what they typed.
	want := map[string]string{"mobile": "138****5678", "email": "z***@example.com", "id_number": "110***********123X",
		"bank_account": "**** **** **** 0123", "address": "上海市****"}
	for _, got := range []records.Record{r, mustGet(t, f, f.sales, "contact", r.ID)} {
		for k, v := range want {
			if got.Fields[k] != v {
				t.Fatalf("sales sees %s = %v, want %v", k, got.Fields[k], v)
			}
		}
		if !slices.Equal(got.Masked, []string{"address", "bank_account", "email", "id_number", "mobile"}) {
			t.Fatalf("masked = %v", got.Masked)
		}
	}
	for _, who := range []tenant.Actor{f.admin, f.mgr} {
		got := mustGet(t, f, who, "contact", r.ID)
		for k, v := range contactPII {
			if got.Fields[k] != v {
				t.Fatalf("%s sees %s = %v", who.Role, k, got.Fields[k])
			}
		}
		if len(got.Masked) != 0 {
			t.Fatalf("%s masked %v", who.Role, got.Masked)
		}
	}
	// Lists show the same as the detail.
	list, _, err := f.recs.List(ctx, f.sales, "contact", records.ListQuery{})
	if err != nil || len(list) != 1 || list[0].Fields["mobile"] != "138****5678" {
		t.Fatalf("sales list: %v %v", list, err)
	}
	// The audit trail holds the sealed values, never plaintext.
	for _, e := range f.audit(t, audit.Filter{ObjectID: r.ID}) {
		b, _ := json.Marshal(e.Changes)
		if strings.Contains(string(b), "13812345678") || strings.Contains(string(b), "zhang.san") {
			t.Fatalf("plaintext in stored audit event %s: %s", e.Action, b)
		}
		envelopeOf(t, e.Changes["mobile"].After)
	}
	// Shown to an admin through the audit service: masked, not sealed, not clear.
	svc := audit.NewService(db)
	svc.SetPresenter(f.recs)
	evs, _, err := svc.Query(ctx, f.admin, audit.Filter{ObjectID: r.ID})
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit query: %v %v", evs, err)
	}
	if got := evs[0].Changes["mobile"].After; got != "138****5678" {
		t.Fatalf("audit shows mobile %v", got)
	}
	// Record history for the sales owner: masked too.
	hist, _, err := f.recs.History(ctx, f.sales, "contact", r.ID, 0, 10)
	if err != nil || hist[0].Changes["id_number"].After != "110***********123X" {
		t.Fatalf("history: %v %v", hist, err)
	}
}

func mustGet(t *testing.T, f *fixture, actor tenant.Actor, object, id string) records.Record {
	t.Helper()
	r, err := f.recs.Get(context.Background(), actor, object, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testMaskedWritersCannotProbe(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.sales, "contact", contactPII)
	// Writing the right guess and a wrong one look the same: the version
	// moves either way.
	u1, err := f.recs.Update(ctx, f.sales, "contact", r.ID, 1, "", vals(map[string]any{"mobile": "13812345678"}))
	if err != nil || u1.Version != 2 {
		t.Fatalf("same value: %v %v", u1.Version, err)
	}
	u2, err := f.recs.Update(ctx, f.sales, "contact", r.ID, 2, "", vals(map[string]any{"mobile": "13900000000"}))
	if err != nil || u2.Version != 3 {
		t.Fatalf("other value: %v %v", u2.Version, err)
	}
	if got := mustGet(t, f, f.admin, "contact", r.ID).Fields["mobile"]; got != "13900000000" {
		t.Fatalf("admin sees %v", got)
	}
	// A writer who can read gets no-op updates as before.
	u3, err := f.recs.Update(ctx, f.admin, "contact", r.ID, 3, "", vals(map[string]any{"mobile": "13900000000"}))
	if err != nil || u3.Version != 3 {
		t.Fatalf("admin no-op: %v %v", u3.Version, err)
	}
	// Filters, sorts and quick search cannot test a value one may not read.
	_, _, err = f.recs.List(ctx, f.sales, "contact", records.ListQuery{Filters: map[string]string{"mobile": "13900000000"}})
	if fe := fieldErrors(t, err); fe["mobile"] != "you may not filter by this field" {
		t.Fatalf("sales filter: %v", fe)
	}
	for _, sort := range []string{"mobile", "-email", "address"} {
		for _, who := range []tenant.Actor{f.sales, f.admin} {
			_, _, err = f.recs.List(ctx, who, "contact", records.ListQuery{Sort: sort})
			wantKind(t, err, apperr.KindInvalid)
		}
	}
	for _, q := range []string{"13900000000", "zhang.san@example.com"} {
		got, _, err := f.recs.List(ctx, f.sales, "contact", records.ListQuery{Q: q})
		if err != nil || len(got) != 0 {
			t.Fatalf("sales quick search %q found %d (%v)", q, len(got), err)
		}
		got, _, err = f.recs.List(ctx, f.admin, "contact", records.ListQuery{Q: q})
		if err != nil || len(got) != 1 {
			t.Fatalf("admin quick search %q found %d (%v)", q, len(got), err)
		}
	}
	// A validation error does not echo the value.
	_, err = f.recs.Update(ctx, f.sales, "contact", r.ID, 3, "", vals(map[string]any{"email": "secret-not-an-email"}))
	if ae, _ := apperr.As(err); ae == nil || strings.Contains(fmt.Sprint(ae.Message, ae.Details), "secret-not-an-email") {
		t.Fatalf("error echoes the value: %v", err)
	}
}

func testBlindIndexSearch(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	a := f.create(t, f.admin, "contact", contactPII)
	b := f.create(t, f.admin, "contact", map[string]any{"name": "李四", "mobile": "13987654321", "email": "li.si@example.com"})
	find := func(actor tenant.Actor, filters map[string]string, q string) []string {
		t.Helper()
		got, _, err := f.recs.List(ctx, actor, "contact", records.ListQuery{Filters: filters, Q: q})
		if err != nil {
			t.Fatal(err)
		}
		return ids(got)
	}
	for _, c := range []struct {
		filters map[string]string
		q       string
		want    []string
	}{
		{map[string]string{"mobile": "13812345678"}, "", []string{a.ID}},
		{map[string]string{"mobile": "138 1234 5678"}, "", []string{a.ID}},
		{map[string]string{"email": "LI.SI@EXAMPLE.COM"}, "", []string{b.ID}},
		{map[string]string{"id_number": "11010119900307123X"}, "", []string{a.ID}},
		{map[string]string{"mobile": "1381234567"}, "", nil}, // exact match only
		{nil, "13987654321", []string{b.ID}},
		{nil, "张三", []string{a.ID}},
	} {
		if got := find(f.mgr, c.filters, c.q); !slices.Equal(got, c.want) {
			t.Fatalf("filters %v q %q: got %v want %v", c.filters, c.q, got, c.want)
		}
	}
	// Encrypted fields without a blind index cannot be filtered at all.
	_, _, err := f.recs.List(ctx, f.admin, "contact", records.ListQuery{Filters: map[string]string{"bank_account": "6222021234567890123"}})
	if fe := fieldErrors(t, err); !strings.Contains(fe["bank_account"], "not searchable") {
		t.Fatalf("bank filter: %v", fe)
	}
	// Blind indexes follow updates and deletions.
	if _, err := f.recs.Update(ctx, f.admin, "contact", a.ID, 1, "", vals(map[string]any{"mobile": "13700000000"})); err != nil {
		t.Fatal(err)
	}
	if got := find(f.admin, map[string]string{"mobile": "13812345678"}, ""); len(got) != 0 {
		t.Fatalf("old value still found: %v", got)
	}
	if got := find(f.admin, map[string]string{"mobile": "13700000000"}, ""); !slices.Equal(got, []string{a.ID}) {
		t.Fatalf("new value: %v", got)
	}
	// Another tenant with the same value: its index differs, its records stay apart.
	tid2, admin2 := f.newTenant(t, "other")
	_ = tid2
	if _, err := f.recs.Create(ctx, admin2, "contact", "", vals(map[string]any{"name": "X", "mobile": "13987654321"})); err != nil {
		t.Fatal(err)
	}
	if got := find(f.admin, map[string]string{"mobile": "13987654321"}, ""); !slices.Equal(got, []string{b.ID}) {
		t.Fatalf("tenant A sees %v", got)
	}
}

func testFieldLevelsAndReveal(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.sales, "contact", contactPII)
	// Hide the bank account from sales, let them only read the title.
	set := func(field string, p records.Protection) {
		t.Helper()
		if _, _, err := f.recs.SetProtection(ctx, f.admin, "contact", field, p); err != nil {
			t.Fatal(err)
		}
	}
	bank := access.SensitivePolicy(access.MaskBankCard, false)
	bank.Levels[access.RoleSales] = access.FieldHidden
	set("bank_account", records.Protection{Encrypted: true, Policy: bank})
	set("title", records.Protection{Policy: access.FieldPolicy{Levels: map[string]access.FieldLevel{access.RoleSales: access.FieldRead}}})

	got := mustGet(t, f, f.sales, "contact", r.ID)
	if _, ok := got.Fields["bank_account"]; ok {
		t.Fatalf("hidden field shown: %v", got.Fields)
	}
	if got.Fields["title"] != "CFO" {
		t.Fatalf("readable title: %v", got.Fields["title"])
	}
	_, err := f.recs.Update(ctx, f.sales, "contact", r.ID, got.Version, "", vals(map[string]any{"bank_account": "1", "title": "CEO"}))
	fe := fieldErrors(t, err)
	if fe["bank_account"] != "you may not change this field" || fe["title"] != "you may not change this field" {
		t.Fatalf("writes: %v", fe)
	}
	hist, _, _ := f.recs.History(ctx, f.sales, "contact", r.ID, 0, 10)
	if _, ok := hist[len(hist)-1].Changes["bank_account"]; ok {
		t.Fatalf("hidden field in history: %v", hist[len(hist)-1].Changes)
	}

	// Reveal: allowed for the mobile by default, with a reason, audited without the value.
	v, err := f.recs.Reveal(ctx, f.sales, "contact", r.ID, "mobile", "calling back about the order")
	if err != nil || v != "13812345678" {
		t.Fatalf("reveal: %v %v", v, err)
	}
	evs := f.audit(t, audit.Filter{Action: audit.ActionRecordRevealed})
	if len(evs) != 1 || evs[0].ActorID != f.sales.UserID || evs[0].Changes["field"].After != "mobile" ||
		evs[0].Changes["reason"].After != "calling back about the order" {
		t.Fatalf("reveal audit: %+v", evs)
	}
	b, _ := json.Marshal(evs[0])
	if strings.Contains(string(b), "13812345678") {
		t.Fatalf("revealed value in the audit trail: %s", b)
	}
	for _, c := range []struct {
		actor         tenant.Actor
		field, reason string
		kind          apperr.Kind
	}{
		{f.sales, "id_number", "need it", apperr.KindForbidden},           // masked, no reveal
		{f.sales, "bank_account", "need it", apperr.KindForbidden},        // hidden
		{f.sales, "mobile", "  ", apperr.KindInvalid},                     // no reason
		{f.sales, "mobile", "x\x00y", apperr.KindInvalid},                 // control characters
		{f.admin, "mobile", "curious", apperr.KindInvalid},                // not masked for admins
		{f.sale2, "mobile", "not my record", apperr.KindNotFound},         // another owner's record
		{f.sales, "no_such_field", "need it", apperr.KindNotFound},        // unknown field
		{f.sales, "mobile", strings.Repeat("长", 501), apperr.KindInvalid}, // too long
	} {
		_, err := f.recs.Reveal(ctx, c.actor, "contact", r.ID, c.field, c.reason)
		if !apperr.Is(err, c.kind) {
			t.Fatalf("reveal %s by %s: want %v, got %v", c.field, c.actor.Role, c.kind, err)
		}
	}
	if n := len(f.audit(t, audit.Filter{Action: audit.ActionRecordRevealed})); n != 1 {
		t.Fatalf("%d reveal events after refusals", n)
	}
	// A masked name hides the record's name in lists and lookups, and
	// substring search on it is refused.
	set("name", records.Protection{Policy: access.FieldPolicy{Mask: access.MaskName, Levels: map[string]access.FieldLevel{access.RoleSales: access.FieldMasked}}})
	if got := mustGet(t, f, f.sales, "contact", r.ID); got.Name != "张*" || got.Fields["name"] != "张*" {
		t.Fatalf("masked name: %q %v", got.Name, got.Fields["name"])
	}
	if names := f.recs.Names(ctx, f.sales, "contact", []string{r.ID}); names[r.ID] != "张*" {
		t.Fatalf("lookup name %v", names)
	}
	_, _, err = f.recs.List(ctx, f.sales, "contact", records.ListQuery{Q: "张"})
	wantKind(t, err, apperr.KindInvalid)
	// Nor may they sort by it: the order would spell names out.
	for _, sort := range []string{"name", "-name"} {
		_, _, err = f.recs.List(ctx, f.sales, "contact", records.ListQuery{Sort: sort})
		wantKind(t, err, apperr.KindInvalid)
	}
	if _, _, err := f.recs.List(ctx, f.admin, "contact", records.ListQuery{Sort: "name"}); err != nil {
		t.Fatalf("admin sort by name: %v", err)
	}
}

func testProtectionValidation(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	for _, c := range []struct {
		field string
		p     records.Protection
		key   string
	}{
		{"name", records.Protection{Encrypted: true}, "encrypted"},
		{"do_not_call", records.Protection{Encrypted: true}, "encrypted"},
		{"account_id", records.Protection{Encrypted: true}, "encrypted"},
		{"title", records.Protection{Searchable: true}, "searchable"},
		{"title", records.Protection{Policy: access.FieldPolicy{Mask: "nope"}}, "mask"},
		{"title", records.Protection{Policy: access.FieldPolicy{Mask: access.MaskMobile, KeepFirst: 2}}, "mask"},
		{"title", records.Protection{Policy: access.FieldPolicy{Mask: access.MaskCustom, KeepFirst: 99}}, "mask"},
		{"title", records.Protection{Policy: access.FieldPolicy{Levels: map[string]access.FieldLevel{"root": access.FieldEdit}}}, "levels"},
		{"title", records.Protection{Policy: access.FieldPolicy{Levels: map[string]access.FieldLevel{"sales": "peek"}}}, "levels"},
		{"name", records.Protection{Policy: access.FieldPolicy{Levels: map[string]access.FieldLevel{"sales": access.FieldHidden}}}, "levels"},
		{"title", records.Protection{Policy: access.FieldPolicy{Reveal: []string{"operator"}}}, "reveal"},
	} {
		_, _, err := f.recs.SetProtection(ctx, f.admin, "contact", c.field, c.p)
		if fe := fieldErrors(t, err); fe[c.key] == "" {
			t.Fatalf("%s %+v: %v", c.field, c.p, fe)
		}
	}
	_, _, err := f.recs.SetProtection(ctx, f.mgr, "contact", "title", records.Protection{Encrypted: true})
	wantKind(t, err, apperr.KindForbidden)
	_, _, err = f.recs.SetProtection(ctx, f.admin, "contact", "nope", records.Protection{})
	wantKind(t, err, apperr.KindNotFound)
	if n := len(f.audit(t, audit.Filter{Action: audit.ActionFieldUpdated})); n != 0 {
		t.Fatalf("%d field updates audited after refusals", n)
	}
	// A custom field can be created encrypted and searchable.
	fl, err := f.recs.AddField(ctx, f.admin, "contact", records.Field{Name: "passport", Label: "Passport", Type: records.TypeText,
		Encrypted: true, Searchable: true, Policy: access.SensitivePolicy(access.MaskCustom, false)})
	if err != nil || !fl.Encrypted {
		t.Fatalf("add encrypted field: %+v %v", fl, err)
	}
	r := f.create(t, f.admin, "contact", map[string]any{"name": "P", "passport__c": "E12345678"})
	envelopeOf(t, storedRow(t, f, "contact", r.ID).Fields["passport__c"])
}

func testConversionJob(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	q := &queued{}
	f.recs.SetJobQueue(q)
	var made []records.Record
	for i := range 7 {
		made = append(made, f.create(t, f.admin, "contact", map[string]any{"name": fmt.Sprintf("c%d", i), "title": fmt.Sprintf("title-%d", i%3)}))
	}
	fl, jobID, err := f.recs.SetProtection(ctx, f.admin, "contact", "title", records.Protection{Encrypted: true, Searchable: true,
		Policy: access.SensitivePolicy(access.MaskFull, false)})
	if err != nil || jobID == "" || !fl.CryptoPending || !slices.Equal(q.jobs, []string{"contact.title"}) {
		t.Fatalf("set: %+v %q %v %v", fl, jobID, err, q.jobs)
	}
	// Mid-conversion the old plain values are still found by exact match,
	// and records written now are sealed at once.
	late := f.create(t, f.admin, "contact", map[string]any{"name": "late", "title": "title-1"})
	envelopeOf(t, storedRow(t, f, "contact", late.ID).Fields["title"])
	search := func() []string {
		got, _, err := f.recs.List(ctx, f.admin, "contact", records.ListQuery{Filters: map[string]string{"title": "title-1"}, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		return ids(got)
	}
	wantFound := []string{late.ID, made[4].ID, made[1].ID}
	if got := search(); !sameSet(got, wantFound...) {
		t.Fatalf("mid-conversion search %v want %v", got, wantFound)
	}
	// Walk in small batches, as a resumed job would.
	after, total := "", 0
	for {
		last, _, n, done, err := f.recs.ReconcileBatch(ctx, f.tid, "contact", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if done {
			break
		}
		after = last
	}
	// Seven converted, and the late record's blind index refreshed.
	if total != 8 {
		t.Fatalf("rewrote %d records", total)
	}
	// A second pass finds nothing to do except refreshing indexes.
	for _, r := range made {
		row := storedRow(t, f, "contact", r.ID)
		envelopeOf(t, row.Fields["title"])
		if row.Version != 1 {
			t.Fatalf("conversion made a new version: %d", row.Version)
		}
	}
	finished, err := f.recs.FinishConversion(ctx, f.tid, "contact", "title", true, true)
	if err != nil || !finished {
		t.Fatalf("finish: %v %v", finished, err)
	}
	if got := search(); !sameSet(got, wantFound...) {
		t.Fatalf("after conversion search %v", got)
	}
	// Switching off converts back; a finish for stale settings refuses.
	if _, _, err := f.recs.SetProtection(ctx, f.admin, "contact", "title", records.Protection{}); err != nil {
		t.Fatal(err)
	}
	if finished, _ := f.recs.FinishConversion(ctx, f.tid, "contact", "title", true, true); finished {
		t.Fatal("finish with stale settings")
	}
	if _, _, _, _, err := f.recs.ReconcileBatch(ctx, f.tid, "contact", "", 100); err != nil {
		t.Fatal(err)
	}
	if row := storedRow(t, f, "contact", made[0].ID); row.Fields["title"] != "title-0" {
		t.Fatalf("decrypted back: %v", row.Fields["title"])
	}
	// The trail keeps the sealed form it was written in and still shows
	// it masked, never sealed, after the field went back to plain.
	evs, err := f.recs.PresentEvents(ctx, f.admin, f.audit(t, audit.Filter{ObjectID: late.ID}))
	if err != nil || len(evs) != 1 {
		t.Fatalf("late events: %v %v", evs, err)
	}
	if got := evs[0].Changes["title"].After; got != "****" {
		t.Fatalf("audit shows %v for a value sealed at rest", got)
	}
}

func testRotationAndDestruction(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.admin, "contact", contactPII)
	acct := f.create(t, f.admin, "account", map[string]any{"name": "Plain Co"})
	oldTerm, err := fieldcrypt.Term(envelopeOf(t, storedRow(t, f, "contact", r.ID).Fields["mobile"]))
	if err != nil {
		t.Fatal(err)
	}
	newTerm, err := f.keys.Rotate(ctx, f.tid)
	if err != nil || newTerm != oldTerm+1 {
		t.Fatalf("rotate: %v %v", newTerm, err)
	}
	// Before re-encryption old values still read and are still found.
	if got := mustGet(t, f, f.admin, "contact", r.ID); got.Fields["mobile"] != "13812345678" {
		t.Fatalf("read after rotate: %v", got.Fields["mobile"])
	}
	if _, _, _, _, err := f.recs.ReconcileBatch(ctx, f.tid, "contact", "", 100); err != nil {
		t.Fatal(err)
	}
	for name, v := range storedRow(t, f, "contact", r.ID).Fields {
		if m, ok := v.(map[string]any); ok {
			if term, _ := fieldcrypt.Term(m["$sealed"].(string)); term != newTerm {
				t.Fatalf("%s still under term %d", name, term)
			}
		}
	}
	got, _, err := f.recs.List(ctx, f.admin, "contact", records.ListQuery{Filters: map[string]string{"mobile": "13812345678"}})
	if err != nil || len(got) != 1 {
		t.Fatalf("search after re-encryption: %v %v", got, err)
	}
	// The audit trail still holds values under the old term, so it stays.
	n, err := f.recs.CountTermUsage(ctx, f.tid, oldTerm)
	if err != nil || n == 0 {
		t.Fatalf("usage of old term: %d %v", n, err)
	}
	if err := f.keys.Retire(ctx, f.tid, oldTerm, f.recs.CountTermUsage); !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("retire while audit uses the term: %v", err)
	}

	// Crypto-shredding: encrypted values are gone, plain ones remain.
	if _, err := f.keys.DestroyTenantKeys(ctx, f.tid); err != nil {
		t.Fatal(err)
	}
	_, err = f.recs.Get(ctx, f.admin, "contact", r.ID)
	if !errors.Is(err, records.ErrKeysGone) || !apperr.Is(err, apperr.KindConflict) {
		t.Fatalf("read after destroy: %v", err)
	}
	if got := mustGet(t, f, f.admin, "account", acct.ID); got.Name != "Plain Co" {
		t.Fatalf("plain record after destroy: %v", got)
	}
}

func testMovedCiphertextRefused(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	a := f.create(t, f.admin, "contact", contactPII)
	b := f.create(t, f.admin, "contact", map[string]any{"name": "B", "mobile": "13900000000"})
	rowA, rowB := storedRow(t, f, "contact", a.ID), storedRow(t, f, "contact", b.ID)
	// Someone with database access copies A's sealed mobile into B, and
	// A's ID number into A's mobile.
	rowB.Fields["mobile"] = rowA.Fields["mobile"]
	if ok, err := f.db.RewriteRecordFields(ctx, f.tid, "contact", b.ID, rowB.Version, rowB.Fields); err != nil || !ok {
		t.Fatal(ok, err)
	}
	rowA.Fields["mobile"] = rowA.Fields["id_number"]
	if ok, err := f.db.RewriteRecordFields(ctx, f.tid, "contact", a.ID, rowA.Version, rowA.Fields); err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, id := range []string{a.ID, b.ID} {
		_, err := f.recs.Get(ctx, f.admin, "contact", id)
		if !apperr.Is(err, apperr.KindInternal) {
			t.Fatalf("moved ciphertext in %s: %v", id, err)
		}
		if ae, _ := apperr.As(err); strings.Contains(ae.Message, "1381") || strings.Contains(ae.Message, "hv1:") {
			t.Fatalf("error reveals data: %q", ae.Message)
		}
	}
}

func testOperatorNeverDecrypts(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	r := f.create(t, f.admin, "contact", contactPII)
	acct := f.create(t, f.admin, "account", map[string]any{"name": "Acme"})
	// A service without any key: a read that tried to decrypt would fail.
	keyless := records.NewService(db, nil, f.clk.Now)
	op := tenant.Operator(f.tid, "op-1", "Olga", tenant.Grant{ID: "g1", Objects: []string{"contact"}}, "203.0.113.5", "", "")
	got, err := keyless.Get(ctx, op, "contact", r.ID)
	if err != nil {
		t.Fatalf("operator read: %v", err)
	}
	for _, name := range []string{"mobile", "email", "id_number", "bank_account", "address"} {
		if got.Fields[name] != "****" {
			t.Fatalf("operator sees %s = %v", name, got.Fields[name])
		}
	}
	if got.Fields["title"] != "CFO" || got.Name != "张三" {
		t.Fatalf("plain fields: %v", got.Fields)
	}
	list, _, err := keyless.List(ctx, op, "contact", records.ListQuery{})
	if err != nil || len(list) != 1 || list[0].Fields["mobile"] != "****" {
		t.Fatalf("operator list: %v %v", list, err)
	}
	hist, _, err := keyless.History(ctx, op, "contact", r.ID, 0, 10)
	if err != nil || hist[0].Changes["mobile"].After != "****" {
		t.Fatalf("operator history: %v %v", hist, err)
	}
	// Outside the grant, or anything but a read: nothing.
	if _, err := keyless.Get(ctx, op, "account", acct.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("object outside the grant: %v", err)
	}
	if _, err := keyless.Create(ctx, op, "contact", "", vals(map[string]any{"name": "x"})); err == nil {
		t.Fatal("operator created a record")
	}
	if _, err := keyless.Update(ctx, op, "contact", r.ID, 1, "", vals(map[string]any{"title": "x"})); err == nil {
		t.Fatal("operator changed a record")
	}
	if err := keyless.Delete(ctx, op, "contact", r.ID, 1); err == nil {
		t.Fatal("operator deleted a record")
	}
	if _, err := keyless.Reveal(ctx, op, "contact", r.ID, "mobile", "support ticket"); !apperr.Is(err, apperr.KindForbidden) {
		t.Fatalf("operator reveal: %v", err)
	}
	_, _, err = keyless.List(ctx, op, "contact", records.ListQuery{Filters: map[string]string{"mobile": "13812345678"}})
	wantKind(t, err, apperr.KindInvalid)
	// Under a write grant an operator changes plain fields. The keyless
	// service proves nothing is decrypted or sealed on the way, and the
	// stored envelopes are the very ones that were there.
	writer := tenant.Operator(f.tid, "op-1", "Olga", tenant.Grant{ID: "g2", Objects: []string{"contact"}, Write: true}, "203.0.113.5", "", "")
	before := storedRow(t, f, "contact", r.ID)
	changed, err := keyless.Update(ctx, writer, "contact", r.ID, 1, "", vals(map[string]any{"title": "CEO"}))
	if err != nil || changed.Fields["title"] != "CEO" || changed.Fields["mobile"] != "****" {
		t.Fatalf("operator change under a write grant: %v %v", changed.Fields, err)
	}
	after := storedRow(t, f, "contact", r.ID)
	for _, name := range []string{"mobile", "email", "id_number", "bank_account", "address"} {
		if envelopeOf(t, after.Fields[name]) != envelopeOf(t, before.Fields[name]) {
			t.Fatalf("%s was sealed again by an operator's change", name)
		}
	}
	if got := mustGet(t, f, f.admin, "contact", r.ID); got.Fields["mobile"] != contactPII["mobile"] {
		t.Fatalf("mobile after the operator's change: %v", got.Fields["mobile"])
	}
	// An encrypted field whose policy lets every role edit it is still
	// never set by an operator.
	fl, err := f.recs.Object(ctx, f.admin, "contact")
	if err != nil {
		t.Fatal(err)
	}
	mobile, _ := fl.Field("mobile")
	if _, _, err := f.recs.SetProtection(ctx, f.admin, "contact", "mobile",
		records.Protection{Encrypted: true, Searchable: mobile.Searchable, Policy: access.FieldPolicy{}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.recs.Update(ctx, writer, "contact", r.ID, 2, "", vals(map[string]any{"mobile": "13900000000"}))
	wantKind(t, err, apperr.KindInvalid)
	if got := mustGet(t, f, f.admin, "contact", r.ID); got.Fields["mobile"] != contactPII["mobile"] {
		t.Fatalf("mobile after a refused operator write: %v", got.Fields["mobile"])
	}
	// An actor claiming to be an operator without a grant reaches nothing.
	bare := tenant.Actor{Kind: tenant.ActorOperator, TenantID: f.tid, UserID: "op-1"}
	if _, err := keyless.Get(ctx, bare, "contact", r.ID); !apperr.Is(err, apperr.KindNotFound) {
		t.Fatalf("operator without grant: %v", err)
	}
}

func TestProtectionOnDatabase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"SensitiveFieldsSealedAndMasked", testSensitiveFieldsSealedAndMasked},
		{"MaskedWritersCannotProbe", testMaskedWritersCannotProbe},
		{"BlindIndexSearch", testBlindIndexSearch},
		{"FieldLevelsAndReveal", testFieldLevelsAndReveal},
		{"ProtectionValidation", testProtectionValidation},
		{"ConversionJob", testConversionJob},
		{"RotationAndDestruction", testRotationAndDestruction},
		{"MovedCiphertextRefused", testMovedCiphertextRefused},
		{"OperatorNeverDecrypts", testOperatorNeverDecrypts},
	}
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.fn(t, db)
			})
		}
	})
}
