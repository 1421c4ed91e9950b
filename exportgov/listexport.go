package exportgov

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Per-list export: the list a user sees, with its search, filters and
// sort, as CSV or XLSX. Rows come from the records service's own list
// path (records.Service.List, page by page with its keyset cursor), so
// field permissions hold exactly as on screen: a masked value is written
// masked, a hidden field has no column, and nothing sealed is opened
// beyond what the user sees. The order is fixed: permission and contract,
// then a counting pass, then the quota charge, then the audit event, and
// only then does any row leave.

// Formats of a list export.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// ActionListExported is the audit action of a per-list export.
const ActionListExported = "export.list"

// Lister is what a list export needs from the records service.
type Lister interface {
	Object(ctx context.Context, actor tenant.Actor, name string) (records.Object, error)
	List(ctx context.Context, actor tenant.Actor, object string, q records.ListQuery) ([]records.Record, string, error)
}

// ListRequest is one list export as a client states it: the list's own
// search, filters and sort, and the file format.
type ListRequest struct {
	Object  string
	Format  string
	Sort    string
	Q       string
	Filters map[string]string
	// Labels writes field labels in the header (Chinese ones when
	// Chinese is set) instead of field names.
	Labels  bool
	Chinese bool
}

// listPage is how many records each List call reads (the service's most).
const listPage = 200

// ListExport is an export that passed every check and was charged and
// audited; Write streams it.
type ListExport struct {
	ID     string
	Object string
	Format string
	// Rows is what was counted, charged and audited; Write writes at
	// most this many.
	Rows  int64
	At    time.Time
	actor tenant.Actor
	q     records.ListQuery
	cols  []column
	list  Lister
	svc   *Service
}

type column struct {
	header string
	field  string // record field; "" for the system columns below
	system string // "id", "owner_id", "created_at", "updated_at"
}

// StartListExport checks, counts, charges and audits a list export. It
// reads nothing the actor could not list on screen, and nothing leaves
// until the caller calls Write.
func (s *Service) StartListExport(ctx context.Context, actor tenant.Actor, lister Lister, req ListRequest) (*ListExport, error) {
	if req.Format != FormatCSV && req.Format != FormatXLSX {
		return nil, apperr.InvalidFields(map[string]string{"format": "must be csv or xlsx"})
	}
	if err := s.AllowListExport(ctx, actor); err != nil {
		return nil, err
	}
	obj, err := lister.Object(ctx, actor, req.Object)
	if err != nil {
		return nil, err
	}
	rules, err := s.Rules(ctx, actor.TenantID)
	if err != nil {
		return nil, err
	}
	e := &ListExport{ID: tenant.NewID(), Object: obj.Name, Format: req.Format, At: s.o.Now().UTC(), actor: actor,
		q: records.ListQuery{Limit: listPage, Sort: req.Sort, Q: req.Q, Filters: req.Filters}, list: lister, svc: s}
	e.cols = columns(actor, obj, req.Labels, req.Chinese)
	// Count what the list holds for this actor, through the same path the
	// rows will take; past the quota there is no need to read further.
	q := e.q
	atLeast := false
	for {
		recs, next, err := lister.List(ctx, actor, obj.Name, q)
		if err != nil {
			return nil, err
		}
		e.Rows += int64(len(recs))
		if next == "" {
			break
		}
		if e.Rows > rules.DailyRowQuota {
			atLeast = true
			break
		}
		q.Cursor = next
	}
	if err := s.charge(ctx, actor, e.Rows, atLeast); err != nil {
		return nil, err
	}
	ev := audit.New(actor, e.At, ActionListExported, "export", e.ID, obj.Name)
	ev.Changes = map[string]audit.Change{
		"object": {After: obj.Name},
		"format": {After: e.Format},
		"rows":   {After: e.Rows},
		"scope":  {After: scope(obj, e.q)},
	}
	if err := s.store.AppendAudit(ctx, ev); err != nil {
		return nil, err
	}
	return e, nil
}

// scope describes the list's filters for the audit log. Values given for
// protected fields (encrypted or masked for some role) are left out, and
// so is the search text when it may have matched such a field exactly:
// the audit log must not become a place where protected values stand in
// clear.
func scope(obj records.Object, q records.ListQuery) map[string]any {
	out := map[string]any{}
	if q.Sort != "" {
		out["sort"] = q.Sort
	}
	if q.Q != "" {
		out["q"] = q.Q
		for _, f := range obj.Fields {
			if f.Encrypted && f.Searchable {
				out["q"] = "[withheld: quick search also matches protected fields]"
				break
			}
		}
	}
	if len(q.Filters) > 0 {
		filters := map[string]string{}
		for name, v := range q.Filters {
			if f, ok := obj.Field(name); ok && (f.Encrypted || f.CryptoPending || f.Policy.Protected()) {
				v = "[withheld: protected field]"
			}
			filters[name] = v
		}
		out["filters"] = filters
	}
	if len(out) == 0 {
		return map[string]any{"all": true}
	}
	return out
}

// columns are the record ID, every field the actor may see (masked or
// clear; hidden ones have no column) and the system columns.
func columns(actor tenant.Actor, obj records.Object, labels, chinese bool) []column {
	head := func(name, en, zh string) string {
		switch {
		case !labels:
			return name
		case chinese && zh != "":
			return zh
		case en != "":
			return en
		}
		return name
	}
	cols := []column{{header: head("id", "ID", "ID"), system: "id"}}
	fields := slices.Clone(obj.Fields)
	slices.SortStableFunc(fields, func(a, b records.Field) int { return a.Position - b.Position })
	for _, f := range fields {
		if access.FieldAccess(actor, f.Policy) == access.FieldHidden {
			continue
		}
		cols = append(cols, column{header: head(f.Name, f.Label, f.LabelZH), field: f.Name})
	}
	return append(cols,
		column{header: head("owner_id", "Owner ID", "负责人 ID"), system: "owner_id"},
		column{header: head("created_at", "Created", "创建时间"), system: "created_at"},
		column{header: head("updated_at", "Updated", "更新时间"), system: "updated_at"},
	)
}

// FileName is the download's name: object, date and export ID, so that
// a saved copy still names the export it came from.
func (e *ListExport) FileName() string {
	return fmt.Sprintf("%s-%s-%s.%s", e.Object, e.At.In(e.svc.o.Location).Format("20060102-150405"), e.ID, e.Format)
}

// ContentType is the download's media type.
func (e *ListExport) ContentType() string {
	if e.Format == FormatXLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// Watermark says who exported the file, when, and which export it was;
// it is written into the file itself (and the response's headers).
func (e *ListExport) Watermark() string {
	return fmt.Sprintf("Haven export %s; exported by %s (user %s); at %s", e.ID, e.actor.Name, e.actor.UserID, e.At.Format(time.RFC3339))
}

// Headers are the HTTP response headers of the download: an attachment
// that no cache keeps, with the watermark repeated (for the client that
// saves it; the file carries its own copy).
func (e *ListExport) Headers() map[string]string {
	return map[string]string{
		"Content-Type":           e.ContentType(),
		"Content-Disposition":    mime.FormatMediaType("attachment", map[string]string{"filename": e.FileName()}),
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"X-Haven-Export-Id":      e.ID,
		"X-Haven-Export-Rows":    strconv.FormatInt(e.Rows, 10),
		// Header values must be ASCII: the exporter's name is
		// percent-encoded where it is not.
		"X-Haven-Watermark": headerSafe(e.Watermark()),
	}
}

func headerSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Write streams the rows and then tells admins about a large export.
func (e *ListExport) Write(ctx context.Context, w io.Writer) error {
	defer e.svc.Exported(context.WithoutCancel(ctx), e.actor, "list", e.ID, e.Rows)
	if e.Format == FormatXLSX {
		return e.writeXLSX(ctx, w)
	}
	return e.writeCSV(ctx, w)
}

// each calls fn with every row, reading page by page and stopping at the
// charged row count: rows added since the count do not ride along.
func (e *ListExport) each(ctx context.Context, fn func(vals []any) error) error {
	q := e.q
	var n int64
	for {
		recs, next, err := e.list.List(ctx, e.actor, e.Object, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if n == e.Rows {
				return nil
			}
			n++
			if err := fn(e.values(r)); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.Cursor = next
	}
}

func (e *ListExport) values(r records.Record) []any {
	out := make([]any, len(e.cols))
	for i, c := range e.cols {
		switch c.system {
		case "id":
			out[i] = r.ID
		case "owner_id":
			out[i] = r.OwnerID
		case "created_at":
			out[i] = e.time(r.CreatedAt)
		case "updated_at":
			out[i] = e.time(r.UpdatedAt)
		default:
			out[i] = r.Fields[c.field] // masked values are masked strings already
		}
	}
	return out
}

func (e *ListExport) time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(e.svc.o.Location).Format(time.RFC3339)
}

func (e *ListExport) headers() []string {
	out := make([]string, len(e.cols))
	for i, c := range e.cols {
		out[i] = c.header
	}
	return out
}

// writeCSV writes UTF-8 with a byte order mark (so that Excel reads
// Chinese text as UTF-8), the watermark as the first line, then the
// header and the rows. A file is renamed, mailed and re-saved, and HTTP
// headers are gone once it is on disk: only a line inside it travels
// with the data.
func (e *ListExport) writeCSV(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{e.Watermark()}); err != nil {
		return err
	}
	if err := cw.Write(e.headers()); err != nil {
		return err
	}
	row := make([]string, len(e.cols))
	err := e.each(ctx, func(vals []any) error {
		for i, v := range vals {
			row[i] = csvCell(v)
		}
		return cw.Write(row)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// csvCell formats one value. Text that a spreadsheet would run as a
// formula (starting with = + - @, a tab or a carriage return) is prefixed
// with an apostrophe, as OWASP advises against CSV injection; numbers are
// written as numbers and are not affected.
func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x != "" && strings.ContainsRune("=+-@\t\r", rune(x[0])) {
			return "'" + x
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// XLSX sheet names.
const (
	xlsxDataSheet = "Export"
	xlsxInfoSheet = "Watermark"
)

// writeXLSX writes one data sheet with excelize's streaming writer, the
// watermark in the document properties (creator, description,
// identifier), on a sheet of its own and in every printed page's header.
func (e *ListExport) writeXLSX(ctx context.Context, w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", xlsxDataSheet); err != nil {
		return err
	}
	if err := f.SetDocProps(&excelize.DocProperties{
		Creator: e.actor.Name, LastModifiedBy: e.actor.Name, Identifier: e.ID, Description: e.Watermark(),
		Title: "Haven export " + e.Object, Created: e.At.Format(time.RFC3339), Modified: e.At.Format(time.RFC3339),
	}); err != nil {
		return err
	}
	// Set before the stream writer reads the sheet, which writes it out.
	hf := "&L" + strings.ReplaceAll(e.Watermark(), "&", "&&")
	if err := f.SetHeaderFooter(xlsxDataSheet, &excelize.HeaderFooterOptions{OddHeader: hf}); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(xlsxDataSheet)
	if err != nil {
		return err
	}
	head := make([]any, len(e.cols))
	for i, h := range e.headers() {
		head[i] = h
	}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	rowNum := 1
	err = e.each(ctx, func(vals []any) error {
		rowNum++
		for i, v := range vals {
			if v == nil {
				vals[i] = ""
			}
		}
		cell, err := excelize.CoordinatesToCellName(1, rowNum)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, vals)
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if _, err := f.NewSheet(xlsxInfoSheet); err != nil {
		return err
	}
	for i, kv := range [][2]string{{"Export ID", e.ID}, {"Exported by", e.actor.Name}, {"User ID", e.actor.UserID},
		{"Exported at", e.At.Format(time.RFC3339)}, {"Object", e.Object}, {"Rows", strconv.FormatInt(e.Rows, 10)}} {
		if err := f.SetSheetRow(xlsxInfoSheet, "A"+strconv.Itoa(i+1), &[]any{kv[0], kv[1]}); err != nil {
			return err
		}
	}
	return f.Write(w)
}
