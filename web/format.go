package web

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/havencrm/haven/records"
)

// Value is one formatted value as a page shows it. At most one of Href
// (a page of this site), External (an http(s) address) and Mail is set.
type Value struct {
	Text     string
	Href     string
	External string
	Mail     string
	Badge    string // CSS modifier of a badge, e.g. "yes"
	Empty    bool
	Num      bool // right-aligned numeric value
}

// location is the time zone times are shown in: China Standard Time for
// the Chinese UI, UTC otherwise.
func (w *Web) location(l Lang) *time.Location {
	if l == LangZH {
		return w.shanghai
	}
	return time.UTC
}

func formatDateTime(l Lang, loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	if l == LangZH {
		return t.Format("2006年1月2日 15:04")
	}
	return t.Format("2 Jan 2006, 15:04")
}

func formatDate(l Lang, s string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	if l == LangZH {
		return t.Format("2006年1月2日")
	}
	return t.Format("2 Jan 2006")
}

// groupDigits inserts thousands separators into the integer part of a
// plain decimal number.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

func formatCurrency(v float64) string {
	return groupDigits(strconv.FormatFloat(v, 'f', 2, 64))
}

func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return groupDigits(strconv.FormatFloat(v, 'f', 0, 64))
	}
	return groupDigits(strconv.FormatFloat(v, 'f', -1, 64))
}

func recordHref(object, id string) string {
	return "/o/" + url.PathEscape(object) + "/" + url.PathEscape(id)
}

func objectHref(object string) string { return "/o/" + url.PathEscape(object) }

// formatField formats a stored value of a field for display. names maps
// lookup IDs to record names the actor may see.
func formatField(l Lang, loc *time.Location, f records.Field, v any, names map[string]string) Value {
	if v == nil {
		return Value{Text: translate(l, "value.empty"), Empty: true}
	}
	switch x := v.(type) {
	case bool:
		if x {
			return Value{Text: translate(l, "value.yes"), Badge: "yes"}
		}
		return Value{Text: translate(l, "value.no"), Badge: "no"}
	case float64:
		if f.Type == records.TypeCurrency {
			return Value{Text: formatCurrency(x), Num: true}
		}
		return Value{Text: formatNumber(x), Num: true}
	case string:
		return formatString(l, loc, f, x, names)
	}
	return Value{Text: "?"}
}

func formatString(l Lang, loc *time.Location, f records.Field, s string, names map[string]string) Value {
	if s == "" {
		return Value{Text: translate(l, "value.empty"), Empty: true}
	}
	switch f.Type {
	case records.TypeDate:
		return Value{Text: formatDate(l, s)}
	case records.TypeDatetime:
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return Value{Text: formatDateTime(l, loc, t)}
		}
	case records.TypePicklist:
		return Value{Text: optionLabel(l, s), Badge: "pick"}
	case records.TypeLookup:
		if n, ok := names[s]; ok {
			if n == "" {
				n = translate(l, "record.no_name")
			}
			return Value{Text: n, Href: recordHref(f.LookupObject, s)}
		}
		return Value{Text: shortID(s), Empty: true}
	case records.TypeURL:
		if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			return Value{Text: s, External: u.String()}
		}
	case records.TypeEmail:
		if strings.Contains(s, "@") && !strings.ContainsAny(s, "* <>\"") {
			return Value{Text: s, Mail: "mailto:" + url.PathEscape(s)}
		}
	}
	return Value{Text: s}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// formString renders a stored value as an HTML input's value. The edit
// handler compares submissions against it to send only changed fields.
func formString(loc *time.Location, f records.Field, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "true"
		}
		return ""
	case float64:
		if f.Type == records.TypeCurrency {
			return strconv.FormatFloat(x, 'f', 2, 64)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		if f.Type == records.TypeDatetime {
			if t, err := time.Parse(time.RFC3339, x); err == nil {
				return t.In(loc).Format("2006-01-02T15:04")
			}
		}
		return x
	}
	return ""
}

// plainValue is a short, link-free rendering of an audit value.
func plainValue(l Lang, loc *time.Location, f *records.Field, v any) string {
	if v == nil {
		return translate(l, "audit.empty_value")
	}
	var s string
	if f != nil {
		val := formatField(l, loc, *f, v, nil)
		s = val.Text
		if f.Type == records.TypeLookup {
			if id, ok := v.(string); ok {
				s = shortID(id)
			}
		}
	} else {
		switch x := v.(type) {
		case bool:
			s = translate(l, "value.no")
			if x {
				s = translate(l, "value.yes")
			}
		case float64:
			s = formatNumber(x)
		case string:
			s = x
		default:
			s = "…"
		}
	}
	return truncateRunes(s, 80)
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
