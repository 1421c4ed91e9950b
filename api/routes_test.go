package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters map[string]openAPIParam `json:"parameters"`
	} `json:"components"`
}

type openAPIParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type openAPIOp struct {
	OperationID string                 `json:"operationId"`
	Security    *[]map[string][]string `json:"security"`
	Responses   map[string]any         `json:"responses"`
	Parameters  []openAPIParam         `json:"parameters"`
}

// resolve follows a parameter's $ref into components.
func (d openAPIDoc) resolve(t *testing.T, p openAPIParam) openAPIParam {
	t.Helper()
	if p.Ref == "" {
		return p
	}
	name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
	r, found := d.Components.Parameters[name]
	if !ok || !found {
		t.Errorf("unresolvable parameter reference %q", p.Ref)
	}
	return r
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatalf("the embedded OpenAPI document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("no paths documented")
	}
	return doc
}

// TestOpenAPIMatchesRoutes fails on any route that is served but not
// documented, or documented but not served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			switch {
			case slices.Contains(httpMethods, key):
				documented[strings.ToUpper(key)+" "+path] = true
			case key == "parameters" || key == "summary" || key == "description" || key == "servers" || strings.HasPrefix(key, "x-"):
			default:
				t.Errorf("path %s has unexpected key %q", path, key)
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range New(Deps{}).Routes() {
		k := rt.Method + " " + rt.Pattern
		if served[k] {
			t.Errorf("route %s is listed twice", k)
		}
		served[k] = true
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("route %s is served but not documented in openapi.json", k)
	}
	for _, k := range extra {
		t.Errorf("route %s is documented in openapi.json but not served", k)
	}
	if len(served) == 0 {
		t.Fatal("no routes")
	}
}

// TestOpenAPIOperations checks each documented operation: a unique
// operationId, responses, its path parameters declared, and security that
// matches whether the route is public.
func TestOpenAPIOperations(t *testing.T) {
	doc := loadDoc(t)
	if len(doc.Security) == 0 {
		t.Errorf("no global security requirement: every operation would be documented as public")
	}
	public := map[string]bool{}
	for _, rt := range New(Deps{}).Routes() {
		public[rt.Method+" "+rt.Pattern] = rt.Public
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		var shared []openAPIParam
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &shared); err != nil {
				t.Errorf("%s parameters: %v", path, err)
			}
		}
		for key, raw := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			k := strings.ToUpper(key) + " " + path
			var op openAPIOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s: %v", k, err)
				continue
			}
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", k)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share operationId %s", k, prev, op.OperationID)
			}
			ids[op.OperationID] = k
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", k)
			}
			for _, seg := range strings.Split(path, "/") {
				name, ok := strings.CutPrefix(seg, "{")
				if !ok {
					continue
				}
				name = strings.TrimSuffix(name, "}")
				declared := false
				for _, p := range append(slices.Clone(shared), op.Parameters...) {
					if p = doc.resolve(t, p); p.In == "path" && p.Name == name {
						declared = true
					}
				}
				if !declared {
					t.Errorf("%s: path parameter %s not declared", k, name)
				}
			}
			documentedPublic := op.Security != nil && len(*op.Security) == 0
			if isPublic, served := public[k]; served && isPublic != documentedPublic {
				t.Errorf("%s: served public=%v but documented public=%v", k, isPublic, documentedPublic)
			}
		}
	}
}

// TestRouteFlags pins which routes need no credential and which stay
// reachable with an expired password: widening either is a security change.
func TestRouteFlags(t *testing.T) {
	wantPublic := []string{"GET /api/v1/audit/keys", "GET /api/v1/auth/captcha/{file}", "GET /api/v1/openapi.json", "GET /healthz", "GET /readyz", "POST /api/v1/auth/login",
		"POST /api/v1/auth/recovery/finish", "POST /api/v1/auth/recovery/start"}
	wantExpired := []string{"POST /api/v1/auth/logout", "POST /api/v1/auth/password"}
	var public, expired []string
	for _, rt := range New(Deps{}).Routes() {
		k := rt.Method + " " + rt.Pattern
		if rt.Public {
			public = append(public, k)
		}
		if rt.AllowExpired {
			expired = append(expired, k)
		}
	}
	sort.Strings(public)
	sort.Strings(expired)
	if !slices.Equal(public, wantPublic) {
		t.Errorf("public routes %v, want %v", public, wantPublic)
	}
	if !slices.Equal(expired, wantExpired) {
		t.Errorf("routes allowed with an expired password %v, want %v", expired, wantExpired)
	}
}

// TestPrivateRoutesNeedACredential calls every non-public route without
// (or with a malformed) Authorization header: each answers 401 before any
// collaborator is touched (the API here has none).
func TestPrivateRoutesNeedACredential(t *testing.T) {
	mux := http.NewServeMux()
	New(Deps{}).Register(mux)
	for _, rt := range New(Deps{}).Routes() {
		if rt.Public {
			continue
		}
		path := strings.NewReplacer("{id}", "0190b6a0-0000-7000-8000-000000000001", "{object}", "account").Replace(rt.Pattern)
		for _, auth := range []string{"", "Basic YTpi", "Bearer", "Bearer " + strings.Repeat("x", 600)} {
			req := httptest.NewRequest(rt.Method, path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: status %d", rt.Method, path, auth, w.Code)
				continue
			}
			var body ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != "unauthenticated" {
				t.Errorf("%s %s: body %s", rt.Method, path, w.Body.Bytes())
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", rt.Method, path, w.Header().Get("WWW-Authenticate"))
			}
		}
	}
}

// TestUnknownAPIPathsAreJSON checks the catch-all answers the JSON error
// envelope, not the mux's text 404.
func TestUnknownAPIPathsAreJSON(t *testing.T) {
	mux := http.NewServeMux()
	New(Deps{}).Register(mux)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/nope"}, {"GET", "/api/v2/me"}, {"POST", "/api/v1/objects/account/records/x/y/z"}, {"GET", "/api/"},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		var body ErrorBody
		if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Code != "not_found" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, w.Code, w.Body.Bytes())
		}
	}
}
