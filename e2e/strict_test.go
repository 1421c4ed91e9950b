package e2e

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

// TestStrictJSON sends bodies the client would never produce.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "strict")
		tok := tn.Admin.Token()
		rec := create(t, tn.Admin, "account", map[string]any{"name": "Target"})
		_, u := srv.NewUser(t, tn, "target@example.com", "Target User", "sales")

		const records = "/api/v1/objects/account/records"
		recPath := records + "/" + rec.ID
		big := append([]byte(`{"fields":{"name":"big","description":"`), bytes.Repeat([]byte("a"), 1<<20)...)
		big = append(big, `"}}`...)
		justOver := append([]byte(`{"fields":{"name":"x"}}`), bytes.Repeat([]byte(" "), 1<<20)...)

		cases := []struct {
			what   string
			method string
			path   string
			ct     string
			body   string
			raw    []byte
			name   string // what the message must mention
		}{
			{what: "unknown top-level field", method: "POST", path: records, body: `{"fields":{"name":"x"},"is_admin":true}`, name: "is_admin"},
			{what: "unknown field in login", method: "POST", path: "/api/v1/auth/login", body: `{"tenant":"strict","login":"a@b.c","password":"x","role":"admin"}`, name: "role"},
			{what: "unknown field in user create", method: "POST", path: "/api/v1/users", body: `{"email":"n@example.com","name":"N","role":"sales","password":"x"}`, name: "password"},
			{what: "unknown field in user update", method: "PATCH", path: "/api/v1/users/" + u.ID, body: `{"status":"active"}`, name: "status"},
			{what: "unknown field in record update", method: "PATCH", path: recPath, body: `{"version":1,"fields":{},"created_by":"x"}`, name: "created_by"},
			{what: "unknown field in password change", method: "POST", path: "/api/v1/auth/password", body: `{"current_password":"a","new_password":"b","force":true}`, name: "force"},
			{what: "unknown field in field create", method: "POST", path: "/api/v1/objects/account/fields", body: `{"name":"x","label":"x","type":"text","custom":false}`, name: "custom"},
			{what: "differently cased field", method: "POST", path: records, body: `{"Fields":{"name":"x"}}`, name: "Fields"},
			{what: "second object", method: "POST", path: records, body: `{"fields":{"name":"x"}} {"fields":{"name":"y"}}`},
			{what: "trailing garbage", method: "POST", path: records, body: `{"fields":{"name":"x"}}garbage`},
			{what: "trailing bracket", method: "POST", path: records, body: `{"fields":{"name":"x"}}]`},
			{what: "trailing data in login", method: "POST", path: "/api/v1/auth/login", body: `{"tenant":"strict","login":"a@b.c","password":"x"}{}`},
			{what: "text/plain", method: "POST", path: records, ct: "text/plain", body: `{"fields":{"name":"x"}}`},
			{what: "form encoded", method: "POST", path: records, ct: "application/x-www-form-urlencoded", body: `fields=x`},
			{what: "multipart", method: "POST", path: records, ct: "multipart/form-data; boundary=x", body: `{"fields":{"name":"x"}}`},
			{what: "json-like type", method: "POST", path: records, ct: "application/json-patch+json", body: `{"fields":{"name":"x"}}`},
			{what: "garbled type", method: "POST", path: records, ct: ";;;", body: `{"fields":{"name":"x"}}`},
			{what: "text/plain login", method: "POST", path: "/api/v1/auth/login", ct: "text/plain", body: `{"tenant":"strict","login":"a@b.c","password":"x"}`},
			{what: "body over 1 MiB", method: "POST", path: records, raw: big},
			{what: "valid object padded past 1 MiB", method: "POST", path: records, raw: justOver},
			{what: "empty body", method: "POST", path: records, body: ""},
			{what: "whitespace body", method: "POST", path: records, body: "  \n "},
			{what: "empty login body", method: "POST", path: "/api/v1/auth/login", body: ""},
			{what: "empty update body", method: "PATCH", path: recPath, body: ""},
			{what: "truncated JSON", method: "POST", path: records, body: `{"fields":{"name":"x"`},
			{what: "malformed JSON", method: "POST", path: records, body: `{"fields":{"name":'x'}}`},
			{what: "trailing comma", method: "POST", path: records, body: `{"fields":{"name":"x",}}`},
			{what: "array body", method: "POST", path: records, body: `[{"fields":{"name":"x"}}]`},
			{what: "string body", method: "POST", path: records, body: `"fields"`},
			{what: "null body", method: "POST", path: records, body: `null`},
			{what: "fields null", method: "POST", path: records, body: `{"fields":null}`},
			{what: "fields as array", method: "POST", path: records, body: `{"fields":[1,2]}`},
			{what: "version as string", method: "PATCH", path: recPath, body: `{"version":"1","fields":{"name":"y"}}`, name: "version"},
			{what: "version as float", method: "PATCH", path: recPath, body: `{"version":1.5,"fields":{"name":"y"}}`, name: "version"},
			{what: "role as number", method: "PATCH", path: "/api/v1/users/" + u.ID, body: `{"role":1}`, name: "role"},
			{what: "comment", method: "POST", path: records, body: `{"fields":{"name":"x"} /* hi */}`},
			{what: "NaN", method: "POST", path: records, body: `{"fields":{"name":"x","employees":NaN}}`},
		}
		before := len(allRecords(t, tn.Admin, "account", client.ListOptions{}))
		for _, tc := range cases {
			body := tc.raw
			if body == nil {
				body = []byte(tc.body)
			}
			ct := tc.ct
			if ct == "" {
				ct = "application/json"
			}
			token := tok
			if strings.HasPrefix(tc.path, "/api/v1/auth/login") {
				token = ""
			}
			r := do(t, srv, rawReq{Method: tc.method, Path: tc.path, Token: token, ContentType: ct, Body: body})
			e := wantRaw(t, tc.what, r, 400, "invalid_request")
			if tc.name != "" && !strings.Contains(e.Message, tc.name) {
				t.Errorf("%s: message %q does not name %q", tc.what, e.Message, tc.name)
			}
			if len(r.Body) > 4096 {
				t.Errorf("%s: error body of %d bytes", tc.what, len(r.Body))
			}
		}
		// None of the refused requests changed anything.
		if after := len(allRecords(t, tn.Admin, "account", client.ListOptions{})); after != before {
			t.Errorf("refused requests created records: %d before, %d after", before, after)
		}
		if got := must[*api.RecordDTO](t)(tn.Admin.GetRecord(ctx, "account", rec.ID)); got.Version != rec.Version {
			t.Errorf("refused requests changed the record: %+v", got)
		}
		if got := must[*api.UserDTO](t)(tn.Admin.GetUser(ctx, u.ID)); got.Role != "sales" || got.Status != "active" {
			t.Errorf("refused requests changed the user: %+v", got)
		}
		// The strict decoder still takes what the contract allows.
		for what, ct := range map[string]string{"charset": "application/json; charset=utf-8", "upper case": "Application/JSON"} {
			r := do(t, srv, rawReq{Method: "POST", Path: records, Token: tok, ContentType: ct, Body: []byte(`{"fields":{"name":"ok"}}` + "\n")})
			if r.Status != 201 {
				t.Errorf("%s content type: %d %s", what, r.Status, r.Body)
			}
		}
	})
}

// TestErrorsRevealNothing collects many kinds of error responses and checks
// their raw bodies carry only the contract's envelope, never internals.
func TestErrorsRevealNothing(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		tn := srv.NewTenant(t, "quiet")
		tok := tn.Admin.Token()
		salesC, _ := srv.NewUser(t, tn, "quiet-sales@example.com", "Quiet Sales", "sales")
		rec := create(t, tn.Admin, "account", map[string]any{"name": "Quiet"})
		must[*api.RecordDTO](t)(tn.Admin.UpdateRecord(context.Background(), "account", rec.ID, 1, map[string]any{"city": "x"}))
		nul := url.QueryEscape("\x00")
		badUTF8 := "%C3%28"
		reqs := []rawReq{
			{Method: "GET", Path: "/api/v1/nope"},
			{Method: "GET", Path: "/api/v1/me"},
			{Method: "GET", Path: "/api/v1/me", Token: "hvs_" + strings.Repeat("A", 64)},
			{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"quiet","login":"x@y.z","password":"bad"}`)},
			{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"` + strings.Repeat("a", 64) + `","login":"x","password":"y"}`)},
			{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"quiet","login":"x","password":"` + strings.Repeat("p", 300) + `"}`)},
			{Method: "GET", Path: "/api/v1/users", Token: salesC.Token()},
			{Method: "GET", Path: "/api/v1/objects/account/records/" + uuid.NewString(), Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records/not-a-uuid", Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records/" + strings.Repeat("9", 300), Token: tok},
			{Method: "GET", Path: "/api/v1/objects/" + strings.Repeat("x", 300) + "/records", Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account%27%3B--/records", Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records?sort=" + url.QueryEscape(`name"; DROP TABLE records; --`), Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records?" + url.QueryEscape(`filter[name") OR 1=1 --]`) + "=x", Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records?q=" + nul, Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records?q=" + badUTF8, Token: tok},
			{Method: "GET", Path: "/api/v1/objects/" + nul + "/records", Token: tok},
			{Method: "GET", Path: "/api/v1/audit?action=" + nul, Token: tok},
			{Method: "GET", Path: "/api/v1/audit?object=" + badUTF8, Token: tok},
			{Method: "GET", Path: "/api/v1/audit?from=yesterday", Token: tok},
			{Method: "GET", Path: "/api/v1/audit?cursor=-1", Token: tok},
			{Method: "GET", Path: "/api/v1/users?cursor=" + url.QueryEscape("' OR 1=1"), Token: tok},
			{Method: "PATCH", Path: "/api/v1/objects/account/records/" + rec.ID, Token: tok, ContentType: "application/json", Body: []byte(`{"version":1,"fields":{"city":"y"}}`)},
			{Method: "DELETE", Path: "/api/v1/objects/account/records/" + rec.ID + "?version=1", Token: tok},
			{Method: "POST", Path: "/api/v1/objects/account/records", Token: tok, ContentType: "application/json", Body: []byte(`{"fields":{"name":"x","email":"bad","account_id":"x"}}`)},
			{Method: "POST", Path: "/api/v1/objects/account/fields", Token: tok, ContentType: "application/json", Body: []byte(`{"name":"name","label":"x","type":"text"}`)},
			{Method: "POST", Path: "/api/v1/objects/account/fields", Token: tok, ContentType: "application/json", Body: []byte(`{"name":"name","label":"x","type":"text"}`)},
			{Method: "POST", Path: "/api/v1/users", Token: tok, ContentType: "application/json", Body: []byte(`{"email":"quiet-sales@example.com","name":"Dup","role":"sales"}`)},
			{Method: "POST", Path: "/api/v1/auth/password", Token: tok, ContentType: "application/json", Body: []byte(`{"current_password":"` + password + `","new_password":"x"}`)},
			{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"quiet\u0000","login":"x@y.z","password":"bad"}`)},
			{Method: "POST", Path: "/api/v1/users", Token: tok, ContentType: "application/json", Body: []byte(`{"email":"nul@example.com","name":"Nul\u0000Name","role":"sales"}`)},
			{Method: "POST", Path: "/api/v1/objects/account/fields", Token: tok, ContentType: "application/json", Body: []byte(`{"name":"nul_label","label":"bad\u0000label","type":"text"}`)},
			{Method: "PUT", Path: "/api/v1/me", Token: tok},
			{Method: "GET", Path: "/api/v1/objects/account/records?limit=9999999999999999999999", Token: tok},
		}
		codes := map[string]bool{}
		for _, rq := range reqs {
			what := rq.Method + " " + rq.Path
			if len(what) > 120 {
				what = what[:120]
			}
			r := do(t, srv, rq)
			if r.Status < 400 {
				// Some of these are accepted on one engine (e.g. a NUL
				// search matches nothing); only error bodies are checked.
				noInternals(t, what, r.Body)
				continue
			}
			e := errorEnvelope(t, what, r)
			codes[e.Code] = true
		}
		for _, code := range []string{"not_found", "unauthenticated", "invalid_credentials", "forbidden", "invalid_request", "conflict", "password_policy"} {
			if !codes[code] {
				t.Errorf("no %s error was produced; the check covered %v", code, codes)
			}
		}
	})
}

// TestHostileInputIsNotAnInternalError sends values the databases refuse
// (NUL characters, invalid UTF-8): they must be refused as bad input or
// simply match nothing, never end as a 500.
func TestHostileInputIsNotAnInternalError(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		tn := srv.NewTenant(t, "hostile")
		tok := tn.Admin.Token()
		nul := url.QueryEscape("a\x00b")
		badUTF8 := "%C3%28"
		cases := []struct {
			what  string
			req   rawReq
			codes []string
		}{
			{"NUL in search", rawReq{Method: "GET", Path: "/api/v1/objects/account/records?q=" + nul}, []string{"invalid_request", ""}},
			{"invalid UTF-8 in search", rawReq{Method: "GET", Path: "/api/v1/objects/account/records?q=" + badUTF8}, []string{"invalid_request", ""}},
			{"NUL in object name", rawReq{Method: "GET", Path: "/api/v1/objects/" + nul + "/records"}, []string{"not_found", "invalid_request"}},
			{"invalid UTF-8 in object name", rawReq{Method: "GET", Path: "/api/v1/objects/" + badUTF8}, []string{"not_found", "invalid_request"}},
			{"NUL in object of a new record", rawReq{Method: "POST", Path: "/api/v1/objects/" + nul + "/records", ContentType: "application/json", Body: []byte(`{"fields":{"name":"x"}}`)}, []string{"not_found", "invalid_request"}},
			{"NUL in audit action", rawReq{Method: "GET", Path: "/api/v1/audit?action=" + nul}, []string{"invalid_request", ""}},
			{"NUL in audit object_id", rawReq{Method: "GET", Path: "/api/v1/audit?object_id=" + nul}, []string{"invalid_request", ""}},
			{"invalid UTF-8 in audit actor", rawReq{Method: "GET", Path: "/api/v1/audit?actor=" + badUTF8}, []string{"invalid_request", ""}},
			{"NUL in login tenant", rawReq{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"hostile\u0000","login":"x@y.z","password":"bad"}`)}, []string{"invalid_credentials", "invalid_request"}},
			{"NUL in login", rawReq{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: []byte(`{"tenant":"hostile","login":"x\u0000@y.z","password":"bad"}`)}, []string{"invalid_credentials", "invalid_request"}},
			{"NUL in user name", rawReq{Method: "POST", Path: "/api/v1/users", ContentType: "application/json", Body: []byte(`{"email":"nul@example.com","name":"Nul\u0000Name","role":"sales"}`)}, []string{"invalid_request"}},
			{"NUL in field label", rawReq{Method: "POST", Path: "/api/v1/objects/account/fields", ContentType: "application/json", Body: []byte(`{"name":"nul_label","label":"bad\u0000label","type":"text"}`)}, []string{"invalid_request"}},
			{"NUL in picklist option", rawReq{Method: "POST", Path: "/api/v1/objects/account/fields", ContentType: "application/json", Body: []byte(`{"name":"nul_opt","label":"x","type":"picklist","options":["a\u0000"]}`)}, []string{"invalid_request"}},
			{"NUL in record id", rawReq{Method: "GET", Path: "/api/v1/objects/" + nul + "/records/" + uuid.NewString()}, []string{"not_found", "invalid_request"}},
			{"NUL in record history object", rawReq{Method: "GET", Path: "/api/v1/objects/" + nul + "/records/" + uuid.NewString() + "/history"}, []string{"not_found", "invalid_request"}},
			{"NUL in filter", rawReq{Method: "GET", Path: "/api/v1/objects/account/records?" + url.QueryEscape("filter[city]") + "=" + nul}, []string{"invalid_request"}},
		}
		for _, tc := range cases {
			rq := tc.req
			if !strings.HasPrefix(rq.Path, "/api/v1/auth/") {
				rq.Token = tok
			}
			r := do(t, srv, rq)
			code := ""
			if r.Status >= 400 {
				code = errorEnvelope(t, tc.what, r).Code
			}
			if r.Status >= 500 || !containsStr(tc.codes, code) {
				t.Errorf("%s: %d %s, want one of %q", tc.what, r.Status, bytes.TrimSpace(r.Body), tc.codes)
			}
		}
	})
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
