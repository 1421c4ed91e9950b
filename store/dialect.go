package store

import (
	"strconv"
	"strings"
)

// dialect is the one seam between the two SQL engines: placeholders, JSON
// field access and case-insensitive matching. Everything else is portable SQL.
type dialect interface {
	name() string
	// rebind turns the portable "?" placeholders into the engine's own.
	rebind(query string) string
	// jsonField returns an expression reading one key of the records.fields
	// JSON document, typed for comparison and sorting, taking the key as a
	// bound parameter produced by jsonKey.
	jsonField(kind jsonKind) string
	jsonKey(field string) string
	// ilike is the case-insensitive LIKE operator.
	ilike() string
}

type jsonKind int

const (
	jsonText jsonKind = iota
	jsonNumber
	jsonBool
)

type sqliteDialect struct{}

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) rebind(q string) string { return q }

func (sqliteDialect) jsonField(kind jsonKind) string {
	switch kind {
	case jsonNumber:
		return "CAST(json_extract(fields, ?) AS REAL)"
	case jsonBool:
		return "CAST(json_extract(fields, ?) AS INTEGER)"
	default:
		return "CAST(json_extract(fields, ?) AS TEXT)"
	}
}

func (sqliteDialect) jsonKey(field string) string { return `$."` + field + `"` }

func (sqliteDialect) ilike() string { return "LIKE" }

type postgresDialect struct{}

func (postgresDialect) name() string { return "postgres" }

// rebind numbers the placeholders; Haven's SQL never has "?" inside literals.
func (postgresDialect) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (postgresDialect) jsonField(kind jsonKind) string {
	switch kind {
	case jsonNumber:
		return "(fields->>(?::text))::float8"
	case jsonBool:
		return "CASE (fields->>(?::text)) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
	default:
		return "(fields->>(?::text))"
	}
}

func (postgresDialect) jsonKey(field string) string { return field }

func (postgresDialect) ilike() string { return "ILIKE" }
