package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// createMany creates n records concurrently; name(i) names record i.
func createMany(t *testing.T, c *client.Client, object string, n int, fields func(i int) map[string]any) []*api.RecordDTO {
	t.Helper()
	out := make([]*api.RecordDTO, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				out[i], errs[i] = c.CreateRecord(context.Background(), object, client.RecordInput{Fields: fields(i)})
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %s %d: %v", object, i, err)
		}
	}
	return out
}

// pages lists object page by page and returns the pages.
func pages(t *testing.T, c *client.Client, object string, opts client.ListOptions) [][]api.RecordDTO {
	t.Helper()
	var out [][]api.RecordDTO
	for {
		p, err := c.ListRecords(context.Background(), object, opts)
		if err != nil {
			t.Fatalf("list %s %+v: %v", object, opts, err)
		}
		out = append(out, p.Items)
		if p.NextCursor == "" {
			return out
		}
		if len(out) > 1000 {
			t.Fatalf("list %s never ends", object)
		}
		opts.Cursor = p.NextCursor
	}
}

// exactlyOnce checks that got holds every ID of want once and nothing else
// from want twice; extra IDs outside want are allowed only if allowExtra.
func exactlyOnce(t *testing.T, what string, got []api.RecordDTO, want []string, allowExtra bool) {
	t.Helper()
	count := map[string]int{}
	for _, r := range got {
		count[r.ID]++
		if count[r.ID] == 2 {
			t.Errorf("%s: %s (%q) listed twice", what, r.ID, r.Name)
		}
	}
	for _, id := range want {
		if count[id] == 0 {
			t.Errorf("%s: %s missing", what, id)
		}
	}
	if !allowExtra && len(count) != len(want) {
		t.Errorf("%s: %d distinct records, want %d", what, len(count), len(want))
	}
}

func TestLists(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()

		t.Run("keyset pagination returns each record once", func(t *testing.T) {
			tn := srv.NewTenant(t, "pages")
			recs := createMany(t, tn.Admin, "lead", 120, func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprintf("lead-%03d", (i*37)%120)}
			})
			var want []string
			for _, r := range recs {
				want = append(want, r.ID)
			}
			for _, sortBy := range []string{"", "created_at", "-created_at", "updated_at", "-updated_at", "name", "-name", "source", "-status"} {
				ps := pages(t, tn.Admin, "lead", client.ListOptions{Limit: 25, Sort: sortBy})
				if len(ps) != 5 {
					t.Errorf("sort %q: %d pages of 25 for 120 records, want 5", sortBy, len(ps))
				}
				var all []api.RecordDTO
				for i, p := range ps {
					if i < len(ps)-1 && len(p) != 25 {
						t.Errorf("sort %q: page %d has %d items", sortBy, i, len(p))
					}
					all = append(all, p...)
				}
				exactlyOnce(t, "sort "+sortBy, all, want, false)
				names := recordNames(all)
				switch sortBy {
				case "name":
					if !slices.IsSorted(names) {
						t.Errorf("sort name: not ascending: %v", names)
					}
				case "-name":
					if !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(b, a) }) {
						t.Errorf("sort -name: not descending: %v", names)
					}
				case "", "-created_at":
					if !slices.IsSortedFunc(all, func(a, b api.RecordDTO) int { return b.CreatedAt.Compare(a.CreatedAt) }) {
						t.Errorf("sort %q: not newest first", sortBy)
					}
				case "created_at":
					if !slices.IsSortedFunc(all, func(a, b api.RecordDTO) int { return a.CreatedAt.Compare(b.CreatedAt) }) {
						t.Errorf("sort created_at: not oldest first")
					}
				}
			}
			// One page of everything equals the paged result.
			p := must[*api.RecordList](t)(tn.Admin.ListRecords(ctx, "lead", client.ListOptions{Limit: 200, Sort: "name"}))
			if len(p.Items) != 120 || p.NextCursor != "" {
				t.Errorf("limit 200: %d items, next %q", len(p.Items), p.NextCursor)
			}
			// The default limit is 50.
			p = must[*api.RecordList](t)(tn.Admin.ListRecords(ctx, "lead", client.ListOptions{}))
			if len(p.Items) != 50 || p.NextCursor == "" {
				t.Errorf("default page: %d items, next %q", len(p.Items), p.NextCursor)
			}
		})

		t.Run("pagination under concurrent inserts", func(t *testing.T) {
			for i, sortBy := range []string{"name", "-name", "created_at", "-created_at", "-employees"} {
				// A tenant per sort keeps the lists small.
				slug := fmt.Sprintf("moving-%d", i)
				tn := srv.NewTenant(t, slug)
				writer := login(t, srv, slug, tn.AdminLogin, password)
				pre := createMany(t, tn.Admin, "account", 40, func(i int) map[string]any {
					return map[string]any{"name": fmt.Sprintf("acct-%03d", i*3), "employees": i % 5}
				})
				var want []string
				for _, r := range pre {
					want = append(want, r.ID)
				}
				opts := client.ListOptions{Limit: 6, Sort: sortBy}
				var all []api.RecordDTO
				// A writer inserts while the pages are read, and more
				// records land between pages; both are bounded so that
				// an ascending list by creation time ends.
				done := make(chan error, 1)
				go func() {
					for i := range 20 {
						if _, err := writer.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{
							"name": fmt.Sprintf("acct-%03d-bg-%d", (i*13)%120, i), "employees": i % 5}}); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				inserted := 0
				for page := 0; ; page++ {
					if page > 100 {
						t.Fatalf("sort %s: paging never ends", sortBy)
					}
					p, err := tn.Admin.ListRecords(ctx, "account", opts)
					if err != nil {
						t.Fatalf("sort %s page %d: %v", sortBy, page, err)
					}
					all = append(all, p.Items...)
					if p.NextCursor == "" {
						break
					}
					opts.Cursor = p.NextCursor
					// Records landing before, at and after the cursor.
					if page < 6 {
						for j := range 2 {
							create(t, writer, "account", map[string]any{"name": fmt.Sprintf("acct-%03d-between-%d", (page*17+j*41)%120, j), "employees": (page + j) % 5})
							inserted++
						}
					}
				}
				if err := <-done; err != nil {
					t.Fatalf("background writer: %v", err)
				}
				if inserted == 0 {
					t.Fatalf("sort %s: no records were inserted between pages", sortBy)
				}
				exactlyOnce(t, "sort "+sortBy+" under inserts", all, want, true)
				n := recordNames(all)
				switch sortBy {
				case "name":
					if !slices.IsSorted(n) {
						t.Errorf("sort name: order broken under inserts")
					}
				case "-name":
					slices.Reverse(n)
					if !slices.IsSorted(n) {
						t.Errorf("sort -name: order broken under inserts")
					}
				}
			}
		})

		t.Run("sort by a number field with missing values", func(t *testing.T) {
			tn := srv.NewTenant(t, "amounts")
			amounts := []any{500, -20, 1000.5, 7, 500, nil, 0, nil, 99999999.99, nil, 0.01}
			var want []string
			for i, a := range amounts {
				f := map[string]any{"name": fmt.Sprintf("deal-%02d", i), "stage": "proposal"}
				if a != nil {
					f["amount"] = a
				}
				want = append(want, create(t, tn.Admin, "opportunity", f).ID)
			}
			amount := func(r api.RecordDTO) (float64, bool) {
				v, ok := r.Fields["amount"].(float64)
				return v, ok
			}
			for _, desc := range []bool{false, true} {
				sortBy := "amount"
				if desc {
					sortBy = "-amount"
				}
				for _, limit := range []int{1, 2, 3, 50} {
					var all []api.RecordDTO
					for _, p := range pages(t, tn.Admin, "opportunity", client.ListOptions{Limit: limit, Sort: sortBy}) {
						all = append(all, p...)
					}
					what := fmt.Sprintf("sort %s limit %d", sortBy, limit)
					exactlyOnce(t, what, all, want, false)
					// Records without an amount are together at one end;
					// the others are in numeric order.
					var present []float64
					var missingAt []int
					for i, r := range all {
						if v, ok := amount(r); ok {
							present = append(present, v)
						} else {
							missingAt = append(missingAt, i)
						}
					}
					if len(missingAt) != 3 || missingAt[2]-missingAt[0] != 2 || (missingAt[0] != 0 && missingAt[2] != len(all)-1) {
						t.Errorf("%s: records without amount at %v of %d", what, missingAt, len(all))
					}
					sorted := slices.Clone(present)
					sort.Float64s(sorted)
					if desc {
						slices.Reverse(sorted)
					}
					if !slices.Equal(present, sorted) {
						t.Errorf("%s: amounts in order %v", what, present)
					}
				}
			}
			for _, bad := range []string{"description", "account_id", "nope", "-", "--name", "name,amount", "amount desc"} {
				_, err := tn.Admin.ListRecords(ctx, "opportunity", client.ListOptions{Sort: bad})
				checkErr(t, "sort "+bad, err, 400, "invalid_request")
			}
		})

		t.Run("equality filters", func(t *testing.T) {
			tn := srv.NewTenant(t, "filters")
			c := tn.Admin
			tech1 := create(t, c, "account", map[string]any{"name": "Tech One", "industry": "technology"})
			tech2 := create(t, c, "account", map[string]any{"name": "Tech Two", "industry": "technology", "city": "Shanghai"})
			fin := create(t, c, "account", map[string]any{"name": "Money", "industry": "finance", "city": "Shanghai"})
			create(t, c, "account", map[string]any{"name": "No industry"})
			yes := create(t, c, "contact", map[string]any{"name": "Do not call", "account_id": tech1.ID, "do_not_call": true})
			no := create(t, c, "contact", map[string]any{"name": "Call me", "account_id": tech1.ID, "do_not_call": false})
			unset := create(t, c, "contact", map[string]any{"name": "Unset", "account_id": tech2.ID})
			for _, tc := range []struct {
				object string
				filter map[string]string
				want   []string
			}{
				{"account", map[string]string{"industry": "technology"}, []string{tech1.ID, tech2.ID}},
				{"account", map[string]string{"industry": "finance"}, []string{fin.ID}},
				{"account", map[string]string{"industry": "retail"}, nil},
				{"account", map[string]string{"industry": "technology", "city": "Shanghai"}, []string{tech2.ID}},
				{"account", map[string]string{"city": "Shanghai"}, []string{tech2.ID, fin.ID}},
				{"contact", map[string]string{"account_id": tech1.ID}, []string{yes.ID, no.ID}},
				{"contact", map[string]string{"account_id": tech2.ID}, []string{unset.ID}},
				{"contact", map[string]string{"account_id": fin.ID}, nil},
				{"contact", map[string]string{"do_not_call": "true"}, []string{yes.ID}},
				// An absent boolean counts as false.
				{"contact", map[string]string{"do_not_call": "false"}, []string{no.ID, unset.ID}},
				{"contact", map[string]string{"do_not_call": "true", "account_id": tech1.ID}, []string{yes.ID}},
				{"contact", map[string]string{"do_not_call": "true", "account_id": tech2.ID}, nil},
			} {
				for _, limit := range []int{1, 50} {
					got := allRecords(t, c, tc.object, client.ListOptions{Filter: tc.filter, Limit: limit})
					w := slices.Clone(tc.want)
					sort.Strings(w)
					if g := sortedIDs(got); !slices.Equal(g, w) {
						t.Errorf("%s filter %v limit %d: got %v, want %v", tc.object, tc.filter, limit, recordNames(got), w)
					}
				}
			}
			for what, filter := range map[string]map[string]string{
				"value not in options": {"industry": "aerospace"},
				"unknown field":        {"nope": "x"},
				"long text":            {"description": "x"},
				"lookup not an id":     {"account_id": "1 OR 1=1"},
				"boolean as word":      {"do_not_call": "maybe"},
				"empty value":          {"industry": ""},
				"owner not an id":      {"owner_id": "me"},
			} {
				obj := "account"
				if _, ok := filter["account_id"]; ok {
					obj = "contact"
				}
				if _, ok := filter["do_not_call"]; ok {
					obj = "contact"
				}
				_, err := c.ListRecords(ctx, obj, client.ListOptions{Filter: filter})
				checkErr(t, what, err, 400, "invalid_request")
			}
		})

		t.Run("name search", func(t *testing.T) {
			tn := srv.NewTenant(t, "search")
			c := tn.Admin
			names := []string{"华为技术有限公司", "华为终端", "阿里巴巴", "ACME Corp", "acme ltd", "Big Acmeville", "Globex",
				"100% Cotton", "1000 Cotton", "a_c widgets", "abc widgets", `back\slash`, "backslash"}
			byName := map[string]string{}
			for _, n := range names {
				byName[n] = create(t, c, "account", map[string]any{"name": n}).ID
			}
			for _, tc := range []struct {
				q    string
				want []string
			}{
				{"华为", []string{"华为技术有限公司", "华为终端"}},
				{"有限公司", []string{"华为技术有限公司"}},
				{"巴巴", []string{"阿里巴巴"}},
				{"acme", []string{"ACME Corp", "acme ltd", "Big Acmeville"}},
				{"ACME", []string{"ACME Corp", "acme ltd", "Big Acmeville"}},
				{"aCmE l", []string{"acme ltd"}},
				{"  globex  ", []string{"Globex"}},
				{"100%", []string{"100% Cotton"}},
				{"%", []string{"100% Cotton"}},
				{"%Cotton", nil},
				{"a_c", []string{"a_c widgets"}},
				{"_", []string{"a_c widgets"}},
				{`\`, []string{`back\slash`}},
				{`k\s`, []string{`back\slash`}},
				{"'; DROP TABLE records; --", nil},
				{"nothing like this", nil},
			} {
				got := allRecords(t, c, "account", client.ListOptions{Q: tc.q, Limit: 2})
				var want []string
				for _, n := range tc.want {
					want = append(want, byName[n])
				}
				sort.Strings(want)
				if g := sortedIDs(got); !slices.Equal(g, want) {
					t.Errorf("q %q: got %q, want %q", tc.q, recordNames(got), tc.want)
				}
			}
			_, err := c.ListRecords(ctx, "account", client.ListOptions{Q: strings.Repeat("长", 101)})
			wantErr(t, err, 400, "invalid_request")
			if _, err := c.ListRecords(ctx, "account", client.ListOptions{Q: strings.Repeat("长", 100)}); err != nil {
				t.Errorf("100-character search: %v", err)
			}
			// Search and sort combine with pagination.
			var all []api.RecordDTO
			for _, p := range pages(t, c, "account", client.ListOptions{Q: "o", Sort: "-name", Limit: 1}) {
				all = append(all, p...)
			}
			var want []string
			for _, n := range names {
				if strings.Contains(strings.ToLower(n), "o") {
					want = append(want, byName[n])
				}
			}
			exactlyOnce(t, "q=o sort=-name limit=1", all, want, false)
		})

		t.Run("bad list requests", func(t *testing.T) {
			tn := srv.NewTenant(t, "badlists")
			c := tn.Admin
			createMany(t, c, "account", 6, func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("n%d", i), "employees": i} })
			first := must[*api.RecordList](t)(c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: "name"}))
			if first.NextCursor == "" {
				t.Fatal("no cursor")
			}
			cur := first.NextCursor
			// The cursor works with its own query.
			must[*api.RecordList](t)(c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: "name", Cursor: cur}))
			for _, sortBy := range []string{"-name", "", "created_at", "employees"} {
				_, err := c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: sortBy, Cursor: cur})
				checkErr(t, "cursor of sort=name with sort="+sortBy, err, 400, "invalid_request")
			}
			raw, err := base64.RawURLEncoding.DecodeString(cur)
			if err != nil {
				t.Fatalf("cursor is not base64url: %v", err)
			}
			enc := func(v any) string { return base64.RawURLEncoding.EncodeToString(jsonBody(t, v)) }
			var fields map[string]any
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatalf("cursor is not JSON: %v", err)
			}
			// Cursors are positions, not capabilities: a well-formed cursor
			// naming another position only starts the page elsewhere, with
			// the tenant, owner and filters applied again. What must fail
			// is everything that is not a well-formed cursor of this query.
			tampered := map[string]string{
				"truncated":           cur[:len(cur)/2],
				"not base64":          cur + "!*",
				"padded base64":       base64.URLEncoding.EncodeToString(raw) + "==",
				"not JSON":            base64.RawURLEncoding.EncodeToString([]byte("not json")),
				"JSON array":          enc([]any{"name", "x"}),
				"extra member":        enc(map[string]any{"s": "name", "v": "n1", "id": fields["id"], "owner": "x"}),
				"value of wrong type": enc(map[string]any{"s": "name", "v": map[string]any{"$gt": ""}, "id": fields["id"]}),
				"number for name":     enc(map[string]any{"s": "name", "v": 1, "id": fields["id"]}),
				"id not an id":        enc(map[string]any{"s": "name", "v": "n1", "id": "' OR '1'='1"}),
				"other sort inside":   enc(map[string]any{"s": "-name", "v": "n1", "id": fields["id"]}),
				"huge":                strings.Repeat("A", 5000),
				"trailing data":       base64.RawURLEncoding.EncodeToString(append(raw, []byte(` {"s":"name"}`)...)),
			}
			for what, cur := range tampered {
				_, err := c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: "name", Cursor: cur})
				checkErr(t, "tampered cursor: "+what, err, 400, "invalid_request")
			}
			// A number cursor must hold a number.
			numFirst := must[*api.RecordList](t)(c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: "employees"}))
			_, err = c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: "employees", Cursor: enc(map[string]any{"s": "employees", "v": "1", "id": uuid.NewString()})})
			checkErr(t, "string in a number cursor", err, 400, "invalid_request")
			must[*api.RecordList](t)(c.ListRecords(ctx, "account", client.ListOptions{Limit: 2, Sort: "employees", Cursor: numFirst.NextCursor}))

			base := "/api/v1/objects/account/records?"
			for what, q := range map[string]string{
				"limit=0":             "limit=0",
				"limit=201":           "limit=201",
				"limit=abc":           "limit=abc",
				"limit=-1":            "limit=-1",
				"limit=1.5":           "limit=1.5",
				"limit empty twice":   "limit=1&limit=2",
				"sort twice":          "sort=name&sort=-name",
				"q twice":             "q=a&q=b",
				"unknown parameter":   "foo=bar",
				"offset":              "offset=10",
				"page":                "page=2",
				"unclosed filter":     url.QueryEscape("filter[industry") + "=technology",
				"filter twice":        url.QueryEscape("filter[industry]") + "=technology&" + url.QueryEscape("filter[industry]") + "=finance",
				"filter without name": url.QueryEscape("filter[]") + "=x",
				"cursor twice":        "cursor=" + cur + "&cursor=" + cur,
			} {
				r := do(t, srv, rawReq{Method: "GET", Path: base + q, Token: c.Token()})
				wantRaw(t, what, r, 400, "invalid_request")
			}
			r := do(t, srv, rawReq{Method: "GET", Path: base + "limit=200", Token: c.Token()})
			if r.Status != 200 {
				t.Errorf("limit=200: %d %s", r.Status, r.Body)
			}
			r = do(t, srv, rawReq{Method: "GET", Path: "/api/v1/objects/nope/records", Token: c.Token()})
			wantRaw(t, "unknown object", r, 404, "not_found")
		})
	})
}
