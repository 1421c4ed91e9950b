// Package mirror keeps a copy of a tenant's CRM records in the
// customer's own database (SQLite or PostgreSQL): "haven mirror".
//
// The first run takes the change feed's head cursor, copies every object
// page by page (keyset pagination by created_at and id), then applies the
// changes made since that cursor; later runs only apply the feed from the
// saved cursor. Every page is written in one target transaction together
// with the position it reached, so an interrupted run resumes where it
// stopped, never skipping or repeating a page, and a run with nothing new
// changes nothing. When the server has purged the changes after the saved
// cursor (410 cursor_expired), the run takes a fresh full copy from a new
// head and then deletes the rows the copy did not see.
//
// One table per object, named after it, with the columns id (primary
// key), version, owner_id, name, created_at, updated_at and one typed
// column per field; fields added on the server become new columns on
// the next run. Values are what the token's user sees through the API:
// fields masked for that user arrive masked and are stored as text.
// A field named like a system column (the standard objects' "name") holds
// the field's value, which for those objects is the record's name.
package mirror

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/client"
)

// Source is what the mirror reads from: the Haven API (*client.Client).
type Source interface {
	Me(ctx context.Context) (*api.MeResponse, error)
	ListObjects(ctx context.Context) (*api.ObjectList, error)
	ListRecords(ctx context.Context, object string, opts client.ListOptions) (*api.RecordList, error)
	ChangeHead(ctx context.Context) (string, error)
	Changes(ctx context.Context, cursor string, limit int) (*api.ChangeList, error)
}

// Options configure a run.
type Options struct {
	// Source reads the server; SourceURL names it in the target's state,
	// so a database mirroring one server and tenant is never mixed with
	// another.
	Source    Source
	SourceURL string
	// To is sqlite:///PATH or a postgres:// URL.
	To string
	// PageSize is the records per copied page (default 200, the API's
	// maximum); ChangeBatch the changes per feed page (default 500).
	PageSize    int
	ChangeBatch int
	// Progress receives progress; nil reports nothing.
	Progress Progress
	Log      *slog.Logger
	// AfterPage, when set, is called after each page is committed to the
	// target (tests interrupt a run with it).
	AfterPage func()
}

// Result summarises a run.
type Result struct {
	// FullCopy is true when this run (or the interrupted run it resumed)
	// was copying every record.
	FullCopy bool
	// Copied counts records copied in the full copy, Applied the feed
	// items applied, Pages the pages committed.
	Copied  int64
	Applied int64
	Pages   int
	// Cursor is the change-feed cursor the target now stands at.
	Cursor string
}

const (
	phaseCopy    = "copy"
	phaseChanges = "changes"
)

// column is one column of an object's table.
type column struct {
	name string
	kind kind
	// field is the record field the column holds; "" for system columns.
	field string
}

// table is an object's table as the metadata asks for it.
type table struct {
	name string
	cols []column
}

// systemColumns come first; id is the primary key.
var systemColumns = []column{
	{name: "id", kind: kindText}, {name: "version", kind: kindInt}, {name: "owner_id", kind: kindText},
	{name: "name", kind: kindText}, {name: "created_at", kind: kindTime}, {name: "updated_at", kind: kindTime},
}

// fieldLevel is the visibility the user has on a field, as access decides
// it: a role not listed may edit; an unknown level is hidden.
func fieldLevel(f api.FieldDTO, role string) string {
	l, ok := f.Levels[role]
	if !ok {
		return "edit"
	}
	switch l {
	case "hidden", "masked", "read", "edit":
		return l
	}
	return "hidden"
}

// tableFor derives an object's table from its metadata for a user of role.
func tableFor(o api.ObjectDTO, role string) (table, error) {
	if !validIdent(o.Name) || strings.HasPrefix(o.Name, reservedPrefix) {
		return table{}, fmt.Errorf("object name %q cannot be a table name", o.Name)
	}
	tb := table{name: o.Name}
	index := map[string]int{}
	for _, c := range systemColumns {
		index[c.name] = len(tb.cols)
		tb.cols = append(tb.cols, c)
	}
	for _, f := range o.Fields {
		if !validIdent(f.Name) {
			return table{}, fmt.Errorf("field name %s.%q cannot be a column name", o.Name, f.Name)
		}
		k := kindText
		switch f.Type {
		case "number", "currency":
			k = kindReal
		case "boolean":
			k = kindBool
		case "date":
			k = kindDate
		case "datetime":
			k = kindTime
		}
		if fieldLevel(f, role) == "masked" {
			k = kindText // masked values are text, whatever the type
		}
		c := column{name: f.Name, kind: k, field: f.Name}
		if i, ok := index[f.Name]; ok {
			if f.Name != "name" {
				return table{}, fmt.Errorf("field %s.%s has the name of a system column", o.Name, f.Name)
			}
			// The standard objects' name field is the record's name.
			tb.cols[i] = c
			continue
		}
		index[f.Name] = len(tb.cols)
		tb.cols = append(tb.cols, c)
	}
	return tb, nil
}

// mirror is one run.
type mirror struct {
	o      Options
	t      *target
	source string
	role   string
	tables map[string]table
	order  []string
	res    Result
	// recopy is true while a fresh copy after an expired cursor runs.
	recopy bool
}

// Run mirrors the tenant behind opts.Source into opts.To.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Source == nil {
		return Result{}, errors.New("mirror: no source")
	}
	if opts.PageSize <= 0 || opts.PageSize > 200 {
		opts.PageSize = 200
	}
	if opts.ChangeBatch <= 0 || opts.ChangeBatch > 1000 {
		opts.ChangeBatch = 500
	}
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	me, err := opts.Source.Me(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("read the token's user: %w", err)
	}
	t, err := openTarget(ctx, opts.To)
	if err != nil {
		return Result{}, err
	}
	defer t.Close()
	m := &mirror{o: opts, t: t, source: strings.TrimRight(opts.SourceURL, "/"), role: me.User.Role}
	if err := m.run(ctx, me.Tenant.ID); err != nil {
		return m.res, err
	}
	return m.res, nil
}

func (m *mirror) run(ctx context.Context, tenantID string) error {
	if err := m.t.ensureStateTables(ctx); err != nil {
		return err
	}
	st, found, err := m.readState(ctx)
	if err != nil {
		return err
	}
	if found && (st.source != m.source || st.tenantID != tenantID) {
		return fmt.Errorf("the target already mirrors another server or tenant (%s); use a fresh database", st.source)
	}
	if err := m.refreshSchema(ctx); err != nil {
		return err
	}
	if !found {
		// The head is taken before the copy: whatever changes during the
		// copy is in the feed after it.
		cur, err := m.o.Source.ChangeHead(ctx)
		if err != nil {
			return fmt.Errorf("read the change feed head: %w", err)
		}
		if _, err := m.t.db.ExecContext(ctx, m.t.rebind(`INSERT INTO haven_mirror_state (id, source, tenant_id, cursor, phase) VALUES (1, ?, ?, ?, ?)`),
			m.source, tenantID, cur, phaseCopy); err != nil {
			return fmt.Errorf("save mirror state: %w", err)
		}
		st = state{source: m.source, tenantID: tenantID, cursor: cur, phase: phaseCopy}
		m.o.Log.Info("mirror: first run, copying every object")
	}
	var marks int
	if err := m.t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM haven_mirror_recopy`).Scan(&marks); err != nil {
		return fmt.Errorf("read mirror state: %w", err)
	}
	m.recopy = marks > 0 // a fresh copy was interrupted: resume it as one
	for restarted := false; ; restarted = true {
		m.res.Cursor = st.cursor
		if st.phase == phaseCopy {
			m.res.FullCopy = true
			if err := m.copyAll(ctx); err != nil {
				return err
			}
			if err := m.finishCopy(ctx); err != nil {
				return err
			}
		}
		err := m.applyChanges(ctx, st.cursor)
		if restarted || !client.IsCode(err, apperr.CodeCursorExpired) {
			return err
		}
		// The server purged the changes after the saved cursor: following
		// the feed would skip them, so the target is stale for good. Only
		// a fresh copy from a new head brings it back.
		m.o.Log.Warn("mirror: the server no longer keeps the changes after the saved cursor (cursor_expired); taking a fresh full copy")
		if st, err = m.restartCopy(ctx); err != nil {
			return err
		}
		if err := m.refreshSchema(ctx); err != nil {
			return err
		}
	}
}

// restartCopy starts a fresh full copy from the current head: the copy
// positions are reset and the copy is marked as one that must remove, at
// its end, the rows the server no longer has.
func (m *mirror) restartCopy(ctx context.Context) (state, error) {
	cur, err := m.o.Source.ChangeHead(ctx)
	if err != nil {
		return state{}, fmt.Errorf("read the change feed head: %w", err)
	}
	err = m.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM haven_mirror_copy`, `DELETE FROM haven_mirror_seen`,
			`INSERT INTO haven_mirror_recopy (id) VALUES (1) ON CONFLICT (id) DO NOTHING`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, m.t.rebind(`UPDATE haven_mirror_state SET cursor = ?, phase = ? WHERE id = 1`), cur, phaseCopy)
		return err
	})
	if err != nil {
		return state{}, fmt.Errorf("save mirror state: %w", err)
	}
	m.recopy = true
	return state{source: m.source, cursor: cur, phase: phaseCopy}, nil
}

// finishCopy ends the copy phase. After a fresh copy it first removes
// every row the copy did not see: records deleted on the server before
// the new head (deletions after it arrive through the feed). All in one
// transaction, so an interrupted run repeats the sweep, never half of it.
func (m *mirror) finishCopy(ctx context.Context) error {
	err := m.inTx(ctx, func(tx *sql.Tx) error {
		if m.recopy {
			for _, name := range m.order {
				if _, err := tx.ExecContext(ctx, m.t.rebind(`DELETE FROM `+quote(m.tables[name].name)+
					` WHERE id NOT IN (SELECT id FROM haven_mirror_seen WHERE object = ?)`), name); err != nil {
					return err
				}
			}
			for _, q := range []string{`DELETE FROM haven_mirror_seen`, `DELETE FROM haven_mirror_recopy`} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, m.t.rebind(`UPDATE haven_mirror_state SET phase = ? WHERE id = 1`), phaseChanges)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish the copy: %w", err)
	}
	m.recopy = false
	return nil
}

type state struct {
	source, tenantID, cursor, phase string
}

func (m *mirror) readState(ctx context.Context) (state, bool, error) {
	var st state
	err := m.t.db.QueryRowContext(ctx, `SELECT source, tenant_id, cursor, phase FROM haven_mirror_state WHERE id = 1`).
		Scan(&st.source, &st.tenantID, &st.cursor, &st.phase)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read mirror state: %w", err)
	}
	return st, true, nil
}

// refreshSchema reads the metadata and brings every table up to it.
func (m *mirror) refreshSchema(ctx context.Context) error {
	objs, err := m.o.Source.ListObjects(ctx)
	if err != nil {
		return fmt.Errorf("read objects: %w", err)
	}
	m.tables = map[string]table{}
	m.order = m.order[:0]
	for _, o := range objs.Items {
		tb, err := tableFor(o, m.role)
		if err != nil {
			return err
		}
		if err := m.t.ensureTable(ctx, tb); err != nil {
			return err
		}
		m.tables[o.Name] = tb
		m.order = append(m.order, o.Name)
	}
	return nil
}

// copyAll copies every object, resuming each from its saved position.
func (m *mirror) copyAll(ctx context.Context) error {
	m.o.Progress.Start("copy", int64(len(m.order)))
	defer m.o.Progress.Done()
	for _, name := range m.order {
		var pos string
		var done int
		err := m.t.db.QueryRowContext(ctx, m.t.rebind(`SELECT list_cursor, done FROM haven_mirror_copy WHERE object = ?`), name).Scan(&pos, &done)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("read copy position of %s: %w", name, err)
		}
		if done == 1 {
			m.o.Progress.Step(name, m.res.Copied)
			continue
		}
		for {
			page, err := m.o.Source.ListRecords(ctx, name, client.ListOptions{Limit: m.o.PageSize, Sort: "id", Cursor: pos})
			if err != nil {
				return fmt.Errorf("copy %s: %w", name, err)
			}
			last := page.NextCursor == ""
			err = m.inTx(ctx, func(tx *sql.Tx) error {
				for _, r := range page.Items {
					if err := m.upsert(ctx, tx, name, r); err != nil {
						return err
					}
					if m.recopy {
						if _, err := tx.ExecContext(ctx, m.t.rebind(`INSERT INTO haven_mirror_seen (object, id) VALUES (?, ?)
							ON CONFLICT (object, id) DO NOTHING`), name, r.ID); err != nil {
							return err
						}
					}
				}
				_, err := tx.ExecContext(ctx, m.t.rebind(`INSERT INTO haven_mirror_copy (object, list_cursor, done) VALUES (?, ?, ?)
					ON CONFLICT (object) DO UPDATE SET list_cursor = excluded.list_cursor, done = excluded.done`),
					name, page.NextCursor, boolInt(last))
				return err
			})
			if err != nil {
				return fmt.Errorf("copy %s: %w", name, err)
			}
			m.res.Copied += int64(len(page.Items))
			m.pageDone()
			m.o.Progress.Count(name, m.res.Copied)
			if last {
				break
			}
			pos = page.NextCursor
		}
		m.o.Log.Info("mirror: object copied", "object", name, "records_so_far", m.res.Copied)
		m.o.Progress.Step(name, m.res.Copied)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *mirror) pageDone() {
	m.res.Pages++
	if m.o.AfterPage != nil {
		m.o.AfterPage()
	}
}

func (m *mirror) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := m.t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// applyChanges applies the feed from cursor until it is quiet, each page
// in one transaction with the cursor it reached.
func (m *mirror) applyChanges(ctx context.Context, cursor string) error {
	m.o.Progress.Start("changes", -1)
	defer m.o.Progress.Done()
	for {
		page, err := m.o.Source.Changes(ctx, cursor, m.o.ChangeBatch)
		if err != nil {
			return fmt.Errorf("read changes: %w", err)
		}
		if len(page.Items) == 0 && page.NextCursor == cursor {
			return nil // nothing new: leave the target untouched
		}
		if !m.knows(page.Items) {
			// An object or field was added on the server since the
			// metadata was read.
			if err := m.refreshSchema(ctx); err != nil {
				return err
			}
			if !m.knows(page.Items) {
				return errors.New("the change feed names an object or field the metadata does not list")
			}
		}
		err = m.inTx(ctx, func(tx *sql.Tx) error {
			for _, it := range page.Items {
				if it.Record == nil {
					// A delete, or a record deleted since: either way gone.
					if _, err := tx.ExecContext(ctx, m.t.rebind(`DELETE FROM `+quote(m.tables[it.Object].name)+` WHERE id = ?`), it.ID); err != nil {
						return err
					}
					continue
				}
				if err := m.upsert(ctx, tx, it.Object, *it.Record); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, m.t.rebind(`UPDATE haven_mirror_state SET cursor = ? WHERE id = 1`), page.NextCursor)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply changes: %w", err)
		}
		cursor = page.NextCursor
		m.res.Cursor = cursor
		m.res.Applied += int64(len(page.Items))
		m.pageDone()
		m.o.Progress.Count("changes", m.res.Applied)
		if !page.HasMore {
			m.o.Log.Info("mirror: changes applied", "changes", m.res.Applied)
			return nil
		}
	}
}

// knows reports whether every item's object and fields have columns.
func (m *mirror) knows(items []api.ChangeItemDTO) bool {
	for _, it := range items {
		tb, ok := m.tables[it.Object]
		if !ok {
			return false
		}
		if it.Record == nil {
			continue
		}
		for name := range it.Record.Fields {
			if !tb.has(name) {
				return false
			}
		}
	}
	return true
}

func (tb table) has(field string) bool {
	for _, c := range tb.cols {
		if c.field == field {
			return true
		}
	}
	return false
}

// upsert writes one record: every column, so fields cleared on the
// server become NULL.
func (m *mirror) upsert(ctx context.Context, tx *sql.Tx, object string, r api.RecordDTO) error {
	tb, ok := m.tables[object]
	if !ok || r.Object != object {
		return fmt.Errorf("record of unknown object %q", r.Object)
	}
	for name := range r.Fields {
		if !tb.has(name) {
			return fmt.Errorf("record field %s.%s has no column", object, name)
		}
	}
	names := make([]string, len(tb.cols))
	sets := make([]string, 0, len(tb.cols)-1)
	args := make([]any, len(tb.cols))
	for i, c := range tb.cols {
		names[i] = quote(c.name)
		if i > 0 {
			sets = append(sets, quote(c.name)+" = excluded."+quote(c.name))
		}
		var v any
		switch {
		case c.field != "":
			v = r.Fields[c.field]
		case c.name == "id":
			v = r.ID
		case c.name == "version":
			v = r.Version
		case c.name == "owner_id":
			v = r.OwnerID
		case c.name == "name":
			v = r.Name
		case c.name == "created_at":
			v = r.CreatedAt
		case c.name == "updated_at":
			v = r.UpdatedAt
		}
		cv, err := m.t.value(c, v)
		if err != nil {
			return fmt.Errorf("%s %s: %w", object, r.ID, err)
		}
		args[i] = cv
	}
	q := `INSERT INTO ` + quote(tb.name) + ` (` + strings.Join(names, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(names)-1) +
		`) ON CONFLICT (id) DO UPDATE SET ` + strings.Join(sets, ", ")
	_, err := tx.ExecContext(ctx, m.t.rebind(q), args...)
	return err
}
