package records_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
)

// TestKeysetWalkByID walks an object by ID in small pages while records
// are added between pages: every record that existed when the walk began
// is visited exactly once, in ID order, and so is every record added
// meanwhile (IDs are time-ordered, so new ones land after the position).
func TestKeysetWalkByID(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		var want []string
		for i := range 7 {
			want = append(want, f.create(t, f.admin, "account", map[string]any{"name": fmt.Sprintf("客户%d", i)}).ID)
		}
		q := records.ListQuery{Sort: "id", Limit: 2}
		var got []string
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatal("the walk does not end")
			}
			rs, next, err := f.recs.List(t.Context(), f.admin, "account", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				got = append(got, r.ID)
			}
			if pages < 3 {
				want = append(want, f.create(t, f.admin, "account", map[string]any{"name": fmt.Sprintf("新客户%d", pages)}).ID)
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
		if !slices.IsSorted(got) {
			t.Fatalf("walk not in ID order: %v", got)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("walk visited %d records, want %d:\n%v\n%v", len(got), len(want), got, want)
		}
		// Descending works too, and a cursor of another sort is refused.
		desc := listAll(t, f, f.admin, "account", records.ListQuery{Sort: "-id", Limit: 3})
		if len(desc) != len(want) || desc[0].ID != want[len(want)-1] {
			t.Fatalf("descending walk: %d records", len(desc))
		}
		_, next, err := f.recs.List(t.Context(), f.admin, "account", records.ListQuery{Sort: "id", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.recs.List(t.Context(), f.admin, "account", records.ListQuery{Sort: "name", Limit: 1, Cursor: next}); err == nil {
			t.Fatal("a cursor of sort=id was accepted for sort=name")
		}
	})
}
