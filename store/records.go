package store

import (
	"context"

	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// InsertObject stores an object and its fields.
func (db *DB) InsertObject(ctx context.Context, tid tenant.ID, o records.Object) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `INSERT INTO objects (tenant_id, name, label, label_zh, name_field, standard) VALUES (?, ?, ?, ?, ?, ?)`,
			string(tid), o.Name, o.Label, o.LabelZH, o.NameField, o.Standard); err != nil {
			return err
		}
		for _, f := range o.Fields {
			if err := db.InsertField(ctx, tid, o.Name, f); err != nil {
				return err
			}
		}
		return nil
	})
}

// InsertField adds a field to an object.
func (db *DB) InsertField(ctx context.Context, tid tenant.ID, object string, f records.Field) error {
	opts, err := json.Marshal(f.Options)
	if err != nil {
		return err
	}
	policy, err := json.Marshal(f.Policy)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		_, err := q.exec(ctx, `INSERT INTO fields (tenant_id, object, name, label, label_zh, type, required, custom, options, lookup_object, max_length, position,
			encrypted, searchable, crypto_pending, policy)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, string(tid), object, f.Name, f.Label, f.LabelZH, string(f.Type), f.Required, f.Custom,
			string(opts), f.LookupObject, f.MaxLength, f.Position, f.Encrypted, f.Searchable, f.CryptoPending, string(policy))
		return err
	})
}

// UpdateFieldProtection stores a field's encryption, search and
// visibility settings.
func (db *DB) UpdateFieldProtection(ctx context.Context, tid tenant.ID, object string, f records.Field) error {
	policy, err := json.Marshal(f.Policy)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE fields SET encrypted = ?, searchable = ?, crypto_pending = ?, policy = ?
			WHERE tenant_id = ? AND object = ? AND name = ?`, f.Encrypted, f.Searchable, f.CryptoPending, string(policy), string(tid), object, f.Name)
		return expectOne(res, err, "field")
	})
}

// Objects returns every object of the tenant with its fields.
func (db *DB) Objects(ctx context.Context, tid tenant.ID) ([]records.Object, error) {
	return db.objects(ctx, tid, "")
}

// Object returns one object with its fields.
func (db *DB) Object(ctx context.Context, tid tenant.ID, name string) (records.Object, error) {
	if name == "" {
		return records.Object{}, apperr.NotFound("object")
	}
	objs, err := db.objects(ctx, tid, name)
	if err != nil {
		return records.Object{}, err
	}
	if len(objs) == 0 {
		return records.Object{}, apperr.NotFound("object")
	}
	return objs[0], nil
}

// standardOrder lists standard objects first in their usual order.
func standardOrder(name string) int {
	for i, n := range records.StandardObjectNames {
		if n == name {
			return i
		}
	}
	return len(records.StandardObjectNames)
}

func (db *DB) objects(ctx context.Context, tid tenant.ID, only string) ([]records.Object, error) {
	var out []records.Object
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		query := `SELECT name, label, label_zh, name_field, standard FROM objects WHERE tenant_id = ?`
		args := []any{string(tid)}
		if only != "" {
			query += ` AND name = ?`
			args = append(args, only)
		}
		rows, err := q.query(ctx, query+` ORDER BY name`, args...)
		if err != nil {
			return err
		}
		index := map[string]int{}
		for rows.Next() {
			var o records.Object
			if err := rows.Scan(&o.Name, &o.Label, &o.LabelZH, &o.NameField, &o.Standard); err != nil {
				rows.Close()
				return err
			}
			index[o.Name] = len(out)
			out = append(out, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		fq := `SELECT object, name, label, label_zh, type, required, custom, options, lookup_object, max_length, position,
			encrypted, searchable, crypto_pending, policy
			FROM fields WHERE tenant_id = ?`
		if only != "" {
			fq += ` AND object = ?`
		}
		frows, err := q.query(ctx, fq+` ORDER BY object, position`, args...)
		if err != nil {
			return err
		}
		defer frows.Close()
		for frows.Next() {
			var f records.Field
			var object, typ, opts, policy string
			if err := frows.Scan(&object, &f.Name, &f.Label, &f.LabelZH, &typ, &f.Required, &f.Custom, &opts, &f.LookupObject, &f.MaxLength, &f.Position,
				&f.Encrypted, &f.Searchable, &f.CryptoPending, &policy); err != nil {
				return err
			}
			f.Type = records.FieldType(typ)
			if err := json.Unmarshal([]byte(opts), &f.Options); err != nil {
				return fmt.Errorf("field %s.%s options: %w", object, f.Name, err)
			}
			if err := json.Unmarshal([]byte(policy), &f.Policy); err != nil {
				return fmt.Errorf("field %s.%s policy: %w", object, f.Name, err)
			}
			if i, ok := index[object]; ok {
				out[i].Fields = append(out[i].Fields, f)
			}
		}
		return frows.Err()
	})
	if err != nil {
		return nil, err
	}
	// Standard objects first, in their customary order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && standardOrder(out[j].Name) < standardOrder(out[j-1].Name); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

const recordCols = `id, object, version, owner_id, name, fields, created_at, updated_at, created_by, updated_by`

func scanRecord(row interface{ Scan(...any) error }, extra ...any) (records.Record, error) {
	var r records.Record
	var fields []byte
	var created, updated int64
	dest := append([]any{&r.ID, &r.Object, &r.Version, &r.OwnerID, &r.Name, &fields, &created, &updated, &r.CreatedBy, &r.UpdatedBy}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, errNoRows) {
			return r, apperr.NotFound("record")
		}
		return r, err
	}
	if err := json.Unmarshal(fields, &r.Fields); err != nil {
		return r, fmt.Errorf("record %s fields: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, nil
}

// InsertRecord stores a new record.
func (db *DB) InsertRecord(ctx context.Context, tid tenant.ID, r records.Record) error {
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `INSERT INTO records (tenant_id, `+recordCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(tid), r.ID, r.Object, r.Version, r.OwnerID, r.Name, string(fields), micros(r.CreatedAt), micros(r.UpdatedAt), r.CreatedBy, r.UpdatedBy); err != nil {
			return err
		}
		return db.appendChange(ctx, q, tid, records.ChangeCreate, r.Object, r.ID, r.UpdatedAt)
	})
}

// UpdateRecord stores r when the stored version is r.Version-1.
func (db *DB) UpdateRecord(ctx context.Context, tid tenant.ID, r records.Record) error {
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return err
	}
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE records SET version = ?, owner_id = ?, name = ?, fields = ?, updated_at = ?, updated_by = ?
			WHERE tenant_id = ? AND object = ? AND id = ? AND version = ?`,
			r.Version, r.OwnerID, r.Name, string(fields), micros(r.UpdatedAt), r.UpdatedBy, string(tid), r.Object, r.ID, r.Version-1)
		if err := expectOne(res, err, "record"); apperr.Is(err, apperr.KindNotFound) {
			return apperr.Conflict("the record was changed by someone else; reload and try again")
		} else if err != nil {
			return err
		}
		return db.appendChange(ctx, q, tid, records.ChangeUpdate, r.Object, r.ID, r.UpdatedAt)
	})
}

// DeleteRecord removes a record at the given version.
func (db *DB) DeleteRecord(ctx context.Context, tid tenant.ID, object, id string, version int64) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `DELETE FROM records WHERE tenant_id = ? AND object = ? AND id = ? AND version = ?`,
			string(tid), object, id, version)
		if err := expectOne(res, err, "record"); apperr.Is(err, apperr.KindNotFound) {
			return apperr.Conflict("the record was changed by someone else; reload and try again")
		} else if err != nil {
			return err
		}
		if _, err := q.exec(ctx, `DELETE FROM record_index WHERE tenant_id = ? AND object = ? AND record_id = ?`, string(tid), object, id); err != nil {
			return err
		}
		// The store is not handed the transaction's clock here; the time
		// of a change is informational (the feed is ordered by seq).
		return db.appendChange(ctx, q, tid, records.ChangeDelete, object, id, time.Now())
	})
}

// Record returns one record.
func (db *DB) Record(ctx context.Context, tid tenant.ID, object, id string) (records.Record, error) {
	var r records.Record
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		var err error
		r, err = scanRecord(q.queryRow(ctx, `SELECT `+recordCols+` FROM records WHERE tenant_id = ? AND object = ? AND id = ?`,
			string(tid), object, id))
		return err
	})
	return r, err
}

func toJSONKind(k records.ValueKind) jsonKind {
	switch k {
	case records.KindNumber:
		return jsonNumber
	case records.KindBool:
		return jsonBool
	}
	return jsonText
}

// sortExpr returns the ORDER BY expression of a list and its arguments.
// JSON values are coalesced to the kind's lowest value so that records
// without the field still have a total order for keyset pagination.
func (db *DB) sortExpr(spec records.ListSpec) (string, []any, error) {
	switch spec.SortColumn {
	case records.SortCreatedAt, records.SortUpdatedAt, records.SortName, records.SortID:
		return spec.SortColumn, nil, nil
	case "":
	default:
		return "", nil, fmt.Errorf("store: unknown sort column %q", spec.SortColumn)
	}
	expr := db.dialect.jsonField(toJSONKind(spec.SortKind))
	key := db.dialect.jsonKey(spec.SortField)
	switch spec.SortKind {
	case records.KindNumber:
		return "COALESCE(" + expr + ", -1e300)", []any{key}, nil
	case records.KindBool:
		return "COALESCE(" + expr + ", -1)", []any{key}, nil
	}
	return "COALESCE(" + expr + ", '')", []any{key}, nil
}

// ListRecords returns one page of records per spec.
func (db *DB) ListRecords(ctx context.Context, tid tenant.ID, spec records.ListSpec) ([]records.Listed, error) {
	sortSQL, sortArgs, err := db.sortExpr(spec)
	if err != nil {
		return nil, err
	}
	var where strings.Builder
	args := []any{}
	args = append(args, sortArgs...)
	where.WriteString(` WHERE tenant_id = ? AND object = ?`)
	args = append(args, string(tid), spec.Object)
	if spec.OwnerID != "" {
		where.WriteString(` AND owner_id = ?`)
		args = append(args, spec.OwnerID)
	}
	if spec.Q != "" {
		where.WriteString(` AND (name ` + db.dialect.ilike() + ` ? ESCAPE '\'`)
		args = append(args, "%"+escapeLike(spec.Q)+"%")
		for _, m := range spec.QIndex {
			where.WriteString(` OR ` + indexMatchSQL(len(m.Values)))
			args = append(args, m.Field)
			for _, v := range m.Values {
				args = append(args, v)
			}
		}
		where.WriteString(`)`)
	}
	for _, f := range spec.Filters {
		var conds []string
		if f.Value != nil {
			expr := db.dialect.jsonField(toJSONKind(f.Kind))
			if f.Kind == records.KindBool {
				// An absent boolean reads as false, as the forms store it.
				expr = "COALESCE(" + expr + ", 0)"
			}
			conds = append(conds, expr+` = ?`)
			args = append(args, db.dialect.jsonKey(f.Field), f.Value)
		}
		if len(f.Index) > 0 {
			conds = append(conds, indexMatchSQL(len(f.Index)))
			args = append(args, f.Field)
			for _, v := range f.Index {
				args = append(args, v)
			}
		}
		if len(conds) == 0 {
			return nil, fmt.Errorf("store: filter on %q matches nothing", f.Field)
		}
		where.WriteString(` AND (` + strings.Join(conds, ` OR `) + `)`)
	}
	if spec.After != nil {
		op := ">"
		if spec.Desc {
			op = "<"
		}
		fmt.Fprintf(&where, ` AND (%s %s ? OR (%s = ? AND id %s ?))`, sortSQL, op, sortSQL, op)
		args = append(args, sortArgs...)
		args = append(args, spec.After.Value)
		args = append(args, sortArgs...)
		args = append(args, spec.After.Value, spec.After.ID)
	}
	dir := "ASC"
	if spec.Desc {
		dir = "DESC"
	}
	query := `SELECT ` + recordCols + `, ` + sortSQL + ` AS sort_value FROM records` + where.String() +
		` ORDER BY sort_value ` + dir + `, id ` + dir + ` LIMIT ?`
	args = append(args, spec.Limit)
	var out []records.Listed
	err = db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		rows, err := q.query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sv any
			r, err := scanRecord(rows, &sv)
			if err != nil {
				return err
			}
			out = append(out, records.Listed{Record: r, SortValue: normalizeSortValue(sv, spec)})
		}
		return rows.Err()
	})
	return out, err
}

// normalizeSortValue gives the scanned sort value the Go type records
// expects in a cursor, whatever the driver returned.
func normalizeSortValue(v any, spec records.ListSpec) any {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch spec.SortColumn {
	case records.SortCreatedAt, records.SortUpdatedAt:
		return toInt64(v)
	case records.SortName, records.SortID:
		return v
	}
	switch spec.SortKind {
	case records.KindNumber:
		switch n := v.(type) {
		case float64:
			return n
		case int64:
			return float64(n)
		}
	case records.KindBool:
		return toInt64(v)
	}
	return v
}

func toInt64(v any) any {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	}
	return v
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// indexMatchSQL matches records whose blind index for one field (the
// first argument) is one of n values (the following arguments).
func indexMatchSQL(n int) string {
	return `EXISTS (SELECT 1 FROM record_index ri WHERE ri.tenant_id = records.tenant_id AND ri.object = records.object
		AND ri.record_id = records.id AND ri.field = ? AND ri.value IN (?` + strings.Repeat(`, ?`, n-1) + `))`
}

// ReplaceRecordIndex replaces every blind index of one record.
func (db *DB) ReplaceRecordIndex(ctx context.Context, tid tenant.ID, object, id string, entries []records.IndexEntry) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM record_index WHERE tenant_id = ? AND object = ? AND record_id = ?`, string(tid), object, id); err != nil {
			return err
		}
		return insertRecordIndex(ctx, q, tid, object, id, entries)
	})
}

// InsertRecordIndex adds the blind indexes of a new record.
func (db *DB) InsertRecordIndex(ctx context.Context, tid tenant.ID, object, id string, entries []records.IndexEntry) error {
	return db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		return insertRecordIndex(ctx, q, tid, object, id, entries)
	})
}

func insertRecordIndex(ctx context.Context, q querier, tid tenant.ID, object, id string, entries []records.IndexEntry) error {
	if len(entries) == 0 {
		return nil
	}
	// One statement for all of a record's indexes: each round trip counts
	// on the write path.
	args := make([]any, 0, 6*len(entries))
	for _, e := range entries {
		args = append(args, string(tid), object, id, e.Field, int64(e.Term), e.Value)
	}
	_, err := q.exec(ctx, `INSERT INTO record_index (tenant_id, object, record_id, field, term, value) VALUES (?, ?, ?, ?, ?, ?)`+
		strings.Repeat(`, (?, ?, ?, ?, ?, ?)`, len(entries)-1), args...)
	return err
}

// RewriteRecordFields replaces a record's stored field values without
// making a new version: re-encryption changes the form of values, not
// the values, so it appends no change-feed event (a mirror holds the
// values, which stay the same). It reports false when the record changed or went away
// since it was read, in which case the writer already stored the form
// the field's current settings ask for.
func (db *DB) RewriteRecordFields(ctx context.Context, tid tenant.ID, object, id string, version int64, fields map[string]any) (bool, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return false, err
	}
	var done bool
	err = db.inTx(ctx, tid, true, func(ctx context.Context, q querier) error {
		res, err := q.exec(ctx, `UPDATE records SET fields = ? WHERE tenant_id = ? AND object = ? AND id = ? AND version = ?`,
			string(b), string(tid), object, id, version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		done = n == 1
		return err
	})
	return done, err
}

// RecordsAfter returns up to limit records of object with IDs after
// afterID, in ID order: the walk background jobs resume from.
func (db *DB) RecordsAfter(ctx context.Context, tid tenant.ID, object, afterID string, limit int) ([]records.Record, error) {
	return queryAll(ctx, db, tid, func(row scanner) (records.Record, error) { return scanRecord(row) },
		`SELECT `+recordCols+` FROM records WHERE tenant_id = ? AND object = ? AND id > ? ORDER BY id LIMIT ?`,
		string(tid), object, afterID, limit)
}

// CountRecords counts the records of one object.
func (db *DB) CountRecords(ctx context.Context, tid tenant.ID, object string) (int64, error) {
	var n int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM records WHERE tenant_id = ? AND object = ?`, string(tid), object).Scan(&n)
	})
	return n, err
}

// CountIndexTerm counts the blind indexes made with a key term.
func (db *DB) CountIndexTerm(ctx context.Context, tid tenant.ID, term uint32) (int64, error) {
	var n int64
	err := db.inTx(ctx, tid, false, func(ctx context.Context, q querier) error {
		return q.queryRow(ctx, `SELECT COUNT(*) FROM record_index WHERE tenant_id = ? AND term = ?`, string(tid), int64(term)).Scan(&n)
	})
	return n, err
}
