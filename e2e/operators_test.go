package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/opsapi"
)

// opsClock is a server clock the test moves forward, so that TOTP steps,
// locks and idle timeouts pass without waiting.
type opsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *opsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *opsClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func opsCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func opsLogin(t *testing.T, srv *testserver.Server, email, password, code string) rawResp {
	t.Helper()
	body := map[string]string{"email": email, "password": password}
	if code != "" {
		body["totp"] = code
	}
	return do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/auth/login", ContentType: "application/json", Body: jsonBody(t, body)})
}

func opsToken(t *testing.T, r rawResp) opsapi.LoginResponse {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("operator login: %d %s", r.Status, r.Body)
	}
	var res opsapi.LoginResponse
	if err := json.Unmarshal(r.Body, &res); err != nil || !strings.HasPrefix(res.Token, operators.TokenPrefix) {
		t.Fatalf("operator login answer %s: %v", r.Body, err)
	}
	return res
}

func TestOperatorRealm(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			clk := &opsClock{t: time.Now().UTC().Truncate(time.Second)}
			srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			tn := srv.NewTenant(t, "opsacme")
			create(t, tn.Admin, "contact", map[string]any{"name": "Zebulon Secretname", "email": "zebulon@customer.example.com"})

			created, err := srv.App.Operators.Create(ctx, operators.CreateInput{Email: "Olga.Ops@Vendor.example.com", Name: "Olga Operator",
				Role: operators.RoleSupport}, audit.SystemActor("test", "cli user test"))
			if err != nil {
				t.Fatalf("create operator: %v", err)
			}
			email, otpw, secret := created.Operator.Email, created.OneTimePassword, created.TOTPSecret
			if _, err := srv.App.Operators.Create(ctx, operators.CreateInput{Email: "olga.ops@VENDOR.example.com", Name: "Again",
				Role: operators.RoleSRE}, audit.SystemActor("test", "")); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("duplicate e-mail (other case): %v", err)
			}

			// All three parts are required, and every refusal looks alike.
			wantRaw(t, "no code", opsLogin(t, srv, email, otpw, ""), 401, "invalid_credentials")
			wantRaw(t, "wrong code", opsLogin(t, srv, email, otpw, "000000"), 401, "invalid_credentials")
			wantRaw(t, "unknown e-mail", opsLogin(t, srv, "nobody@vendor.example.com", otpw, opsCode(t, secret, clk.Now())), 401, "invalid_credentials")
			wantRaw(t, "strict JSON", do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/auth/login", ContentType: "application/json",
				Body: []byte(`{"email":"a@b.c","password":"x","totp":"1","extra":1}`)}), 400, "invalid_request")

			code := opsCode(t, secret, clk.Now())
			first := opsToken(t, opsLogin(t, srv, email, otpw, code))
			if !first.MustChangePassword {
				t.Fatal("a one-time password must be changed first")
			}
			// The same code again (same time step) is refused.
			wantRaw(t, "replayed code", opsLogin(t, srv, email, otpw, code), 401, "invalid_credentials")
			wantRaw(t, "tenants before the password change", do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + "/tenants", Token: first.Token}),
				403, "password_expired")
			if r := do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + "/me", Token: first.Token}); r.Status != 200 ||
				!strings.Contains(string(r.Body), `"must_change_password":true`) {
				t.Fatalf("me: %d %s", r.Status, r.Body)
			}
			changePw := func(cur, next string) rawResp {
				return do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/auth/password", Token: first.Token, ContentType: "application/json",
					Body: jsonBody(t, map[string]string{"current_password": cur, "new_password": next})})
			}
			wantRaw(t, "short password", changePw(otpw, "Short-1a"), 422, "password_policy")
			wantRaw(t, "wrong current password", changePw("not-the-password", "Vendor-Staff-Pass-42"), 401, "invalid_credentials")
			const newPw = "Vendor-Staff-Pass-42"
			if r := changePw(otpw, newPw); r.Status != http.StatusNoContent {
				t.Fatalf("change password: %d %s", r.Status, r.Body)
			}
			wantRaw(t, "old password", opsLogin(t, srv, email, otpw, opsCode(t, secret, clk.Now().Add(30*time.Second))), 401, "invalid_credentials")

			clk.Advance(30 * time.Second)
			sess := opsToken(t, opsLogin(t, srv, email, newPw, opsCode(t, secret, clk.Now())))
			if sess.MustChangePassword {
				t.Fatal("the password was changed")
			}

			// Tenant metadata and sizes; no tenant data.
			r := do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + "/tenants", Token: sess.Token})
			if r.Status != 200 {
				t.Fatalf("tenants: %d %s", r.Status, r.Body)
			}
			var list opsapi.TenantList
			if err := json.Unmarshal(r.Body, &list); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range list.Items {
				if d.Slug == tn.Slug {
					found = true
					if d.ID != tn.ID || d.Status != "active" || d.Users < 1 || d.Records < 1 || d.Name == "" {
						t.Errorf("tenant summary %+v", d)
					}
				}
			}
			if !found {
				t.Fatalf("tenant %s missing from %s", tn.Slug, r.Body)
			}
			for _, secretish := range []string{"Zebulon", "Secretname", "zebulon@", tn.AdminLogin, "password", "Admin " + tn.Slug} {
				if strings.Contains(string(r.Body), secretish) {
					t.Errorf("the tenant list shows tenant data %q: %s", secretish, r.Body)
				}
			}

			// The realms never accept each other's tokens.
			for _, path := range []string{"/api/v1/me", "/api/v1/objects", "/api/v1/objects/contact/records", "/api/v1/audit", "/api/v1/users"} {
				wantRaw(t, "operator token on "+path, do(t, srv, rawReq{Method: http.MethodGet, Path: path, Token: sess.Token}), 401, "unauthenticated")
			}
			for _, path := range []string{"/me", "/tenants"} {
				wantRaw(t, "tenant token on "+path, do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + path, Token: tn.Admin.Token()}),
					401, "unauthenticated")
			}
			wantRaw(t, "no token", do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + "/tenants"}), 401, "unauthenticated")

			// Idle timeout: 30 minutes without a request end the session.
			clk.Advance(30 * time.Second)
			idle := opsToken(t, opsLogin(t, srv, email, newPw, opsCode(t, secret, clk.Now())))
			clk.Advance(31 * time.Minute)
			wantRaw(t, "idle session", do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + "/me", Token: idle.Token}), 401, "unauthenticated")

			// Logout revokes.
			clk.Advance(30 * time.Second)
			out := opsToken(t, opsLogin(t, srv, email, newPw, opsCode(t, secret, clk.Now())))
			if r := do(t, srv, rawReq{Method: http.MethodPost, Path: opsapi.Prefix + "/auth/logout", Token: out.Token}); r.Status != http.StatusNoContent {
				t.Fatalf("logout: %d %s", r.Status, r.Body)
			}
			wantRaw(t, "after logout", do(t, srv, rawReq{Method: http.MethodGet, Path: opsapi.Prefix + "/me", Token: out.Token}), 401, "unauthenticated")

			// Five failures lock for 15 minutes, even for the right credentials.
			for i := range operators.LockAfter {
				wantRaw(t, "wrong password", opsLogin(t, srv, email, "wrong-password-"+string(rune('a'+i)), opsCode(t, secret, clk.Now())), 401, "invalid_credentials")
			}
			clk.Advance(30 * time.Second)
			wantRaw(t, "locked", opsLogin(t, srv, email, newPw, opsCode(t, secret, clk.Now())), 423, "account_locked")
			clk.Advance(operators.LockFor)
			opsToken(t, opsLogin(t, srv, email, newPw, opsCode(t, secret, clk.Now())))

			// The platform trail has the sign-ins and the refusals.
			evs, err := srv.App.DB.AuditEventsAfter(ctx, audit.PlatformTrail, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			for _, e := range evs {
				counts[e.Action]++
				if strings.Contains(jsonString(e), newPw) || strings.Contains(jsonString(e), otpw) {
					t.Errorf("a password reached the audit trail: %+v", e)
				}
			}
			if counts[operators.ActionOperatorCreated] != 1 || counts[audit.ActionOperatorLogin] < 4 || counts[audit.ActionOperatorLoginFailed] < 10 {
				t.Errorf("platform trail actions %v", counts)
			}

			if engine == "postgres" {
				rlsFence(t, srv, tn.ID)
			}
		})
	}
}

// rlsFence proves a tenant transaction cannot read or write the operator
// tables on PostgreSQL, while a platform transaction can read them.
func rlsFence(t *testing.T, srv *testserver.Server, tenantID string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.App.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(tid, table string) (int, error) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return 0, err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `SELECT set_config('role', 'haven_app', true), set_config('haven.tenant_id', $1, true)`, tid); err != nil {
			return 0, err
		}
		var n int
		err = tx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
		return n, err
	}
	for _, table := range []string{"operators", "operator_sessions"} {
		if n, err := count(tenantID, table); err != nil || n != 0 {
			t.Errorf("a tenant transaction sees %d rows of %s (%v)", n, table, err)
		}
		if n, err := count("", table); err != nil || n == 0 {
			t.Errorf("a platform transaction sees %d rows of %s (%v)", n, table, err)
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT set_config('role', 'haven_app', true), set_config('haven.tenant_id', $1, true)`, tenantID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO operators (id, email, name, role, password_hash, password_changed_at, totp_secret, created_at)
		VALUES ('x', 'evil@example.com', 'Evil', 'security', 'h', 0, '\x00', 0)`); err == nil {
		t.Error("a tenant transaction inserted an operator")
	}
}
