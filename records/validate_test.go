package records_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
)

type valueCase struct {
	name   string
	object string
	field  string
	raw    string // JSON; "$ACCOUNT", "$CONTACT", "$FOREIGN" are replaced by record IDs
	ok     bool
	want   any // canonical stored value; nil: absent
}

// base holds the required fields of each object.
var base = map[string]map[string]any{
	"account":     {"name": "Base"},
	"contact":     {"name": "Base"},
	"lead":        {"name": "Base"},
	"opportunity": {"name": "Base", "stage": "proposal"},
	"activity":    {"subject": "Base", "type": "call"},
}

func valueCases() []valueCase {
	long := func(s string, n int) string { b, _ := json.Marshal(strings.Repeat(s, n)); return string(b) }
	return []valueCase{
		// text
		{"text", "account", "city", `"Shanghai"`, true, "Shanghai"},
		{"text trimmed", "account", "city", `"  Shanghai  "`, true, "Shanghai"},
		{"text blank clears", "account", "city", `"   "`, true, nil},
		{"text null clears", "account", "city", `null`, true, nil},
		{"text 255 runes", "account", "city", long("城", 255), true, strings.Repeat("城", 255)},
		{"text 256", "account", "city", long("a", 256), false, nil},
		{"text NUL", "account", "city", `"a\u0000b"`, false, nil},
		{"text ESC", "account", "city", `"a\u001b[31mred"`, false, nil},
		{"text newline", "account", "city", `"a\nb"`, false, nil},
		{"text CR", "account", "city", `"a\rb"`, false, nil},
		{"text tab allowed", "account", "city", `"a\tb"`, true, "a\tb"},
		{"text number", "account", "city", `42`, false, nil},
		{"text object", "account", "city", `{"$gt": ""}`, false, nil},
		{"text array", "account", "city", `["a"]`, false, nil},
		{"text html kept verbatim", "account", "city", `"<script>alert(1)</script>"`, true, "<script>alert(1)</script>"},
		// textarea
		{"textarea newlines", "account", "description", `"l1\nl2\r\nl3"`, true, "l1\nl2\r\nl3"},
		{"textarea keeps spaces", "account", "description", `"  indented"`, true, "  indented"},
		{"textarea 32000", "account", "description", long("x", 32000), true, strings.Repeat("x", 32000)},
		{"textarea 32001", "account", "description", long("x", 32001), false, nil},
		{"textarea NUL", "account", "description", `"a\u0000"`, false, nil},
		// email
		{"email", "account", "email", `"bob@example.com"`, true, "bob@example.com"},
		{"email with name", "account", "email", `"Bob <bob@example.com>"`, false, nil},
		{"email angle", "account", "email", `"<bob@example.com>"`, false, nil},
		{"email no at", "account", "email", `"bob"`, false, nil},
		{"email two", "account", "email", `"a@example.com, b@example.com"`, false, nil},
		{"email header injection", "account", "email", `"a@example.com\nBcc: x@evil.com"`, false, nil},
		// phone
		{"phone", "account", "phone", `"+86 138-0013-8000"`, true, "+86 138-0013-8000"},
		{"phone brackets", "account", "phone", `"+86 (10) 1234-5678"`, true, "+86 (10) 1234-5678"},
		{"phone short", "account", "phone", `"12"`, false, nil},
		{"phone words", "account", "phone", `"call me"`, false, nil},
		{"phone extension", "account", "phone", `"138 0013 8000 ext 5"`, false, nil},
		{"phone trailing dash", "account", "phone", `"138-0013-8000-"`, false, nil},
		// url
		{"url https", "account", "website", `"https://example.com/a?b=c"`, true, "https://example.com/a?b=c"},
		{"url http", "account", "website", `"http://example.com"`, true, "http://example.com"},
		{"url trimmed", "account", "website", `" https://example.com "`, true, "https://example.com"},
		{"url javascript", "account", "website", `"javascript:alert(1)"`, false, nil},
		{"url JavaScript mixed case", "account", "website", `"JavaScript:alert(1)"`, false, nil},
		{"url javascript with slashes", "account", "website", `"javascript://example.com/%0Aalert(1)"`, false, nil},
		{"url data", "account", "website", `"data:text/html,<script>alert(1)</script>"`, false, nil},
		{"url vbscript", "account", "website", `"vbscript:msgbox(1)"`, false, nil},
		{"url ftp", "account", "website", `"ftp://example.com/file"`, false, nil},
		{"url file", "account", "website", `"file:///etc/passwd"`, false, nil},
		{"url scheme-relative", "account", "website", `"//evil.example.com"`, false, nil},
		{"url no scheme", "account", "website", `"example.com"`, false, nil},
		{"url no host", "account", "website", `"https://"`, false, nil},
		{"url opaque", "account", "website", `"https:example.com"`, false, nil},
		// picklist
		{"picklist", "account", "industry", `"finance"`, true, "finance"},
		{"picklist case", "account", "industry", `"Finance"`, false, nil},
		{"picklist unknown", "account", "industry", `"crypto"`, false, nil},
		{"picklist other object's option", "account", "industry", `"prospect"`, false, nil},
		{"picklist number", "account", "industry", `1`, false, nil},
		// date
		{"date", "contact", "birthday", `"1990-02-28"`, true, "1990-02-28"},
		{"date invalid day", "contact", "birthday", `"1990-02-30"`, false, nil},
		{"date other format", "contact", "birthday", `"28/02/1990"`, false, nil},
		{"date with time", "contact", "birthday", `"1990-02-28T00:00:00Z"`, false, nil},
		// datetime
		{"datetime to UTC", "activity", "due_at", `"2026-01-31T09:30:00+08:00"`, true, "2026-01-31T01:30:00Z"},
		{"datetime UTC", "activity", "due_at", `"2026-01-31T09:30:00Z"`, true, "2026-01-31T09:30:00Z"},
		{"datetime negative offset crosses day", "activity", "due_at", `"2026-01-31T22:00:00-05:00"`, true, "2026-02-01T03:00:00Z"},
		{"datetime no zone", "activity", "due_at", `"2026-01-31T09:30:00"`, false, nil},
		{"datetime space", "activity", "due_at", `"2026-01-31 09:30"`, false, nil},
		{"datetime date only", "activity", "due_at", `"2026-01-31"`, false, nil},
		// number
		{"number int", "account", "employees", `12`, true, float64(12)},
		{"number negative fraction", "account", "employees", `-5.5`, true, -5.5},
		{"number exponent", "account", "employees", `1e3`, true, float64(1000)},
		{"number near limit", "account", "employees", `999999999999999`, true, float64(999999999999999)},
		{"number too large", "account", "employees", `1e15`, false, nil},
		{"number too small", "account", "employees", `-1e15`, false, nil},
		{"number huge", "account", "employees", `1e400`, false, nil},
		{"number bool", "account", "employees", `true`, false, nil},
		{"number word", "account", "employees", `"many"`, false, nil},
		{"number NaN", "account", "employees", `"NaN"`, false, nil},
		// currency
		{"currency", "account", "annual_revenue", `12.34`, true, 12.34},
		{"currency trailing zeros", "account", "annual_revenue", `12.340`, true, 12.34},
		{"currency three decimals", "account", "annual_revenue", `12.345`, false, nil},
		{"currency negative", "account", "annual_revenue", `-0.5`, true, -0.5},
		{"currency too large", "account", "annual_revenue", `1000000000000000`, false, nil},
		// boolean
		{"boolean true", "contact", "do_not_call", `true`, true, true},
		{"boolean false", "contact", "do_not_call", `false`, true, false},
		{"boolean string", "contact", "do_not_call", `"true"`, false, nil},
		{"boolean number", "contact", "do_not_call", `1`, false, nil},
		// lookup
		{"lookup", "contact", "account_id", `"$ACCOUNT"`, true, "$ACCOUNT"},
		{"lookup not an id", "contact", "account_id", `"not-an-id"`, false, nil},
		{"lookup missing", "contact", "account_id", `"0190a0a0-0000-7000-8000-000000000000"`, false, nil},
		{"lookup wrong object", "contact", "account_id", `"$CONTACT"`, false, nil},
		{"lookup other tenant", "contact", "account_id", `"$FOREIGN"`, false, nil},
		{"lookup number", "contact", "account_id", `7`, false, nil},
	}
}

func testFieldValidation(t *testing.T, db *store.DB) {
	f := setup(t, db)
	ctx := context.Background()
	acct := f.create(t, f.admin, "account", map[string]any{"name": "Target"})
	cont := f.create(t, f.admin, "contact", map[string]any{"name": "Person"})
	_, foreignAdmin := f.newTenant(t, "globex")
	foreign, err := f.recs.Create(ctx, foreignAdmin, "account", "", vals(map[string]any{"name": "Foreign"}))
	if err != nil {
		t.Fatal(err)
	}
	subst := func(s string) string {
		return strings.NewReplacer("$ACCOUNT", acct.ID, "$CONTACT", cont.ID, "$FOREIGN", foreign.ID).Replace(s)
	}
	existing := map[string]records.Record{}
	for obj, kv := range base {
		existing[obj] = f.create(t, f.admin, obj, kv)
	}
	for _, c := range valueCases() {
		raw := json.RawMessage(subst(c.raw))
		want := c.want
		if s, ok := want.(string); ok {
			want = subst(s)
		}
		check := func(op string, r records.Record, err error) {
			t.Helper()
			if !c.ok {
				fe := fieldErrors(t, err)
				if fe[c.field] == "" || len(fe) != 1 {
					t.Errorf("%s %s: fields %v", op, c.name, fe)
				}
				return
			}
			if err != nil {
				t.Errorf("%s %s: %v", op, c.name, err)
				return
			}
			got, err := f.recs.Get(ctx, f.admin, c.object, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			v, present := got.Fields[c.field]
			if want == nil {
				if present {
					t.Errorf("%s %s: stored %#v, want absent", op, c.name, v)
				}
			} else if v != want {
				t.Errorf("%s %s: stored %#v, want %#v", op, c.name, v, want)
			}
		}
		in := map[string]any{}
		for k, v := range base[c.object] {
			in[k] = v
		}
		in[c.field] = raw
		r, err := f.recs.Create(ctx, f.admin, c.object, "", vals(in))
		check("create", r, err)

		cur, _ := f.recs.Get(ctx, f.admin, c.object, existing[c.object].ID)
		r, err = f.recs.Update(ctx, f.admin, c.object, cur.ID, cur.Version, "", vals(map[string]any{c.field: raw}))
		check("update", r, err)
		if !c.ok {
			after, _ := f.recs.Get(ctx, f.admin, c.object, cur.ID)
			if after.Version != cur.Version {
				t.Errorf("update %s: rejected update changed the version", c.name)
			}
		}
	}
}

func TestParseFormValue(t *testing.T) {
	fl := func(typ records.FieldType, opts ...string) records.Field {
		return records.Field{Name: "f", Type: typ, Options: opts, LookupObject: "account"}
	}
	cases := []struct {
		name  string
		field records.Field
		in    string
		want  any
		bad   bool
	}{
		{"empty text", fl(records.TypeText), "  ", nil, false},
		{"text trimmed", fl(records.TypeText), "  hi ", "hi", false},
		{"text control", fl(records.TypeText), "a\x07b", nil, true},
		{"number with thousands separators", fl(records.TypeNumber), "1,234.5", 1234.5, false},
		{"number", fl(records.TypeNumber), " 42 ", float64(42), false},
		{"number word", fl(records.TypeNumber), "forty", nil, true},
		{"number inf", fl(records.TypeNumber), "Inf", nil, true},
		{"number nan", fl(records.TypeNumber), "NaN", nil, true},
		{"number too large", fl(records.TypeNumber), "1e15", nil, true},
		{"currency", fl(records.TypeCurrency), "1,000.50", 1000.5, false},
		{"currency three decimals", fl(records.TypeCurrency), "1.005", nil, true},
		{"empty boolean is false", fl(records.TypeBoolean), "", false, false},
		{"boolean on", fl(records.TypeBoolean), "on", true, false},
		{"boolean true", fl(records.TypeBoolean), "true", true, false},
		{"boolean 1", fl(records.TypeBoolean), "1", true, false},
		{"boolean off", fl(records.TypeBoolean), "off", false, false},
		{"boolean 0", fl(records.TypeBoolean), "0", false, false},
		{"boolean yes", fl(records.TypeBoolean), "yes", nil, true},
		{"datetime-local", fl(records.TypeDatetime), "2026-01-31T09:30", "2026-01-31T09:30:00Z", false},
		{"datetime RFC3339", fl(records.TypeDatetime), "2026-01-31T09:30:00+08:00", "2026-01-31T01:30:00Z", false},
		{"datetime garbage", fl(records.TypeDatetime), "tomorrow", nil, true},
		{"date", fl(records.TypeDate), "2026-02-28", "2026-02-28", false},
		{"date bad", fl(records.TypeDate), "2026-02-29", nil, true},
		{"picklist", fl(records.TypePicklist, "a", "b"), "b", "b", false},
		{"picklist unknown", fl(records.TypePicklist, "a", "b"), "c", nil, true},
		{"url javascript", fl(records.TypeURL), "javascript:alert(1)", nil, true},
		{"url https", fl(records.TypeURL), "https://example.com", "https://example.com", false},
		{"lookup id", fl(records.TypeLookup), "0190a0a0-0000-7000-8000-000000000000", "0190a0a0-0000-7000-8000-000000000000", false},
		{"lookup bad", fl(records.TypeLookup), "1 OR 1=1", nil, true},
		{"email", fl(records.TypeEmail), "a@example.com", "a@example.com", false},
		{"email bad", fl(records.TypeEmail), "a@", nil, true},
		{"phone", fl(records.TypePhone), "+86 10 1234 5678", "+86 10 1234 5678", false},
	}
	for _, c := range cases {
		got, msg := records.ParseFormValue(c.field, c.in)
		if c.bad {
			if msg == "" {
				t.Errorf("%s: accepted %q as %#v", c.name, c.in, got)
			}
			continue
		}
		if msg != "" || got != c.want {
			t.Errorf("%s: got %#v %q, want %#v", c.name, got, msg, c.want)
		}
	}
}

func TestValidCustomFieldNameAndTypes(t *testing.T) {
	for name, ok := range map[string]bool{
		"a__c": true, "tier__c": true, "a1_b2__c": true, "a" + strings.Repeat("b", 40) + "__c": true,
		"a" + strings.Repeat("b", 41) + "__c": false, "tier": false, "Tier__c": false, "1a__c": false, "_a__c": false,
		"a-b__c": false, "__c": false, "a__c ": false, "a__C": false,
	} {
		if records.ValidCustomFieldName(name) != ok {
			t.Errorf("ValidCustomFieldName(%q) != %v", name, ok)
		}
	}
	for _, typ := range records.FieldTypes {
		if !records.ValidType(typ) {
			t.Errorf("%s not valid", typ)
		}
	}
	if records.ValidType("blob") || records.ValidType("") {
		t.Error("unknown type valid")
	}
	if records.TypeTextarea.Sortable() || records.TypeLookup.Sortable() || !records.TypeNumber.Sortable() {
		t.Error("sortable types")
	}
}

func TestStandardObjectsShape(t *testing.T) {
	objs := records.StandardObjects()
	if len(objs) != len(records.StandardObjectNames) {
		t.Fatalf("%d objects", len(objs))
	}
	for i, o := range objs {
		if o.Name != records.StandardObjectNames[i] || !o.Standard {
			t.Fatalf("object %d %+v", i, o)
		}
		nf, ok := o.Field(o.NameField)
		if !ok || !nf.Required || nf.Type != records.TypeText {
			t.Fatalf("%s: name field %+v", o.Name, nf)
		}
		seen := map[string]bool{}
		for j, fl := range o.Fields {
			if fl.Position != j || seen[fl.Name] || fl.Custom || !records.ValidType(fl.Type) {
				t.Fatalf("%s.%s: %+v", o.Name, fl.Name, fl)
			}
			seen[fl.Name] = true
			if (fl.Type == records.TypePicklist) != (len(fl.Options) > 0) {
				t.Fatalf("%s.%s options %v", o.Name, fl.Name, fl.Options)
			}
			if (fl.Type == records.TypeLookup) != (fl.LookupObject != "") {
				t.Fatalf("%s.%s lookup %q", o.Name, fl.Name, fl.LookupObject)
			}
		}
	}
	// Fresh copies: changing one does not change the next.
	objs[0].Fields[0].Required = false
	if !records.StandardObjects()[0].Fields[0].Required {
		t.Fatal("StandardObjects shares state")
	}
}
