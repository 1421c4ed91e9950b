package records_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// listAll pages through a list with the given page size and returns the
// IDs in order, failing on repeats.
func listAll(t *testing.T, f *fixture, actor tenant.Actor, object string, q records.ListQuery) []records.Record {
	t.Helper()
	var out []records.Record
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		rs, next, err := f.recs.List(context.Background(), actor, object, q)
		if err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		if q.Limit > 0 && len(rs) > q.Limit {
			t.Fatalf("page of %d > limit %d", len(rs), q.Limit)
		}
		for _, r := range rs {
			if seen[r.ID] {
				t.Fatalf("sort %q: record %s (%s) visited twice", q.Sort, r.ID, r.Name)
			}
			seen[r.ID] = true
			out = append(out, r)
		}
		if next == "" {
			return out
		}
		if len(rs) == 0 {
			t.Fatal("empty page with a next cursor")
		}
		q.Cursor = next
	}
}

func ids(rs []records.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// seedAccounts creates accounts with ties and gaps in every sort key.
func seedAccounts(t *testing.T, f *fixture) []records.Record {
	t.Helper()
	ctx := context.Background()
	if _, err := f.recs.AddField(ctx, f.admin, "account", records.Field{Name: "vip", Label: "VIP", Type: records.TypeBoolean}); err != nil {
		t.Fatal(err)
	}
	rows := []map[string]any{
		{"name": "delta", "employees": 50, "vip__c": true, "city": "b", "industry": "finance", "annual_revenue": 10.5},
		{"name": "alpha", "employees": 10, "vip__c": false, "industry": "retail"},
		{"name": "delta", "vip__c": true, "city": "a", "industry": "finance"},
		{"name": "charlie", "employees": 10, "city": "b", "annual_revenue": 3},
		{"name": "bravo", "employees": -3, "vip__c": false, "industry": "finance", "annual_revenue": 10.5},
		{"name": "echo", "employees": 1000, "vip__c": true, "city": "c"},
		{"name": "alpha", "employees": 10.25, "city": "a", "industry": "energy"},
		{"name": "foxtrot", "vip__c": false},
		{"name": "golf", "employees": 50, "vip__c": true, "industry": "finance"},
		{"name": "delta", "employees": 0},
		{"name": "hotel", "employees": 7, "vip__c": false, "city": "c"},
	}
	var out []records.Record
	for i, kv := range rows {
		// Two records per timestamp: created_at has ties.
		if i%2 == 0 {
			f.clk.Advance(time.Second)
		}
		owner := f.admin
		if i%3 == 0 {
			owner = f.mgr
		}
		out = append(out, f.create(t, owner, "account", kv))
	}
	// Some updates so updated_at differs from created_at, with ties.
	f.clk.Advance(time.Minute)
	for _, i := range []int{1, 4, 7} {
		r, err := f.recs.Update(ctx, f.admin, "account", out[i].ID, 1, "", vals(map[string]any{"city": "z"}))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	f.clk.Advance(time.Microsecond)
	r, err := f.recs.Update(ctx, f.admin, "account", out[0].ID, 1, "", vals(map[string]any{"city": "y"}))
	if err != nil {
		t.Fatal(err)
	}
	out[0] = r
	return out
}

func sortKey(r records.Record, key string) any {
	switch key {
	case "created_at":
		return r.CreatedAt.UnixMicro()
	case "updated_at":
		return r.UpdatedAt.UnixMicro()
	case "name":
		return r.Name
	}
	switch v := r.Fields[key].(type) {
	case float64:
		return v
	case bool:
		if v {
			return 1.0
		}
		return 0.0
	case string:
		return v
	case nil:
		switch key {
		case "employees", "annual_revenue":
			return -1e300
		case "vip__c":
			return -1.0
		}
		return ""
	}
	panic(key)
}

func compareKeys(a, b any) int {
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	}
	panic(fmt.Sprintf("%T", a))
}

func testListKeysetPaginationEverySort(t *testing.T, db *store.DB) {
	f := setup(t, db)
	all := seedAccounts(t, f)
	sorts := []string{"", "created_at", "-created_at", "updated_at", "-updated_at", "name", "-name",
		"employees", "-employees", "annual_revenue", "-annual_revenue", "vip__c", "-vip__c", "city", "-city", "industry"}
	for _, sort := range sorts {
		t.Run("sort="+sort, func(t *testing.T) {
			full := listAll(t, f, f.admin, "account", records.ListQuery{Sort: sort, Limit: 200})
			if len(full) != len(all) {
				t.Fatalf("full list has %d of %d", len(full), len(all))
			}
			key, desc := strings.CutPrefix(sort, "-")
			if sort == "" {
				key, desc = "created_at", true
			}
			// The full list is in sort order with the id as tie-breaker.
			want := slices.Clone(all)
			slices.SortFunc(want, func(a, b records.Record) int {
				c := compareKeys(sortKey(a, key), sortKey(b, key))
				if c == 0 {
					c = strings.Compare(a.ID, b.ID)
				}
				if desc {
					c = -c
				}
				return c
			})
			if !slices.Equal(ids(full), ids(want)) {
				for i := range full {
					t.Logf("%d got %s %v  want %s %v", i, full[i].Name, sortKey(full[i], key), want[i].Name, sortKey(want[i], key))
				}
				t.Fatalf("full list out of order")
			}
			for _, limit := range []int{1, 2, 3, 4} {
				paged := listAll(t, f, f.admin, "account", records.ListQuery{Sort: sort, Limit: limit})
				if !slices.Equal(ids(paged), ids(full)) {
					t.Fatalf("limit %d: pages visit %d records in another order than the full list", limit, len(paged))
				}
			}
		})
	}
}

func testListFilters(t *testing.T, db *store.DB) {
	f := setup(t, db)
	all := seedAccounts(t, f)
	match := func(pred func(r records.Record) bool) []string {
		var out []string
		for _, r := range all {
			if pred(r) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	cases := []struct {
		name    string
		filters map[string]string
		want    []string
	}{
		{"picklist", map[string]string{"industry": "finance"}, match(func(r records.Record) bool { return r.Fields["industry"] == "finance" })},
		{"boolean true", map[string]string{"vip__c": "true"}, match(func(r records.Record) bool { return r.Fields["vip__c"] == true })},
		{"boolean on", map[string]string{"vip__c": "on"}, match(func(r records.Record) bool { return r.Fields["vip__c"] == true })},
		// A record without the field counts as false, as the web forms store it.
		{"boolean false", map[string]string{"vip__c": "false"}, match(func(r records.Record) bool { return r.Fields["vip__c"] != true })},
		{"number", map[string]string{"employees": "10"}, match(func(r records.Record) bool { return r.Fields["employees"] == 10.0 })},
		{"number fraction", map[string]string{"employees": "10.25"}, match(func(r records.Record) bool { return r.Fields["employees"] == 10.25 })},
		{"number with separator", map[string]string{"employees": "1,000"}, match(func(r records.Record) bool { return r.Fields["employees"] == 1000.0 })},
		{"number zero", map[string]string{"employees": "0"}, match(func(r records.Record) bool { return r.Fields["employees"] == 0.0 })},
		{"currency", map[string]string{"annual_revenue": "10.50"}, match(func(r records.Record) bool { return r.Fields["annual_revenue"] == 10.5 })},
		{"text", map[string]string{"city": "c"}, match(func(r records.Record) bool { return r.Fields["city"] == "c" })},
		{"two filters", map[string]string{"industry": "finance", "vip__c": "true"}, match(func(r records.Record) bool {
			return r.Fields["industry"] == "finance" && r.Fields["vip__c"] == true
		})},
		{"owner", map[string]string{"owner_id": f.mgr.UserID}, match(func(r records.Record) bool { return r.OwnerID == f.mgr.UserID })},
	}
	for _, c := range cases {
		if len(c.want) == 0 {
			t.Fatalf("%s: seed data has no match; the case proves nothing", c.name)
		}
		for _, sort := range []string{"", "name", "-employees"} {
			got := listAll(t, f, f.admin, "account", records.ListQuery{Filters: c.filters, Sort: sort, Limit: 2})
			if !sameSet(ids(got), c.want...) {
				t.Errorf("%s sort %q: got %d records, want %d", c.name, sort, len(got), len(c.want))
			}
		}
	}
	// Lookup filter on contacts.
	ctx := context.Background()
	c1 := f.create(t, f.admin, "contact", map[string]any{"name": "c1", "account_id": all[0].ID})
	f.create(t, f.admin, "contact", map[string]any{"name": "c2", "account_id": all[1].ID})
	c3 := f.create(t, f.admin, "contact", map[string]any{"name": "c3", "account_id": all[0].ID})
	f.create(t, f.admin, "contact", map[string]any{"name": "c4"})
	got := listAll(t, f, f.admin, "contact", records.ListQuery{Filters: map[string]string{"account_id": all[0].ID}, Limit: 1})
	if !sameSet(ids(got), c1.ID, c3.ID) {
		t.Fatalf("lookup filter: %v", ids(got))
	}

	bad := []map[string]string{
		{"industry": "crypto"},
		{"industry": ""},
		{"employees": "many"},
		{"vip__c": "yes"},
		{"description": "x"},
		{"no_such_field": "x"},
		{"account_id": "x"},
		{"owner_id": "not-an-id"},
		{"owner_id": ""},
	}
	for _, flt := range bad {
		obj := "account"
		if _, ok := flt["account_id"]; ok {
			obj = "contact"
		}
		_, _, err := f.recs.List(ctx, f.admin, obj, records.ListQuery{Filters: flt})
		if !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("filter %v: %v", flt, err)
		}
	}
}

func testListSearchTreatsWildcardsLiterally(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	names := []string{"100% Pure", "100 Percent", "a_b Corp", "aXb Corp", `back\slash`, "backslash", "Mixed CASE Ltd"}
	byName := map[string]string{}
	for _, n := range names {
		byName[n] = f.create(t, f.admin, "account", map[string]any{"name": n}).ID
	}
	cases := []struct {
		q    string
		want []string
	}{
		{"%", []string{"100% Pure"}},
		{"0%", []string{"100% Pure"}},
		{"_", []string{"a_b Corp"}},
		{"A_B", []string{"a_b Corp"}},
		{`\`, []string{`back\slash`}},
		{`\s`, []string{`back\slash`}},
		{"corp", []string{"a_b Corp", "aXb Corp"}},
		{"mixed case", []string{"Mixed CASE Ltd"}},
		{"  corp  ", []string{"a_b Corp", "aXb Corp"}},
		{"%%", nil},
		{"nothing", nil},
		{"'; DROP TABLE records; --", nil},
	}
	for _, c := range cases {
		rs := listAll(t, f, f.admin, "account", records.ListQuery{Q: c.q, Limit: 1})
		var want []string
		for _, n := range c.want {
			want = append(want, byName[n])
		}
		if !sameSet(ids(rs), want...) {
			var got []string
			for _, r := range rs {
				got = append(got, r.Name)
			}
			t.Errorf("q %q: got %v, want %v", c.q, got, c.want)
		}
	}
	_, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Q: strings.Repeat("x", 101)})
	wantKind(t, err, apperr.KindInvalid)
	if _, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Q: strings.Repeat("字", 100)}); err != nil {
		t.Fatalf("100-rune query: %v", err)
	}
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func testListCursorsAndLimits(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	seedAccounts(t, f)
	_, next, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Sort: "name", Limit: 2})
	if err != nil || next == "" {
		t.Fatalf("first page: %v %q", err, next)
	}
	// The cursor is bound to its sort.
	for _, sort := range []string{"-name", "", "created_at", "employees"} {
		_, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Sort: sort, Limit: 2, Cursor: next})
		wantKind(t, err, apperr.KindInvalid)
	}
	// The same cursor with its sort works.
	if _, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Sort: "name", Limit: 2, Cursor: next}); err != nil {
		t.Fatal(err)
	}
	id := tenant.NewID()
	tampered := []struct {
		sort, cursor string
	}{
		{"name", "!!!not-base64!!!"},
		{"name", next[:len(next)-3]},
		{"name", base64.RawURLEncoding.EncodeToString([]byte("not json"))},
		{"name", encodeCursor(map[string]any{"s": "name", "v": "x", "id": "not-an-id"})},
		{"name", encodeCursor(map[string]any{"s": "name", "v": "x", "id": id, "tenant": "other"})},
		{"name", encodeCursor(map[string]any{"s": "name", "v": 5, "id": id})},
		{"name", encodeCursor(map[string]any{"s": "name", "v": nil, "id": id})},
		{"name", encodeCursor(map[string]any{"s": "name", "v": []any{"x"}, "id": id})},
		{"created_at", encodeCursor(map[string]any{"s": "created_at", "v": "yesterday", "id": id})},
		{"employees", encodeCursor(map[string]any{"s": "employees", "v": "1 OR 1=1", "id": id})},
		{"vip__c", encodeCursor(map[string]any{"s": "vip__c", "v": true, "id": id})},
		{"name", strings.Repeat("A", 3000)},
	}
	for _, c := range tampered {
		_, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Sort: c.sort, Limit: 2, Cursor: c.cursor})
		if !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("sort %q cursor %q: %v", c.sort, c.cursor, err)
		}
	}
	for _, sort := range []string{"description", "account_id", "nope", "-", "--name", "name; DROP TABLE records"} {
		_, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Sort: sort})
		if !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("sort %q: %v", sort, err)
		}
	}
	for _, limit := range []int{-1, 201} {
		_, _, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{Limit: limit})
		wantKind(t, err, apperr.KindInvalid)
	}
	rs, next, err := f.recs.List(ctx, f.admin, "account", records.ListQuery{})
	if err != nil || len(rs) != 11 || next != "" {
		t.Fatalf("default limit: %d %q %v", len(rs), next, err)
	}
	// Lists of unknown objects are not found.
	_, _, err = f.recs.List(ctx, f.admin, "planet", records.ListQuery{})
	wantKind(t, err, apperr.KindNotFound)
}
