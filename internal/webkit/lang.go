package webkit

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Lang is a UI language. Both UIs speak the same two.
type Lang int

// The supported languages; English is the fallback.
const (
	LangEN Lang = iota
	LangZH
)

// Tag is the language's BCP 47 tag, used in <html lang> and the lang cookie.
func (l Lang) Tag() string {
	if l == LangZH {
		return "zh-CN"
	}
	return "en"
}

// LangCookie remembers an explicit language choice. Both UIs read the
// same cookie on purpose: it holds only "en" or "zh-CN", and one choice
// per browser is what people expect.
const LangCookie = "lang"

// ParseLangTag maps a language tag to a supported language, reporting
// whether it was one.
func ParseLangTag(s string) (Lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "zh" || strings.HasPrefix(s, "zh-"):
		return LangZH, true
	case s == "en" || strings.HasPrefix(s, "en-"):
		return LangEN, true
	}
	return LangEN, false
}

// RequestLang picks the language: the lang cookie, then the best
// supported Accept-Language entry, then English.
func RequestLang(r *http.Request) Lang {
	if c, err := r.Cookie(LangCookie); err == nil {
		if l, ok := ParseLangTag(c.Value); ok {
			return l
		}
	}
	return AcceptLanguage(r.Header.Get("Accept-Language"))
}

// AcceptLanguage picks the supported language with the highest quality
// from an Accept-Language header, the first of equals winning; English
// when none is supported. Only the first 33 entries are read, so a huge
// header costs little.
func AcceptLanguage(header string) Lang {
	type cand struct {
		lang Lang
		q    float64
	}
	var cands []cand
	for i, part := range strings.Split(header, ",") {
		if i > 32 {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				continue
			}
			q = f
		}
		if q <= 0 {
			continue
		}
		if l, ok := ParseLangTag(tag); ok {
			cands = append(cands, cand{l, q})
		}
	}
	if len(cands) == 0 {
		return LangEN
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].q > cands[b].q })
	return cands[0].lang
}

// Catalog maps a message key to its {English, Simplified Chinese} texts.
// Each UI has its own.
type Catalog = map[string][2]string

// Translate returns the message for key in l from catalog, formatted with
// args when there are any; a missing key renders visibly ("⟦key⟧") so
// tests catch it.
func Translate(catalog Catalog, l Lang, key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	s := m[0]
	if l == LangZH {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// TranslateOr translates key, or returns fallback for keys the catalog
// does not know (a custom value, a role or state added later).
func TranslateOr(catalog Catalog, l Lang, key, fallback string) string {
	if _, ok := catalog[key]; !ok {
		return fallback
	}
	return Translate(catalog, l, key)
}

// LangChoiceCookie remembers an explicit choice of l for a year. Its path
// is "/" so that the tenant UI and the operator console (whose own
// cookies stay under /ops) both see one choice.
func LangChoiceCookie(l Lang, secure bool) *http.Cookie {
	return &http.Cookie{Name: LangCookie, Value: l.Tag(), Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
}
