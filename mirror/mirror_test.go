package mirror_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/mirror"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// fixture is a server with a tenant holding records in standard and
// custom objects, Chinese text and encrypted fields.
type fixture struct {
	srv   *testserver.Server
	tn    testserver.Tenant
	admin *client.Client
}

func newFixture(t *testing.T, engine string) fixture {
	t.Helper()
	ctx := context.Background()
	srv := testserver.Start(t, engine)
	tn := srv.NewTenant(t, "mirror")
	// A custom object: the API has no endpoint to create one yet, so it
	// goes in through the store as the future schema editor would.
	project := records.Object{Name: "project", Label: "Projects", LabelZH: "项目", NameField: "title", Fields: []records.Field{
		{Name: "title", Label: "Title", LabelZH: "标题", Type: records.TypeText, Required: true, Position: 0},
		{Name: "budget", Label: "Budget", Type: records.TypeCurrency, Position: 1},
		{Name: "due", Label: "Due", Type: records.TypeDate, Position: 2},
		{Name: "kickoff", Label: "Kickoff", Type: records.TypeDatetime, Position: 3},
		{Name: "active", Label: "Active", Type: records.TypeBoolean, Position: 4},
		{Name: "secret", Label: "Secret", Type: records.TypeText, Encrypted: true, Position: 5},
	}}
	if err := srv.App.DB.InsertObject(ctx, tenant.ID(tn.ID), project); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Admin.CreateField(ctx, "account", api.CreateFieldRequest{Name: "region", Label: "Region", LabelZH: "区域", Type: "text"}); err != nil {
		t.Fatal(err)
	}
	f := fixture{srv: srv, tn: tn, admin: tn.Admin}
	for i := range 8 {
		f.create(t, "account", map[string]any{"name": fmt.Sprintf("上海银行 %d 号", i), "city": "上海", "employees": float64(10 * i),
			"annual_revenue": 1234.5 + float64(i), "region__c": "华东"})
	}
	for i := range 5 {
		f.create(t, "contact", map[string]any{"name": fmt.Sprintf("张三%d", i), "mobile": fmt.Sprintf("1381234567%d", i),
			"email": fmt.Sprintf("zhang%d@例子.cn", i), "id_number": "11010519491231002X", "do_not_call": i%2 == 0, "birthday": "1990-05-0" + fmt.Sprint(i+1)})
	}
	for i := range 4 {
		f.create(t, "project", map[string]any{"title": fmt.Sprintf("项目%d", i), "budget": 99.25 * float64(i+1), "due": "2026-12-31",
			"kickoff": "2026-01-31T09:30:00+08:00", "active": i%2 == 1, "secret": "机密 " + fmt.Sprint(i)})
	}
	f.create(t, "activity", map[string]any{"subject": "拜访客户", "type": "visit", "due_at": "2026-02-01T10:00:00Z", "done": true})
	return f
}

func (f fixture) create(t *testing.T, object string, fields map[string]any) *api.RecordDTO {
	t.Helper()
	r, err := f.admin.CreateRecord(context.Background(), object, client.RecordInput{Fields: fields})
	if err != nil {
		t.Fatalf("create %s: %v", object, err)
	}
	return r
}

// target returns a fresh target URL of the given kind.
func target(t *testing.T, kind string) string {
	if kind == "postgres" {
		return testdb.NewPostgresDatabase(t)
	}
	return "sqlite://" + filepath.Join(t.TempDir(), "mirror.db")
}

func openTarget(t *testing.T, to string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if p, ok := strings.CutPrefix(to, "sqlite://"); ok {
		db, err = sql.Open("sqlite", "file:"+p+"?mode=ro")
	} else {
		db, err = sql.Open("pgx", to)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (f fixture) run(t *testing.T, ctx context.Context, to string, opts mirror.Options) (mirror.Result, error) {
	t.Helper()
	opts.Source, opts.SourceURL, opts.To = f.admin, f.srv.URL, to
	if opts.PageSize == 0 {
		opts.PageSize = 3 // many pages from few records
	}
	return mirror.Run(ctx, opts)
}

// compare checks the target row by row against what the API answers.
func (f fixture) compare(t *testing.T, to string) {
	t.Helper()
	ctx := context.Background()
	db := openTarget(t, to)
	objs, err := f.admin.ListObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, o := range objs.Items {
		want := map[string]api.RecordDTO{}
		for r, err := range f.admin.AllRecords(ctx, o.Name, client.ListOptions{Limit: 200}) {
			if err != nil {
				t.Fatal(err)
			}
			want[r.ID] = r
		}
		rows := readTable(t, db, o.Name)
		if len(rows) != len(want) {
			t.Errorf("%s: %d rows in the mirror, %d records on the server", o.Name, len(rows), len(want))
		}
		for id, r := range want {
			row, ok := rows[id]
			if !ok {
				t.Errorf("%s %s missing from the mirror", o.Name, id)
				continue
			}
			total++
			check := func(col string, kind string, want any) {
				if got := norm(kind, row[col]); got != norm(kind, want) {
					t.Errorf("%s %s column %s: mirror %q, server %q", o.Name, id, col, got, norm(kind, want))
				}
			}
			check("version", "int", r.Version)
			check("owner_id", "text", r.OwnerID)
			check("created_at", "datetime", r.CreatedAt)
			check("updated_at", "datetime", r.UpdatedAt)
			if _, hasName := r.Fields["name"]; !hasName {
				check("name", "text", r.Name)
			}
			for _, fl := range o.Fields {
				check(fl.Name, fl.Type, r.Fields[fl.Name])
			}
		}
	}
	if total == 0 {
		t.Fatal("compared nothing")
	}
}

// norm renders a value of a field type the same way whichever side and
// engine it comes from; "NULL" for none.
func norm(kind string, v any) string {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if v == nil {
		return "NULL"
	}
	switch kind {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return fmt.Sprint(x != 0)
		}
	case "number", "currency", "int":
		switch x := v.(type) {
		case int64:
			return fmt.Sprint(float64(x))
		case float64:
			return fmt.Sprint(x)
		}
	case "date":
		if tm, ok := v.(time.Time); ok {
			return tm.Format(time.DateOnly)
		}
	case "datetime":
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		case string:
			if tm, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return tm.UTC().Format(time.RFC3339Nano)
			}
		}
	}
	return fmt.Sprint(v)
}

// readTable reads every row of a mirrored table by id.
func readTable(t *testing.T, db *sql.DB, table string) map[string]map[string]any {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]map[string]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]any{}
		for i, c := range cols {
			row[c] = vals[i]
		}
		out[fmt.Sprint(norm("text", row["id"]))] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot renders every table of the target, for "nothing changed".
func snapshot(t *testing.T, to string) string {
	t.Helper()
	db := openTarget(t, to)
	tables := []string{"haven_mirror_state", "haven_mirror_copy", "account", "contact", "lead", "opportunity", "activity", "project"}
	var b strings.Builder
	for _, tb := range tables {
		rows := readTable(t, db, tb)
		keys := make([]string, 0, len(rows))
		for k := range rows {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cols := make([]string, 0, len(rows[k]))
			for c, v := range rows[k] {
				cols = append(cols, c+"="+norm("text", v))
			}
			sort.Strings(cols)
			fmt.Fprintf(&b, "%s %s %s\n", tb, k, strings.Join(cols, " "))
		}
	}
	return b.String()
}

// change creates, updates and deletes records and adds a custom field.
func (f fixture) change(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	accounts, err := f.admin.ListRecords(ctx, "account", client.ListOptions{Limit: 3, Sort: "created_at"})
	if err != nil {
		t.Fatal(err)
	}
	a := accounts.Items[0]
	if _, err := f.admin.UpdateRecord(ctx, "account", a.ID, a.Version, map[string]any{"name": "北京分行（改名）", "city": nil, "employees": 7.0}); err != nil {
		t.Fatal(err)
	}
	if err := f.admin.DeleteRecord(ctx, "account", accounts.Items[1].ID, 0); err != nil {
		t.Fatal(err)
	}
	contacts, err := f.admin.ListRecords(ctx, "contact", client.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.admin.DeleteRecord(ctx, "contact", contacts.Items[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CreateField(ctx, "project", api.CreateFieldRequest{Name: "priority", Label: "Priority", LabelZH: "优先级", Type: "number"}); err != nil {
		t.Fatal(err)
	}
	p := f.create(t, "project", map[string]any{"title": "新项目", "priority__c": 3.0, "secret": "新的机密"})
	// Created and deleted between two runs: the mirror never holds it.
	gone := f.create(t, "lead", map[string]any{"name": "临时线索"})
	if err := f.admin.DeleteRecord(ctx, "lead", gone.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.UpdateRecord(ctx, "project", p.ID, p.Version, map[string]any{"active": true}); err != nil {
		t.Fatal(err)
	}
}

func TestMirror(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, kind := range []string{"sqlite", "postgres"} {
			t.Run(engine+"_to_"+kind, func(t *testing.T) {
				f := newFixture(t, engine)
				to := target(t, kind)
				ctx := context.Background()
				res, err := f.run(t, ctx, to, mirror.Options{})
				if err != nil {
					t.Fatalf("first run: %v", err)
				}
				if !res.FullCopy || res.Copied != 18 {
					t.Fatalf("first run: %+v", res)
				}
				f.compare(t, to)
				// Encrypted values arrive in clear for the admin.
				db := openTarget(t, to)
				var secret, mobile string
				if err := db.QueryRow(`SELECT secret FROM project WHERE title = '项目2'`).Scan(&secret); err != nil || secret != "机密 2" {
					t.Fatalf("secret %q %v", secret, err)
				}
				if err := db.QueryRow(`SELECT mobile FROM contact WHERE name = '张三3'`).Scan(&mobile); err != nil || mobile != "13812345673" {
					t.Fatalf("mobile %q %v", mobile, err)
				}

				f.change(t)
				res, err = f.run(t, ctx, to, mirror.Options{ChangeBatch: 2})
				if err != nil {
					t.Fatalf("second run: %v", err)
				}
				if res.FullCopy || res.Copied != 0 || res.Applied == 0 {
					t.Fatalf("second run: %+v", res)
				}
				f.compare(t, to)
				var priority float64
				if err := db.QueryRow(`SELECT priority__c FROM project WHERE title = '新项目'`).Scan(&priority); err != nil || priority != 3 {
					t.Fatalf("new custom field column: %v %v", priority, err)
				}

				before := snapshot(t, to)
				res, err = f.run(t, ctx, to, mirror.Options{})
				if err != nil {
					t.Fatalf("third run: %v", err)
				}
				if res.Applied != 0 || res.Pages != 0 {
					t.Fatalf("third run did something: %+v", res)
				}
				if after := snapshot(t, to); after != before {
					t.Fatalf("a run with nothing new changed the target:\n%s\n---\n%s", before, after)
				}
			})
		}
	}
}

// TestMirrorResumes interrupts runs midway, in the copy and in the feed,
// and resumes them.
func TestMirrorResumes(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, "sqlite")
			to := target(t, kind)
			interrupt := func(after int) (mirror.Result, error) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				pages := 0
				return f.run(t, ctx, to, mirror.Options{ChangeBatch: 1, AfterPage: func() {
					if pages++; pages == after {
						cancel()
					}
				}})
			}
			res, err := interrupt(3)
			if !errors.Is(err, context.Canceled) || res.Pages != 3 {
				t.Fatalf("interrupted copy: %+v %v", res, err)
			}
			if rows := readTable(t, openTarget(t, to), "account"); len(rows) != 8 {
				// 3 pages of 3 account records: 8 copied, the object done.
				t.Fatalf("after 3 pages: %d accounts", len(rows))
			}
			res, err = f.run(t, context.Background(), to, mirror.Options{})
			if err != nil || !res.FullCopy || res.Copied != 10 {
				t.Fatalf("resumed copy: %+v %v", res, err)
			}
			f.compare(t, to)

			f.change(t)
			res, err = interrupt(2)
			if !errors.Is(err, context.Canceled) || res.Applied != 2 {
				t.Fatalf("interrupted feed: %+v %v", res, err)
			}
			res, err = f.run(t, context.Background(), to, mirror.Options{})
			if err != nil || res.Applied == 0 {
				t.Fatalf("resumed feed: %+v %v", res, err)
			}
			f.compare(t, to)
		})
	}
}

// TestChangeFeedAPI covers the feed's HTTP edge: cursors, limits and
// who may read it.
func TestChangeFeedAPI(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	head, err := f.admin.ChangeHead(ctx)
	if err != nil || !strings.HasPrefix(head, "c1.") {
		t.Fatalf("head %q %v", head, err)
	}
	page, err := f.admin.Changes(ctx, "", 5)
	if err != nil || len(page.Items) != 5 || !page.HasMore || page.Items[0].Op != "create" || page.Items[0].Record == nil {
		t.Fatalf("first page: %+v %v", page, err)
	}
	for _, bad := range []string{"nonsense", "c1.-5", head + "0"} {
		if _, err := f.admin.Changes(ctx, bad, 10); !client.IsCode(err, "invalid_request") {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
	if _, err := f.admin.Changes(ctx, "", 1001); !client.IsCode(err, "invalid_request") {
		t.Errorf("limit 1001: %v", err)
	}
	sales, _ := f.srv.NewUser(t, f.tn, "sales@mirror.example.com", "销售", "sales")
	if _, err := sales.Changes(ctx, "", 10); !client.IsCode(err, "forbidden") {
		t.Errorf("sales user reads the feed: %v", err)
	}
	_, err = mirror.Run(ctx, mirror.Options{Source: sales, SourceURL: f.srv.URL, To: target(t, "sqlite")})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("mirror as a sales user: %v", err)
	}
	// A manager sees the mobile masked in the mirror as through the API.
	manager, _ := f.srv.NewUser(t, f.tn, "manager@mirror.example.com", "经理", "manager")
	if _, err := f.admin.UpdateFieldProtection(ctx, "contact", "mobile", api.FieldProtectionDTO{Encrypted: true, Searchable: true, Mask: "mobile",
		Levels: map[string]string{"admin": "edit", "manager": "masked", "sales": "masked"}}); err != nil {
		t.Fatal(err)
	}
	to := target(t, "sqlite")
	mf := fixture{srv: f.srv, tn: f.tn, admin: manager}
	if _, err := mf.run(t, ctx, to, mirror.Options{}); err != nil {
		t.Fatal(err)
	}
	mf.compare(t, to)
	var mobile string
	if err := openTarget(t, to).QueryRow(`SELECT mobile FROM contact WHERE name = '张三3'`).Scan(&mobile); err != nil ||
		mobile == "13812345673" || !strings.Contains(mobile, "*") {
		t.Fatalf("manager's mirror holds mobile %q (%v), want it masked", mobile, err)
	}
}

// TestMirrorRefusesASecondRun: two runs into one PostgreSQL database
// would interleave their pages, so the second is refused.
func TestMirrorRefusesASecondRun(t *testing.T) {
	f := newFixture(t, "sqlite")
	to := target(t, "postgres")
	db := openTarget(t, to)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_lock(hashtext('haven_mirror'))`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(t, context.Background(), to, mirror.Options{}); err == nil || !strings.Contains(err.Error(), "another haven mirror") {
		t.Fatalf("second run: %v", err)
	}
	if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext('haven_mirror'))`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(t, context.Background(), to, mirror.Options{}); err != nil {
		t.Fatalf("run after the other ended: %v", err)
	}
	f.compare(t, to)
}

// TestMirrorWhileWriting runs the first (full) copy while others write:
// the head cursor taken before the copy brings in whatever the copy
// missed, so after the writers stop one more run leaves an exact copy.
func TestMirrorWhileWriting(t *testing.T) {
	f := newFixture(t, "sqlite")
	to := target(t, "sqlite")
	ctx := context.Background()
	var writers sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		writers.Go(func() {
			for i := range 15 {
				r, err := f.admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": fmt.Sprintf("并发%d-%d", w, i)}})
				if err == nil && i%2 == 0 {
					_, err = f.admin.UpdateRecord(ctx, "account", r.ID, r.Version, map[string]any{"city": "深圳"})
				}
				if err == nil && i%3 == 0 {
					err = f.admin.DeleteRecord(ctx, "account", r.ID, 0)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	if _, err := f.run(t, ctx, to, mirror.Options{PageSize: 2}); err != nil {
		t.Fatalf("run during writes: %v", err)
	}
	writers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := f.run(t, ctx, to, mirror.Options{}); err != nil {
		t.Fatalf("run after writes: %v", err)
	}
	f.compare(t, to)
}

// TestMirrorAfterExpiredCursor purges the server's change feed past the
// mirror's saved cursor: the server refuses the cursor (410
// cursor_expired), and the next run takes a fresh full copy, removes what
// the server deleted meanwhile, says so, and leaves the target equal to
// the server.
func TestMirrorAfterExpiredCursor(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, "sqlite")
			to := target(t, kind)
			ctx := context.Background()
			if _, err := f.run(t, ctx, to, mirror.Options{}); err != nil {
				t.Fatalf("first run: %v", err)
			}
			saved, err := f.admin.ChangeHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f.change(t)
			// The server's daily purge with its default retention (90
			// days): nothing is old enough yet; past it, everything the
			// feed holds goes, well past the saved cursor.
			day := 24 * time.Hour
			if n, err := f.srv.App.PurgeChangeFeeds(ctx, time.Now().Add(records.DefaultChangeRetention-day)); err != nil || n != 0 {
				t.Fatalf("purge within the retention removed %d, %v", n, err)
			}
			if n, err := f.srv.App.PurgeChangeFeeds(ctx, time.Now().Add(records.DefaultChangeRetention+day)); err != nil || n == 0 {
				t.Fatalf("purge past the retention: %d, %v", n, err)
			}
			_, err = f.admin.Changes(ctx, saved, 10)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.StatusCode != 410 || ce.Code != "cursor_expired" {
				t.Fatalf("expired cursor answered %v, want 410 cursor_expired", err)
			}
			// Written after the purge: must arrive too.
			late := f.create(t, "lead", map[string]any{"name": "清理后的线索"})

			var logs strings.Builder
			var mu sync.Mutex
			log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
			res, err := f.run(t, ctx, to, mirror.Options{Log: log})
			if err != nil {
				t.Fatalf("run after the purge: %v", err)
			}
			if !res.FullCopy || res.Copied == 0 {
				t.Fatalf("run after the purge: %+v", res)
			}
			mu.Lock()
			said := logs.String()
			mu.Unlock()
			if !strings.Contains(said, "cursor_expired") || !strings.Contains(said, "fresh full copy") {
				t.Fatalf("the run did not say it copied again:\n%s", said)
			}
			f.compare(t, to)
			db := openTarget(t, to)
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM lead WHERE id = '` + late.ID + `'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("lead written after the purge: %d %v", n, err)
			}
			for _, tb := range []string{"haven_mirror_seen", "haven_mirror_recopy"} {
				if err := db.QueryRow(`SELECT COUNT(*) FROM ` + tb).Scan(&n); err != nil || n != 0 {
					t.Fatalf("%s left with %d rows, %v", tb, n, err)
				}
			}
			// From here on the feed is followed again.
			if err := f.admin.DeleteRecord(ctx, "lead", late.ID, 0); err != nil {
				t.Fatal(err)
			}
			res, err = f.run(t, ctx, to, mirror.Options{})
			if err != nil || res.FullCopy || res.Applied != 1 {
				t.Fatalf("run after the fresh copy: %+v %v", res, err)
			}
			f.compare(t, to)
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
