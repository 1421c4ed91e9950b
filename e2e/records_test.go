package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

func TestRecords(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "recs")
		other := srv.NewTenant(t, "elsewhere")
		c := tn.Admin

		t.Run("validation names every bad field", func(t *testing.T) {
			long := strings.Repeat("x", 256)
			cases := []struct {
				name   string
				object string
				fields map[string]any
				bad    string
			}{
				{"bad email", "account", map[string]any{"email": "not-an-email"}, "email"},
				{"email with display name", "account", map[string]any{"email": "Evil <evil@example.com>"}, "email"},
				{"email with two @", "account", map[string]any{"email": "a@b@example.com"}, "email"},
				{"bad phone", "account", map[string]any{"phone": "call me maybe"}, "phone"},
				{"phone with letters", "contact", map[string]any{"mobile": "138-ABCD-5678"}, "mobile"},
				{"javascript url", "account", map[string]any{"website": "javascript:alert(1)"}, "website"},
				{"upper-case javascript url", "account", map[string]any{"website": "JavaScript:alert(document.cookie)"}, "website"},
				{"javascript url with leading space", "account", map[string]any{"website": " javascript:alert(1)"}, "website"},
				{"data url", "account", map[string]any{"website": "data:text/html,<script>alert(1)</script>"}, "website"},
				{"scheme-relative url", "account", map[string]any{"website": "//evil.example.com"}, "website"},
				{"url without host", "account", map[string]any{"website": "http://"}, "website"},
				{"picklist value not in options", "account", map[string]any{"industry": "aerospace"}, "industry"},
				{"picklist value in another case", "account", map[string]any{"industry": "Technology"}, "industry"},
				{"picklist value as number", "account", map[string]any{"industry": 1}, "industry"},
				{"month 13", "contact", map[string]any{"birthday": "2026-13-01"}, "birthday"},
				{"february 30", "contact", map[string]any{"birthday": "2026-02-30"}, "birthday"},
				{"date in another format", "contact", map[string]any{"birthday": "01/02/2026"}, "birthday"},
				{"datetime without zone", "activity", map[string]any{"due_at": "2026-01-02T10:00:00"}, "due_at"},
				{"currency with 3 decimals", "account", map[string]any{"annual_revenue": 1.234}, "annual_revenue"},
				{"currency with 3 decimals in exponent form", "account", map[string]any{"annual_revenue": json1e3()}, "annual_revenue"},
				{"currency too large", "account", map[string]any{"annual_revenue": 1e20}, "annual_revenue"},
				{"currency as string", "account", map[string]any{"annual_revenue": "1.23"}, "annual_revenue"},
				{"number as string", "account", map[string]any{"employees": "12"}, "employees"},
				{"number as word", "account", map[string]any{"employees": "twelve"}, "employees"},
				{"number as boolean", "account", map[string]any{"employees": true}, "employees"},
				{"boolean as string", "contact", map[string]any{"do_not_call": "true"}, "do_not_call"},
				{"boolean as number", "contact", map[string]any{"do_not_call": 1}, "do_not_call"},
				{"text as number", "account", map[string]any{"city": 42}, "city"},
				{"text as object", "account", map[string]any{"city": map[string]any{"$ne": ""}}, "city"},
				{"text as array", "account", map[string]any{"city": []string{"a", "b"}}, "city"},
				{"unknown field", "account", map[string]any{"is_admin": true}, "is_admin"},
				{"system field as field", "account", map[string]any{"owner_id": uuid.NewString()}, "owner_id"},
				{"field of another object", "account", map[string]any{"stage": "proposal"}, "stage"},
				{"text over 255 characters", "account", map[string]any{"city": long}, "city"},
				{"name over 255 characters", "account", map[string]any{"name": long}, "name"},
				{"NUL character", "account", map[string]any{"city": "Shang\x00hai"}, "city"},
				{"bell character", "account", map[string]any{"city": "Shang\ahai"}, "city"},
				{"escape sequence", "account", map[string]any{"city": "\x1b[31mred"}, "city"},
				{"DEL character", "account", map[string]any{"city": "Shang\x7fhai"}, "city"},
				{"C1 control (CSI)", "account", map[string]any{"city": "Shang\u009bhai"}, "city"},
				{"newline in a single-line field", "account", map[string]any{"city": "Shang\nhai"}, "city"},
				{"lookup to a missing id", "contact", map[string]any{"account_id": uuid.Must(uuid.NewV7()).String()}, "account_id"},
				{"lookup that is not an id", "contact", map[string]any{"account_id": "' OR 1=1 --"}, "account_id"},
			}
			for _, tc := range cases {
				fields := map[string]any{"name": "Valid name", "subject": "Valid", "type": "call"}
				if tc.object != "activity" {
					delete(fields, "subject")
					delete(fields, "type")
				}
				if tc.object == "activity" {
					delete(fields, "name")
				}
				for k, v := range tc.fields {
					fields[k] = v
				}
				_, err := c.CreateRecord(ctx, tc.object, client.RecordInput{Fields: fields})
				e := checkErr(t, tc.name, err, 400, "invalid_request")
				if e == nil {
					continue
				}
				f, _ := e.Details["fields"].(map[string]any)
				if f[tc.bad] == nil {
					t.Errorf("%s: details.fields %v lacks %q", tc.name, e.Details, tc.bad)
				}
				if len(f) != 1 {
					t.Errorf("%s: details.fields %v names more than %q", tc.name, f, tc.bad)
				}
			}
			// All at once: each bad field is named.
			_, err := c.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{
				"name": "Valid", "email": "x", "phone": "y", "website": "javascript:alert(1)", "industry": "nope", "annual_revenue": 1.234,
				"employees": "twelve", "city": long, "address": "a\x00b", "bogus": 1,
			}})
			f := badFields(t, err)
			for _, name := range []string{"email", "phone", "website", "industry", "annual_revenue", "employees", "city", "address", "bogus"} {
				if f[name] == nil {
					t.Errorf("combined: details.fields lacks %q: %v", name, f)
				}
			}
			if f["name"] != nil {
				t.Errorf("combined: the valid name is reported: %v", f)
			}
			// Required fields.
			for what, fields := range map[string]map[string]any{
				"missing":    {"city": "Shanghai"},
				"empty":      {"name": ""},
				"blank":      {"name": "   "},
				"null":       {"name": nil},
				"no fields":  {},
				"tab and nl": {"name": "\t"},
			} {
				_, err := c.CreateRecord(ctx, "account", client.RecordInput{Fields: fields})
				if f := badFields(t, err); f["name"] == nil {
					t.Errorf("required name %s: %v", what, f)
				}
			}
			_, err = c.CreateRecord(ctx, "opportunity", client.RecordInput{Fields: map[string]any{"name": "No stage"}})
			if f := badFields(t, err); f["stage"] == nil {
				t.Errorf("required stage: %v", f)
			}
		})

		t.Run("missing required fields are reported with the other bad fields", func(t *testing.T) {
			_, err := c.CreateRecord(ctx, "opportunity", client.RecordInput{Fields: map[string]any{"amount": 1.234, "close_date": "2026-13-01"}})
			f := badFields(t, err)
			for _, name := range []string{"amount", "close_date", "name", "stage"} {
				if f[name] == nil {
					t.Errorf("details.fields lacks %q: %v", name, f)
				}
			}
		})

		t.Run("valid values are accepted and canonical", func(t *testing.T) {
			rec := create(t, c, "account", map[string]any{
				"name": strings.Repeat("华", 255), "email": "Sales@Example.com", "phone": "+86 (21) 5555-0100",
				"website": "https://example.com/a?b=c", "industry": "technology", "annual_revenue": 1234.5,
				"employees": 12, "city": "  Shanghai  ", "description": "line one\nline two",
			})
			if rec.Fields["annual_revenue"] != 1234.5 || rec.Fields["employees"] != 12.0 || rec.Fields["city"] != "Shanghai" {
				t.Errorf("canonical values: %v", rec.Fields)
			}
			got := must[*api.RecordDTO](t)(c.GetRecord(ctx, "account", rec.ID))
			sameRecord(t, "create response vs. read", rec, got)
			con := create(t, c, "contact", map[string]any{"name": "Li Lei", "birthday": "2000-02-29", "do_not_call": false, "account_id": rec.ID})
			if con.Fields["do_not_call"] != false || con.Fields["account_id"] != rec.ID {
				t.Errorf("contact: %v", con.Fields)
			}
			act := create(t, c, "activity", map[string]any{"subject": "Visit", "type": "visit", "due_at": "2026-01-31T09:30:00+08:00"})
			if act.Fields["due_at"] != "2026-01-31T01:30:00Z" {
				t.Errorf("datetime is stored in UTC: %v", act.Fields["due_at"])
			}
			upd := must[*api.RecordDTO](t)(c.UpdateRecord(ctx, "contact", con.ID, con.Version, map[string]any{"title": "CTO"}))
			got = must[*api.RecordDTO](t)(c.GetRecord(ctx, "contact", con.ID))
			sameRecord(t, "update response vs. read", upd, got)
		})

		t.Run("lookups must name a record of the right object in the tenant", func(t *testing.T) {
			acc := create(t, c, "account", map[string]any{"name": "Lookup target"})
			con := create(t, c, "contact", map[string]any{"name": "Not an account"})
			theirs := create(t, other.Admin, "account", map[string]any{"name": "Other tenant's account"})
			for what, id := range map[string]string{
				"missing":        uuid.Must(uuid.NewV7()).String(),
				"wrong object":   con.ID,
				"another tenant": theirs.ID,
				"not an id":      "not-an-id",
			} {
				_, err := c.CreateRecord(ctx, "contact", client.RecordInput{Fields: map[string]any{"name": "x", "account_id": id}})
				if f := badFields(t, err); f["account_id"] == nil {
					t.Errorf("create with %s: %v", what, f)
				}
				_, err = c.UpdateRecord(ctx, "contact", con.ID, con.Version, map[string]any{"account_id": id})
				if f := badFields(t, err); f["account_id"] == nil {
					t.Errorf("update with %s: %v", what, f)
				}
			}
			_, err := c.CreateRecord(ctx, "activity", client.RecordInput{Fields: map[string]any{"subject": "x", "type": "call", "contact_id": acc.ID}})
			if f := badFields(t, err); f["contact_id"] == nil {
				t.Errorf("contact_id pointing at an account: %v", f)
			}
			ok := create(t, c, "activity", map[string]any{"subject": "ok", "type": "call", "contact_id": con.ID, "account_id": acc.ID})
			if ok.Fields["contact_id"] != con.ID {
				t.Errorf("valid lookups: %v", ok.Fields)
			}
			if got := must[*api.RecordDTO](t)(c.GetRecord(ctx, "contact", con.ID)); got.Version != con.Version {
				t.Errorf("refused updates changed the contact: %+v", got)
			}
		})

		t.Run("optimistic concurrency", func(t *testing.T) {
			rec := create(t, c, "account", map[string]any{"name": "Versioned", "city": "Shanghai"})
			if rec.Version != 1 {
				t.Fatalf("version %d", rec.Version)
			}
			v2 := must[*api.RecordDTO](t)(c.UpdateRecord(ctx, "account", rec.ID, 1, map[string]any{"city": "Beijing"}))
			if v2.Version != 2 {
				t.Errorf("version after update %d", v2.Version)
			}
			_, err := c.UpdateRecord(ctx, "account", rec.ID, 1, map[string]any{"city": "Guangzhou"})
			e := wantErr(t, err, 409, "conflict")
			if cv, _ := e.Details["current_version"].(float64); cv != 2 {
				t.Errorf("details.current_version = %v, want 2", e.Details["current_version"])
			}
			_, err = c.UpdateRecord(ctx, "account", rec.ID, 99, map[string]any{"city": "Guangzhou"})
			wantErr(t, err, 409, "conflict")
			_, err = c.UpdateRecord(ctx, "account", rec.ID, 0, map[string]any{"city": "Guangzhou"})
			if f := badFields(t, err); f["version"] == nil {
				t.Errorf("missing version: %v", f)
			}
			_, err = c.UpdateRecord(ctx, "account", rec.ID, -1, map[string]any{"city": "Guangzhou"})
			badFields(t, err)
			if got := must[*api.RecordDTO](t)(c.GetRecord(ctx, "account", rec.ID)); got.Version != 2 || got.Fields["city"] != "Beijing" {
				t.Errorf("refused updates changed the record: %+v", got)
			}

			// Many writers with the same version at the same moment: one wins.
			const writers = 8
			errs := make([]error, writers)
			fns := make([]func(), writers)
			for i := range writers {
				fns[i] = func() {
					_, errs[i] = c.UpdateRecord(ctx, "account", rec.ID, 2, map[string]any{"city": fmt.Sprintf("City %d", i)})
				}
			}
			parallel(fns...)
			winner := -1
			for i, err := range errs {
				if err == nil {
					if winner >= 0 {
						t.Errorf("writers %d and %d both updated version 2", winner, i)
					}
					winner = i
					continue
				}
				checkErr(t, fmt.Sprintf("writer %d", i), err, 409, "conflict")
			}
			if winner < 0 {
				t.Fatalf("no writer won")
			}
			got := must[*api.RecordDTO](t)(c.GetRecord(ctx, "account", rec.ID))
			if got.Version != 3 || got.Fields["city"] != fmt.Sprintf("City %d", winner) {
				t.Errorf("after the race: version %d city %v, winner %d", got.Version, got.Fields["city"], winner)
			}
			hist := must[*api.AuditList](t)(c.RecordHistory(ctx, "account", rec.ID))
			if len(hist.Items) != 3 {
				t.Errorf("history has %d events, want create + 2 updates", len(hist.Items))
			}

			// Deletes check the version too.
			err = c.DeleteRecord(ctx, "account", rec.ID, 2)
			e = wantErr(t, err, 409, "conflict")
			if cv, _ := e.Details["current_version"].(float64); cv != 3 {
				t.Errorf("delete: details.current_version = %v, want 3", e.Details["current_version"])
			}
			r := do(t, srv, rawReq{Method: "DELETE", Path: "/api/v1/objects/account/records/" + rec.ID + "?version=abc", Token: c.Token()})
			wantRaw(t, "version=abc", r, 400, "invalid_request")
			r = do(t, srv, rawReq{Method: "DELETE", Path: "/api/v1/objects/account/records/" + rec.ID + "?version=-3", Token: c.Token()})
			wantRaw(t, "version=-3", r, 400, "invalid_request")
			must[*api.RecordDTO](t)(c.GetRecord(ctx, "account", rec.ID))
			noErr(t, c.DeleteRecord(ctx, "account", rec.ID, 3))
			_, err = c.GetRecord(ctx, "account", rec.ID)
			wantErr(t, err, 404, "not_found")
			wantErr(t, c.DeleteRecord(ctx, "account", rec.ID, 0), 404, "not_found")
			_, err = c.UpdateRecord(ctx, "account", rec.ID, 3, map[string]any{"city": "Ghost"})
			wantErr(t, err, 404, "not_found")
		})

		t.Run("concurrent deletes", func(t *testing.T) {
			rec := create(t, c, "lead", map[string]any{"name": "Deleted twice"})
			var mu sync.Mutex
			ok := 0
			fns := make([]func(), 4)
			for i := range fns {
				fns[i] = func() {
					err := c.DeleteRecord(ctx, "lead", rec.ID, 0)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						ok++
						return
					}
					if !client.IsCode(err, "not_found") && !client.IsCode(err, "conflict") {
						t.Errorf("concurrent delete: %v", err)
					}
				}
			}
			parallel(fns...)
			if ok != 1 {
				t.Errorf("%d deletes succeeded, want 1", ok)
			}
			evs := allAudit(t, c, client.AuditQuery{ObjectID: rec.ID, Action: "record.delete"})
			if len(evs) != 1 {
				t.Errorf("%d delete events, want 1", len(evs))
			}
		})

		t.Run("null clears a field", func(t *testing.T) {
			rec := create(t, c, "account", map[string]any{"name": "Clearable", "phone": "+86 21 5555 0100", "city": "Shanghai", "employees": 5})
			upd := must[*api.RecordDTO](t)(c.UpdateRecord(ctx, "account", rec.ID, rec.Version, map[string]any{"phone": nil, "employees": nil}))
			if _, ok := upd.Fields["phone"]; ok {
				t.Errorf("phone not cleared: %v", upd.Fields)
			}
			if _, ok := upd.Fields["employees"]; ok {
				t.Errorf("employees not cleared: %v", upd.Fields)
			}
			if upd.Fields["city"] != "Shanghai" || upd.Name != "Clearable" {
				t.Errorf("untouched fields changed: %v", upd.Fields)
			}
			got := must[*api.RecordDTO](t)(c.GetRecord(ctx, "account", rec.ID))
			if _, ok := got.Fields["phone"]; ok {
				t.Errorf("phone still stored: %v", got.Fields)
			}
			_, err := c.UpdateRecord(ctx, "account", rec.ID, got.Version, map[string]any{"name": nil})
			if f := badFields(t, err); f["name"] == nil {
				t.Errorf("clearing a required field: %v", f)
			}
			_, err = c.UpdateRecord(ctx, "account", rec.ID, got.Version, map[string]any{"name": "  "})
			if f := badFields(t, err); f["name"] == nil {
				t.Errorf("blanking a required field: %v", f)
			}
			if again := must[*api.RecordDTO](t)(c.GetRecord(ctx, "account", rec.ID)); again.Name != "Clearable" || again.Version != got.Version {
				t.Errorf("refused clear changed the record: %+v", again)
			}
		})

		t.Run("custom fields", func(t *testing.T) {
			f := must[*api.FieldDTO](t)(c.CreateField(ctx, "account", api.CreateFieldRequest{Name: "tier", Label: "Tier", LabelZH: "等级", Type: "picklist", Options: []string{"gold", "silver"}}))
			if f.Name != "tier__c" || !f.Custom || f.Type != "picklist" || !slices.Equal(f.Options, []string{"gold", "silver"}) {
				t.Fatalf("created field %+v", f)
			}
			obj := must[*api.ObjectDTO](t)(c.GetObject(ctx, "account"))
			if !slices.ContainsFunc(obj.Fields, func(x api.FieldDTO) bool { return x.Name == "tier__c" && x.Custom }) {
				t.Errorf("object lacks tier__c: %+v", obj.Fields)
			}
			rec := create(t, c, "account", map[string]any{"name": "Gold customer", "tier__c": "gold"})
			if rec.Fields["tier__c"] != "gold" {
				t.Errorf("custom value %v", rec.Fields)
			}
			_, err := c.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "x", "tier__c": "bronze"}})
			if f := badFields(t, err); f["tier__c"] == nil {
				t.Errorf("custom picklist: %v", f)
			}
			_, err = c.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "x", "tier": "gold"}})
			if f := badFields(t, err); f["tier"] == nil {
				t.Errorf("name without suffix: %v", f)
			}
			// A name already ending in __c is kept as is.
			f2 := must[*api.FieldDTO](t)(c.CreateField(ctx, "account", api.CreateFieldRequest{Name: "region__c", Label: "Region", Type: "text", MaxLength: 10}))
			if f2.Name != "region__c" {
				t.Errorf("name %q", f2.Name)
			}
			_, err = c.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "x", "region__c": "elevenchars"}})
			if f := badFields(t, err); f["region__c"] == nil {
				t.Errorf("custom max_length: %v", f)
			}
			// Invalid definitions.
			bad := []struct {
				what  string
				req   api.CreateFieldRequest
				field string
			}{
				{"spaces in name", api.CreateFieldRequest{Name: "Bad Name", Label: "x", Type: "text"}, "name"},
				{"upper case", api.CreateFieldRequest{Name: "Tier2", Label: "x", Type: "text"}, "name"},
				{"leading digit", api.CreateFieldRequest{Name: "1tier", Label: "x", Type: "text"}, "name"},
				{"empty name", api.CreateFieldRequest{Name: "", Label: "x", Type: "text"}, "name"},
				{"sql in name", api.CreateFieldRequest{Name: "x'); DROP TABLE records;--", Label: "x", Type: "text"}, "name"},
				{"json path in name", api.CreateFieldRequest{Name: `a"."b`, Label: "x", Type: "text"}, "name"},
				{"name too long", api.CreateFieldRequest{Name: strings.Repeat("a", 60), Label: "x", Type: "text"}, "name"},
				{"picklist without options", api.CreateFieldRequest{Name: "empty_pick", Label: "x", Type: "picklist"}, "options"},
				{"duplicate options", api.CreateFieldRequest{Name: "dup_pick", Label: "x", Type: "picklist", Options: []string{"a", "a"}}, "options"},
				{"blank option", api.CreateFieldRequest{Name: "blank_pick", Label: "x", Type: "picklist", Options: []string{" "}}, "options"},
				{"options on text", api.CreateFieldRequest{Name: "text_opts", Label: "x", Type: "text", Options: []string{"a"}}, "options"},
				{"unknown type", api.CreateFieldRequest{Name: "blob", Label: "x", Type: "blob"}, "type"},
				{"no label", api.CreateFieldRequest{Name: "nolabel", Label: " ", Type: "text"}, "label"},
				{"lookup to nothing", api.CreateFieldRequest{Name: "ref", Label: "x", Type: "lookup", LookupObject: "nope"}, "lookup_object"},
				{"negative max length", api.CreateFieldRequest{Name: "neg", Label: "x", Type: "text", MaxLength: -1}, "max_length"},
			}
			for _, tc := range bad {
				_, err := c.CreateField(ctx, "account", tc.req)
				e := checkErr(t, tc.what, err, 400, "invalid_request")
				if e == nil {
					continue
				}
				if f, _ := e.Details["fields"].(map[string]any); f[tc.field] == nil {
					t.Errorf("%s: details %v lack %q", tc.what, e.Details, tc.field)
				}
			}
			for _, name := range []string{"tier", "tier__c"} {
				_, err := c.CreateField(ctx, "account", api.CreateFieldRequest{Name: name, Label: "Again", Type: "text"})
				checkErr(t, "duplicate "+name, err, 409, "conflict")
			}
			// A standard field name gets the suffix and cannot shadow it.
			nf := must[*api.FieldDTO](t)(c.CreateField(ctx, "account", api.CreateFieldRequest{Name: "name", Label: "Custom name", Type: "text"}))
			if nf.Name != "name__c" {
				t.Errorf("custom field named %q", nf.Name)
			}
			_, err = c.CreateField(ctx, "nope", api.CreateFieldRequest{Name: "x", Label: "x", Type: "text"})
			wantErr(t, err, 404, "not_found")
			// Custom fields belong to their tenant.
			theirs := must[*api.ObjectDTO](t)(other.Admin.GetObject(ctx, "account"))
			for _, f := range theirs.Fields {
				if f.Custom {
					t.Errorf("another tenant sees custom field %s", f.Name)
				}
			}
			_, err = other.Admin.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "x", "tier__c": "gold"}})
			if f := badFields(t, err); f["tier__c"] == nil {
				t.Errorf("other tenant accepted tier__c: %v", f)
			}
			obj = must[*api.ObjectDTO](t)(c.GetObject(ctx, "account"))
			n := 0
			for _, f := range obj.Fields {
				if f.Custom {
					n++
				}
			}
			if n != 3 {
				t.Errorf("%d custom fields after refused definitions, want 3", n)
			}
		})
	})
}

// json1e3 is 0.001 written with an exponent, which a decimal-places check
// on the literal text misses.
func json1e3() any { return jsonNumber("1e-3") }

type jsonNumber string

func (n jsonNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }
