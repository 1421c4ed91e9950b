package web

import (
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/records"
)

func TestAcceptLanguage(t *testing.T) {
	for header, want := range map[string]Lang{
		"":                                LangEN,
		"zh-CN,zh;q=0.9,en;q=0.8":         LangZH,
		"zh-TW":                           LangZH,
		"en-US,en;q=0.9,zh-CN;q=0.8":      LangEN,
		"fr-FR,fr;q=0.9":                  LangEN,
		"fr-FR,zh;q=0.5":                  LangZH,
		"en;q=0.1, zh-Hans-CN;q=0.7":      LangZH,
		"zh;q=0, en;q=0.2":                LangEN,
		"de, ZH-cn":                       LangZH,
		"zh;q=garbage, en":                LangEN,
		strings.Repeat("xx,", 100) + "zh": LangEN,
	} {
		if got := acceptLanguage(header); got != want {
			t.Errorf("acceptLanguage(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/o/account?q=x":        "/o/account?q=x",
		"/":                     "/",
		"":                      "/",
		"//evil.example/x":      "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"/a\r\nSet-Cookie: x":   "/",
		"relative":              "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumberFormatting(t *testing.T) {
	for v, want := range map[float64]string{0: "0.00", 5: "5.00", 1234.5: "1,234.50", 1234567.891: "1,234,567.89", -9876543.2: "-9,876,543.20", 999: "999.00"} {
		if got := formatCurrency(v); got != want {
			t.Errorf("formatCurrency(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 1000: "1,000", 12.75: "12.75", -1234567: "-1,234,567", 1234.5: "1,234.5"} {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTimeFormatting(t *testing.T) {
	w := &Web{shanghai: time.FixedZone("CST", 8*3600)}
	at := time.Date(2026, 1, 31, 20, 5, 0, 0, time.UTC)
	if got := formatDateTime(LangEN, w.location(LangEN), at); got != "31 Jan 2026, 20:05" {
		t.Errorf("English time = %q", got)
	}
	if got := formatDateTime(LangZH, w.location(LangZH), at); got != "2026年2月1日 04:05" {
		t.Errorf("Chinese time = %q", got)
	}
	// A datetime-local value is read in the zone it was shown in.
	obj := records.Object{Fields: []records.Field{{Name: "due", Type: records.TypeDatetime}}}
	vals, errs := parseValues(w.location(LangZH), obj, formInput{"due": "2026-02-01T04:05"}, nil)
	if len(errs) > 0 || string(vals["due"]) != `"2026-01-31T20:05:00Z"` {
		t.Errorf("parsed %s %v", vals["due"], errs)
	}
	if got := formString(w.location(LangZH), obj.Fields[0], "2026-01-31T20:05:00Z"); got != "2026-02-01T04:05" {
		t.Errorf("form value %q", got)
	}
}

func TestParseValues(t *testing.T) {
	obj := records.Object{Fields: []records.Field{
		{Name: "name", Type: records.TypeText, Required: true},
		{Name: "amount", Type: records.TypeCurrency},
		{Name: "done", Type: records.TypeBoolean},
		{Name: "stage", Type: records.TypePicklist, Options: []string{"open", "won"}},
	}}
	vals, errs := parseValues(time.UTC, obj, formInput{"name": "Deal", "amount": "1,234.50", "done": "true", "stage": ""}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]string{"name": `"Deal"`, "amount": `1234.5`, "done": `true`, "stage": `null`}
	for k, v := range want {
		if string(vals[k]) != v {
			t.Errorf("%s = %s, want %s", k, vals[k], v)
		}
	}
	_, errs = parseValues(time.UTC, obj, formInput{"name": " ", "amount": "abc", "stage": "lost"}, nil)
	if errs["name"] != "is required" || errs["amount"] == "" || errs["stage"] == "" {
		t.Errorf("errors = %v", errs)
	}
	vals, _ = parseValues(time.UTC, obj, formInput{"name": "x", "amount": "5"}, func(f records.Field) bool { return f.Name == "amount" })
	if len(vals) != 1 || string(vals["amount"]) != "5" {
		t.Errorf("only-filter ignored: %v", vals)
	}
}

func TestCatalogComplete(t *testing.T) {
	for key, m := range catalog {
		if strings.TrimSpace(m[0]) == "" || strings.TrimSpace(m[1]) == "" {
			t.Errorf("catalog entry %q lacks a translation: %q", key, m)
		}
		if strings.Count(m[0], "%") != strings.Count(m[1], "%") {
			t.Errorf("catalog entry %q has different format verbs: %q", key, m)
		}
	}
	if got := translate(LangZH, "no.such.key"); !strings.Contains(got, "no.such.key") {
		t.Errorf("missing key rendered as %q", got)
	}
	for msg, want := range map[string]string{
		"is required":                    "此项为必填。",
		"must be at most 255 characters": "最多 255 个字符。",
		"no such account":                "所选记录不存在或无权访问。",
		"must be one of: a, b":           "请从以下选项中选择：a, b",
	} {
		if got := fieldMessage(LangZH, msg); got != want {
			t.Errorf("fieldMessage(zh, %q) = %q, want %q", msg, got, want)
		}
	}
	if got := fieldMessage(LangEN, "something new"); got != "Something new" {
		t.Errorf("unknown message shown as %q", got)
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := csrfTokenFor("hvs_session_a"), csrfTokenFor("hvs_session_b")
	if a == b || len(a) != 43 || strings.Contains(a, "session") {
		t.Errorf("tokens %q %q", a, b)
	}
	if a != csrfTokenFor("hvs_session_a") {
		t.Error("token is not stable for a session")
	}
	if tokensEqual("", "") || !tokensEqual(a, a) || tokensEqual(a, b) || tokensEqual(a, a[:42]) {
		t.Error("tokensEqual is wrong")
	}
}
