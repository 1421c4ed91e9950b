package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testserver"
)

// presetDTO is what GET answers for a preset.
func presetDTO(t *testing.T, preset string) api.SecuritySettingsDTO {
	t.Helper()
	s, ok := identity.PresetSettings(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	var out api.SecuritySettingsDTO
	b, _ := json.Marshal(s)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// customBody is a complete custom PUT body (as a map, so that cases can
// drop or break single values), starting from the MLPS preset.
func customBody(t *testing.T, change map[string]any) map[string]any {
	t.Helper()
	var m map[string]any
	b, _ := json.Marshal(presetDTO(t, identity.PresetMLPS3))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["preset"] = "custom"
	for k, v := range change {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// putSettings sends a raw PUT and returns the response.
func putSettings(t *testing.T, srv *testserver.Server, token string, body any) rawResp {
	t.Helper()
	return do(t, srv, rawReq{Method: "PUT", Path: "/api/v1/settings/security", Token: token, ContentType: "application/json", Body: jsonBody(t, body)})
}

func settingsOf(t *testing.T, r rawResp) api.SecuritySettingsDTO {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var s api.SecuritySettingsDTO
	if err := json.Unmarshal(r.Body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func badFieldNames(t *testing.T, what string, r rawResp) []string {
	t.Helper()
	e := wantRaw(t, what, r, http.StatusBadRequest, "invalid_request")
	f, _ := e.Details["fields"].(map[string]any)
	var names []string
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func TestSecuritySettings(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()

		t.Run("presets fill every value", func(t *testing.T) {
			tn := srv.NewTenant(t, "presets")
			got := must[*api.SecuritySettingsDTO](t)(tn.Admin.SecuritySettings(ctx))
			if want := presetDTO(t, "mlps3"); !reflect.DeepEqual(*got, want) {
				t.Fatalf("a new tenant has %+v, want the MLPS level 3 preset %+v", *got, want)
			}
			if got.PasswordMinLength != 8 || got.PasswordClasses != 3 || got.PasswordExpiryDays != 90 || got.PasswordHistory != 5 ||
				got.LockoutThreshold != 5 || got.LockoutMinutes != 30 || got.CaptchaAfter != 3 || got.SessionIdleMinutes != 30 {
				t.Errorf("MLPS level 3 values %+v", *got)
			}
			nist := "nist"
			got = must[*api.SecuritySettingsDTO](t)(tn.Admin.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &nist}))
			if want := presetDTO(t, "nist"); !reflect.DeepEqual(*got, want) {
				t.Fatalf("PUT nist answered %+v, want %+v", *got, want)
			}
			if got.PasswordMinLength != 8 || got.PasswordMaxLength < 64 || got.PasswordClasses != 0 || got.PasswordExpiryDays != 0 || !got.PasswordCheckCommon {
				t.Errorf("NIST values %+v", *got)
			}
			if again := must[*api.SecuritySettingsDTO](t)(tn.Admin.SecuritySettings(ctx)); !reflect.DeepEqual(again, got) {
				t.Errorf("GET after PUT %+v, want %+v", *again, *got)
			}
			// Values sent beside a preset do not override it.
			r := putSettings(t, srv, tn.Admin.Token(), map[string]any{"preset": "mlps3", "password_min_length": 40, "password_history": 0, "mfa_required": true})
			if s := settingsOf(t, r); !reflect.DeepEqual(s, presetDTO(t, "mlps3")) {
				t.Errorf("PUT mlps3 with values: %+v", s)
			}
		})

		t.Run("custom takes the values within bounds", func(t *testing.T) {
			tn := srv.NewTenant(t, "custom")
			body := customBody(t, map[string]any{
				"password_min_length": 12, "password_max_length": 100, "password_classes": 4, "password_expiry_days": 30,
				"password_history": 24, "password_check_common": false, "lockout_threshold": 0, "lockout_minutes": 0, "captcha_after": 10,
				"ip_captcha_after": 1000, "session_idle_minutes": 15, "session_max_hours": 8, "max_sessions": 2, "mfa_required": false,
				"login_ip_ranges": []string{"203.0.113.0/24", "2001:db8::/32"},
			})
			got := settingsOf(t, putSettings(t, srv, tn.Admin.Token(), body))
			want := api.SecuritySettingsDTO{Preset: "custom", PasswordMinLength: 12, PasswordMaxLength: 100, PasswordClasses: 4,
				PasswordExpiryDays: 30, PasswordHistory: 24, LockoutThreshold: 0, LockoutMinutes: 0, CaptchaAfter: 10, IPCaptchaAfter: 1000,
				SessionIdleMinutes: 15, SessionMaxHours: 8, MaxSessions: 2, MFARequired: false, LoginIPRanges: []string{"203.0.113.0/24", "2001:db8::/32"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("PUT custom answered %+v, want %+v", got, want)
			}
			if again := must[*api.SecuritySettingsDTO](t)(tn.Admin.SecuritySettings(ctx)); !reflect.DeepEqual(*again, want) {
				t.Fatalf("GET %+v", *again)
			}
		})

		t.Run("out-of-bounds values are refused field by field", func(t *testing.T) {
			tn := srv.NewTenant(t, "bounds")
			tok := tn.Admin.Token()
			cases := []struct {
				what   string
				change map[string]any
				fields []string
			}{
				{"min length 7", map[string]any{"password_min_length": 7}, []string{"password_min_length"}},
				{"min length 65", map[string]any{"password_min_length": 65}, []string{"password_min_length"}},
				{"max length 63", map[string]any{"password_max_length": 63}, []string{"password_max_length"}},
				{"max length 129", map[string]any{"password_max_length": 129}, []string{"password_max_length"}},
				{"classes 5", map[string]any{"password_classes": 5}, []string{"password_classes"}},
				{"classes -1", map[string]any{"password_classes": -1}, []string{"password_classes"}},
				{"expiry -1", map[string]any{"password_expiry_days": -1}, []string{"password_expiry_days"}},
				{"expiry 3651", map[string]any{"password_expiry_days": 3651}, []string{"password_expiry_days"}},
				{"history 25", map[string]any{"password_history": 25}, []string{"password_history"}},
				{"lockout 101", map[string]any{"lockout_threshold": 101}, []string{"lockout_threshold"}},
				{"lock minutes 1441", map[string]any{"lockout_minutes": 1441}, []string{"lockout_minutes"}},
				{"captcha 0", map[string]any{"captcha_after": 0}, []string{"captcha_after"}},
				{"captcha not below the lock", map[string]any{"captcha_after": 5, "lockout_threshold": 5}, []string{"captcha_after"}},
				{"ip captcha 2", map[string]any{"ip_captcha_after": 2}, []string{"ip_captcha_after"}},
				{"idle 0", map[string]any{"session_idle_minutes": 0}, []string{"session_idle_minutes"}},
				{"idle above the maximum", map[string]any{"session_idle_minutes": 120, "session_max_hours": 1}, []string{"session_idle_minutes"}},
				{"max hours 721", map[string]any{"session_max_hours": 721}, []string{"session_max_hours"}},
				{"max sessions 101", map[string]any{"max_sessions": 101}, []string{"max_sessions"}},
				{"not a CIDR", map[string]any{"login_ip_ranges": []string{"10.0.0.0/8", "everywhere"}}, []string{"login_ip_ranges"}},
				{"a bare address", map[string]any{"login_ip_ranges": []string{"203.0.113.7"}}, []string{"login_ip_ranges"}},
				{"several at once", map[string]any{"password_min_length": 1, "password_history": 99, "max_sessions": -3},
					[]string{"max_sessions", "password_history", "password_min_length"}},
				{"missing values under custom", map[string]any{"password_min_length": nil, "mfa_required": nil, "login_ip_ranges": nil},
					[]string{"login_ip_ranges", "mfa_required", "password_min_length"}},
				{"unknown preset", map[string]any{"preset": "weak"}, []string{"preset"}},
				{"no preset", map[string]any{"preset": nil}, []string{"preset"}},
			}
			for _, c := range cases {
				got := badFieldNames(t, c.what, putSettings(t, srv, tok, customBody(t, c.change)))
				if !slices.Equal(got, c.fields) {
					t.Errorf("%s: bad fields %v, want %v", c.what, got, c.fields)
				}
			}
			many := make([]string, 101)
			for i := range many {
				many[i] = "10.0.0.0/8"
			}
			if got := badFieldNames(t, "101 ranges", putSettings(t, srv, tok, customBody(t, map[string]any{"login_ip_ranges": many}))); !slices.Equal(got, []string{"login_ip_ranges"}) {
				t.Errorf("101 ranges: %v", got)
			}
			// Malformed bodies.
			for what, body := range map[string]string{
				"unknown field":      `{"preset":"nist","password_min":4}`,
				"case-variant key":   `{"Preset":"custom"}`,
				"wrong type":         `{"preset":"custom","password_min_length":"12"}`,
				"fraction":           `{"preset":"custom","password_min_length":12.5}`,
				"two objects":        `{"preset":"nist"}{"preset":"nist"}`,
				"array":              `[]`,
				"null ranges member": `{"preset":"custom","login_ip_ranges":[null]}`,
			} {
				r := do(t, srv, rawReq{Method: "PUT", Path: "/api/v1/settings/security", Token: tok, ContentType: "application/json", Body: []byte(body)})
				wantRaw(t, what, r, http.StatusBadRequest, "invalid_request")
			}
			// None of it changed anything.
			if got := must[*api.SecuritySettingsDTO](t)(tn.Admin.SecuritySettings(ctx)); !reflect.DeepEqual(*got, presetDTO(t, "mlps3")) {
				t.Errorf("settings changed by refused requests: %+v", *got)
			}
		})

		t.Run("only admins", func(t *testing.T) {
			tn := srv.NewTenant(t, "onlyadmins")
			mgr, _ := srv.NewUser(t, tn, "mgr@onlyadmins.example.com", "Manager One", "manager")
			sales, _ := srv.NewUser(t, tn, "sales@onlyadmins.example.com", "Sales One", "sales")
			nist := "nist"
			for what, c := range map[string]*client.Client{"manager": mgr, "sales": sales} {
				_, err := c.SecuritySettings(ctx)
				checkErr(t, what+" GET", err, 403, "forbidden")
				_, err = c.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &nist})
				checkErr(t, what+" PUT", err, 403, "forbidden")
				r := putSettings(t, srv, c.Token(), customBody(t, map[string]any{"password_min_length": 8, "password_classes": 0}))
				wantRaw(t, what+" raw PUT", r, 403, "forbidden")
			}
			anon := client.New(srv.URL)
			_, err := anon.SecuritySettings(ctx)
			checkErr(t, "anonymous GET", err, 401, "unauthenticated")
			r := putSettings(t, srv, "", map[string]any{"preset": "nist"})
			wantRaw(t, "anonymous PUT", r, 401, "unauthenticated")
			// A new admin who has not yet changed the one-time password may
			// not touch them either.
			created := must[*api.CreateUserResponse](t)(tn.Admin.CreateUser(ctx, api.CreateUserRequest{Email: "admin2@onlyadmins.example.com", Name: "Second Admin", Role: "admin"}))
			fresh := login(t, srv, tn.Slug, "admin2@onlyadmins.example.com", created.OneTimePassword)
			_, err = fresh.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &nist})
			checkErr(t, "admin with a one-time password", err, 403, "password_expired")
			// Another tenant's admin reads and writes their own tenant only.
			other := srv.NewTenant(t, "onlyadmins-other")
			must[*api.SecuritySettingsDTO](t)(other.Admin.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &nist}))
			if got := must[*api.SecuritySettingsDTO](t)(tn.Admin.SecuritySettings(ctx)); got.Preset != "mlps3" {
				t.Errorf("another tenant's PUT changed this tenant: %+v", *got)
			}
		})

		t.Run("changes are audited with before and after", func(t *testing.T) {
			tn := srv.NewTenant(t, "audited")
			me := must[*api.MeResponse](t)(tn.Admin.Me(ctx))
			body := customBody(t, map[string]any{"password_min_length": 12, "password_history": 10, "login_ip_ranges": []string{"198.51.100.0/24"}})
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), body))
			evs := allAudit(t, tn.Admin, client.AuditQuery{Action: "settings.update"})
			if len(evs) != 1 {
				t.Fatalf("%d settings events, want 1: %s", len(evs), jsonString(evs))
			}
			e := evs[0]
			if e.Actor.ID != me.User.ID || e.ObjectType != "settings" || e.ObjectID != "security" {
				t.Errorf("event %s", jsonString(e))
			}
			change(t, e, "preset", "mlps3", "custom")
			change(t, e, "password_min_length", 8, 12)
			change(t, e, "password_history", 5, 10)
			change(t, e, "login_ip_ranges", []any{}, []any{"198.51.100.0/24"})
			for k := range e.Changes {
				if !slices.Contains([]string{"preset", "password_min_length", "password_history", "login_ip_ranges"}, k) {
					t.Errorf("unchanged setting %q in the event", k)
				}
			}
			// The same settings again change nothing and add no event;
			// refused and forbidden attempts add none either.
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), body))
			badFieldNames(t, "bad", putSettings(t, srv, tn.Admin.Token(), customBody(t, map[string]any{"password_min_length": 1})))
			if evs := allAudit(t, tn.Admin, client.AuditQuery{Action: "settings.update"}); len(evs) != 1 {
				t.Fatalf("%d settings events after a no-op and a refused PUT, want 1", len(evs))
			}
			nist := "nist"
			must[*api.SecuritySettingsDTO](t)(tn.Admin.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &nist}))
			evs = allAudit(t, tn.Admin, client.AuditQuery{Action: "settings.update"})
			if len(evs) != 2 {
				t.Fatalf("%d settings events, want 2", len(evs))
			}
			latest := evs[0]
			if latest.Seq < evs[1].Seq {
				latest = evs[1]
			}
			change(t, latest, "preset", "custom", "nist")
			change(t, latest, "password_expiry_days", 90, 0)
			change(t, latest, "lockout_threshold", 5, 100)
		})
	})
}

// TestPasswordPolicyAPI sets passwords through POST /api/v1/auth/password
// under settings chosen through the API.
func TestPasswordPolicyAPI(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()

		t.Run("each rule", func(t *testing.T) {
			tn := srv.NewTenant(t, "rules")
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), customBody(t, map[string]any{
				"password_min_length": 12, "password_max_length": 100, "password_classes": 4, "password_history": 2,
			})))
			c, _ := srv.NewUser(t, tn, "wl.star@rules.example.com", "Mei Chen", "sales")
			cases := []struct {
				what, pw string
				want     []string
			}{
				{"too short", "Ab1-xyzwvut", []string{"min_length"}},
				{"too long", "Ab1-" + strings.Repeat("x", 97), []string{"max_length"}},
				{"over 256 bytes", "Ab1-" + strings.Repeat("密", 90), []string{"max_bytes"}},
				{"three classes", "Abcdefghijk1", []string{"classes"}},
				{"digits only", "123456789012", []string{"classes", "common"}},
				{"control character", "Ab1-xyzwvut\tq", []string{"invalid_text"}},
				{"contains a piece of the login", "Ab1-xyz-STAR-q", []string{"contains_login"}},
				{"contains the e-mail local part", "Ab1-wl.star-q", []string{"contains_login"}},
				{"contains the name without spaces", "Ab1-MeiChen-xyz", []string{"contains_name"}},
				{"contains a part of the name", "Ab1-xyz-chen-q", []string{"contains_name"}},
				{"common (and 3 classes)", "PassWord1234", []string{"classes", "common"}},
				{"the current password", password, []string{"reused"}},
				{"everything at once", "star", []string{"min_length", "classes", "contains_login", "common"}},
			}
			for _, tc := range cases {
				err := c.ChangePassword(ctx, password, tc.pw)
				e := checkErr(t, tc.what, err, 422, "password_policy")
				if e == nil {
					continue
				}
				var got []string
				for _, v := range e.Details["violations"].([]any) {
					got = append(got, v.(string))
				}
				if msgs, _ := e.Details["messages"].([]any); len(msgs) != len(got) {
					t.Errorf("%s: messages %v for violations %v", tc.what, msgs, got)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s: violations %v, want %v", tc.what, got, tc.want)
				}
				if pol, _ := e.Details["policy"].(map[string]any); pol["min_length"] != float64(12) || pol["classes"] != float64(4) ||
					pol["history"] != float64(2) || pol["max_length"] != float64(100) || pol["check_common"] != true {
					t.Errorf("%s: details.policy %v", tc.what, e.Details["policy"])
				}
			}
			// Nothing changed the password; a good one is accepted.
			login(t, srv, tn.Slug, "wl.star@rules.example.com", password)
			noErr(t, c.ChangePassword(ctx, password, "Quiet-harbor-2031"))
			login(t, srv, tn.Slug, "wl.star@rules.example.com", "Quiet-harbor-2031")
		})

		t.Run("history of the last N", func(t *testing.T) {
			tn := srv.NewTenant(t, "history")
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), customBody(t, map[string]any{"password_history": 2})))
			c, _ := srv.NewUser(t, tn, "hist@history.example.com", "Hist User", "sales")
			p1, p2, p3 := "Maple-river-0001", "Maple-river-0002", "Maple-river-0003"
			noErr(t, c.ChangePassword(ctx, password, p1))
			noErr(t, c.ChangePassword(ctx, p1, p2))
			noErr(t, c.ChangePassword(ctx, p2, p3))
			// Current p3, then p2 and p1 (the last 2) are refused...
			for _, pw := range []string{p3, p2, p1} {
				e := checkErr(t, "reuse "+pw, c.ChangePassword(ctx, p3, pw), 422, "password_policy")
				if e != nil && !reflect.DeepEqual(e.Details["violations"], []any{"reused"}) {
					t.Errorf("reuse %s: %v", pw, e.Details)
				}
			}
			// ...and the one before them (the N+1-th) is allowed again.
			noErr(t, c.ChangePassword(ctx, p3, password))
			login(t, srv, tn.Slug, "hist@history.example.com", password)
		})

		t.Run("common passwords", func(t *testing.T) {
			tn := srv.NewTenant(t, "common")
			nist := "nist"
			must[*api.SecuritySettingsDTO](t)(tn.Admin.PutSecuritySettings(ctx, api.PutSecuritySettingsRequest{Preset: &nist}))
			c, _ := srv.NewUser(t, tn, "com@common.example.com", "Com User", "sales")
			for _, pw := range []string{"password", "iloveyou", "qwerty123", "Qwerty123", "sunshine", "football1", "1q2w3e4r5t"} {
				e := checkErr(t, pw, c.ChangePassword(ctx, password, pw), 422, "password_policy")
				if e != nil && !reflect.DeepEqual(e.Details["violations"], []any{"common"}) {
					t.Errorf("%s: %v", pw, e.Details)
				}
			}
			// NIST allows a long lower-case passphrase that is not common.
			noErr(t, c.ChangePassword(ctx, password, "velvet otter juggles lanterns"))
			// With the check off, a common password is accepted.
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), customBody(t, map[string]any{
				"password_check_common": false, "password_classes": 0, "password_history": 0})))
			noErr(t, c.ChangePassword(ctx, "velvet otter juggles lanterns", "iloveyou"))
		})

		t.Run("one-time passwords meet the strictest policy", func(t *testing.T) {
			tn := srv.NewTenant(t, "otpstrict")
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), customBody(t, map[string]any{"password_min_length": 16, "password_classes": 4})))
			for i := range 20 {
				created := must[*api.CreateUserResponse](t)(tn.Admin.CreateUser(ctx, api.CreateUserRequest{
					Email: "otp" + string(rune('a'+i)) + "@otpstrict.example.com", Name: "Zed Quixote", Role: "sales"}))
				if len(created.OneTimePassword) < 16 || len(identity.PasswordClasses(created.OneTimePassword)) != 4 {
					t.Fatalf("one-time password %q", created.OneTimePassword)
				}
				reset := must[*api.ResetPasswordResponse](t)(tn.Admin.ResetPassword(ctx, created.User.ID))
				if len(reset.OneTimePassword) < 16 || len(identity.PasswordClasses(reset.OneTimePassword)) != 4 {
					t.Fatalf("reset one-time password %q", reset.OneTimePassword)
				}
			}
		})
	})
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestPasswordExpiryAPI moves the server's clock past password_expiry_days.
func TestPasswordExpiryAPI(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			clk := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
			srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			tn := srv.NewTenant(t, "expiry")
			settingsOf(t, putSettings(t, srv, tn.Admin.Token(), customBody(t, map[string]any{"password_expiry_days": 30})))
			srv.NewUser(t, tn, "old@expiry.example.com", "Old Timer", "sales")

			clk.Advance(30*24*time.Hour - 10*time.Minute)
			fresh := client.New(srv.URL)
			res := must[*api.LoginResponse](t)(fresh.Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: "old@expiry.example.com", Password: password}))
			if res.MustChangePassword {
				t.Fatal("forced before the expiry")
			}
			must[*api.MeResponse](t)(fresh.Me(ctx))

			// The password expires while the session is open.
			clk.Advance(10 * time.Minute)
			_, err := fresh.Me(ctx)
			wantErr(t, err, 403, "password_expired")
			_, err = fresh.ListRecords(ctx, "account", client.ListOptions{})
			wantErr(t, err, 403, "password_expired")
			res = must[*api.LoginResponse](t)(client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: "old@expiry.example.com", Password: password}))
			if !res.MustChangePassword {
				t.Fatal("login with an expired password: must_change_password is false")
			}
			// Renewing the same password is no way out.
			wantErr(t, fresh.ChangePassword(ctx, password, password), 422, "password_policy")
			noErr(t, fresh.ChangePassword(ctx, password, "Renewed-pass-2031"))
			must[*api.MeResponse](t)(fresh.Me(ctx))
			res = must[*api.LoginResponse](t)(client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: "old@expiry.example.com", Password: "Renewed-pass-2031"}))
			if res.MustChangePassword {
				t.Fatal("still forced after the change")
			}
			// The admin changed the password at the start too: expired as well,
			// until the admin lengthens the expiry (which applies at once).
			admin := client.New(srv.URL)
			res = must[*api.LoginResponse](t)(admin.Login(ctx, api.LoginRequest{Tenant: tn.Slug, Login: tn.AdminLogin, Password: tn.Password}))
			if !res.MustChangePassword {
				t.Fatal("the admin's expired password is not forced")
			}
			_, err = admin.SecuritySettings(ctx)
			wantErr(t, err, 403, "password_expired")
		})
	}
}
