package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()

		t.Run("failed logins are indistinguishable", func(t *testing.T) {
			tn := srv.NewTenant(t, "creds")
			other := srv.NewTenant(t, "other")
			srv.NewUser(t, other, "elsewhere@example.com", "Elsewhere", "sales")
			_, gone := srv.NewUser(t, tn, "gone@example.com", "Gone User", "sales")
			must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, gone.ID))

			loginBody := func(tenant, login, pw string) []byte {
				return jsonBody(t, api.LoginRequest{Tenant: tenant, Login: login, Password: pw})
			}
			cases := map[string][]byte{
				"wrong password":               loginBody("creds", tn.AdminLogin, "Wrong-password-123"),
				"wrong password, other case":   loginBody("creds", strings.ToUpper(tn.AdminLogin), "Wrong-password-123"),
				"unknown e-mail":               loginBody("creds", "nobody@creds.example.com", password),
				"unknown phone":                loginBody("creds", "+8613800000000", password),
				"unparsable login":             loginBody("creds", "not a login", password),
				"unknown tenant":               loginBody("no-such-tenant", tn.AdminLogin, password),
				"invalid tenant slug":          loginBody("No Such Tenant!", tn.AdminLogin, password),
				"deactivated, right password":  loginBody("creds", "gone@example.com", password),
				"deactivated, wrong password":  loginBody("creds", "gone@example.com", "Wrong-password-123"),
				"user of another tenant":       loginBody("creds", "elsewhere@example.com", password),
				"right password, wrong tenant": loginBody("other", tn.AdminLogin, password),
			}
			var first []byte
			for what, body := range cases {
				r := do(t, srv, rawReq{Method: "POST", Path: "/api/v1/auth/login", ContentType: "application/json", Body: body})
				wantRaw(t, what, r, 401, "invalid_credentials")
				if first == nil {
					first = r.Body
				} else if string(r.Body) != string(first) {
					t.Errorf("%s: body %s differs from %s", what, r.Body, first)
				}
				if r.Header.Get("Set-Cookie") != "" {
					t.Errorf("%s: sets a cookie", what)
				}
			}
			// The deactivated user's session is gone too, and the right
			// credentials of an active user still work.
			login(t, srv, "creds", tn.AdminLogin, password)
		})

		t.Run("one-time password must be changed first", func(t *testing.T) {
			tn := srv.NewTenant(t, "otp")
			rec := create(t, tn.Admin, "account", map[string]any{"name": "Existing"})
			_, victim := srv.NewUser(t, tn, "victim@example.com", "Victim", "sales")
			created := must[*api.CreateUserResponse](t)(tn.Admin.CreateUser(ctx, api.CreateUserRequest{Email: "new-admin@example.com", Name: "New Admin", Role: "admin"}))
			if created.OneTimePassword == "" || !created.User.MustChangePassword {
				t.Fatalf("new user: %+v", created)
			}
			c1 := client.New(srv.URL)
			res := must[*api.LoginResponse](t)(c1.Login(ctx, api.LoginRequest{Tenant: "otp", Login: "new-admin@example.com", Password: created.OneTimePassword}))
			if !res.MustChangePassword || res.Token == "" {
				t.Fatalf("first login: %+v", res)
			}
			c2 := login(t, srv, "otp", "new-admin@example.com", created.OneTimePassword)

			name, role := "Renamed", "admin"
			calls := map[string]func() error{
				"me":         func() error { _, err := c1.Me(ctx); return err },
				"list users": func() error { _, err := c1.ListUsers(ctx, client.ListOptions{}); return err },
				"get user":   func() error { _, err := c1.GetUser(ctx, victim.ID); return err },
				"get self":   func() error { _, err := c1.GetUser(ctx, created.User.ID); return err },
				"create user": func() error {
					_, err := c1.CreateUser(ctx, api.CreateUserRequest{Email: "x@example.com", Name: "X", Role: "admin"})
					return err
				},
				"update user": func() error {
					_, err := c1.UpdateUser(ctx, victim.ID, api.UpdateUserRequest{Name: &name, Role: &role})
					return err
				},
				"deactivate":     func() error { _, err := c1.DeactivateUser(ctx, victim.ID); return err },
				"reset password": func() error { _, err := c1.ResetPassword(ctx, victim.ID); return err },
				"list objects":   func() error { _, err := c1.ListObjects(ctx); return err },
				"get object":     func() error { _, err := c1.GetObject(ctx, "account"); return err },
				"create field": func() error {
					_, err := c1.CreateField(ctx, "account", api.CreateFieldRequest{Name: "sneaky", Label: "Sneaky", Type: "text"})
					return err
				},
				"list records": func() error { _, err := c1.ListRecords(ctx, "account", client.ListOptions{}); return err },
				"create record": func() error {
					_, err := c1.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "New"}})
					return err
				},
				"get record": func() error { _, err := c1.GetRecord(ctx, "account", rec.ID); return err },
				"update record": func() error {
					_, err := c1.UpdateRecord(ctx, "account", rec.ID, rec.Version, map[string]any{"name": "Changed"})
					return err
				},
				"delete record": func() error { return c1.DeleteRecord(ctx, "account", rec.ID, 0) },
				"history":       func() error { _, err := c1.RecordHistory(ctx, "account", rec.ID); return err },
				"audit":         func() error { _, err := c1.ListAudit(ctx, client.AuditQuery{}); return err },
			}
			for what, call := range calls {
				checkErr(t, what, call(), 403, "password_expired")
			}
			// Nothing those calls attempted happened.
			if got := must[*api.RecordDTO](t)(tn.Admin.GetRecord(ctx, "account", rec.ID)); got.Version != rec.Version {
				t.Errorf("record changed while the password was expired: %+v", got)
			}
			if got := must[*api.UserDTO](t)(tn.Admin.GetUser(ctx, victim.ID)); got.Status != "active" || got.Name != "Victim" {
				t.Errorf("user changed while the password was expired: %+v", got)
			}
			obj := must[*api.ObjectDTO](t)(tn.Admin.GetObject(ctx, "account"))
			for _, f := range obj.Fields {
				if strings.HasPrefix(f.Name, "sneaky") {
					t.Errorf("field created while the password was expired")
				}
			}
			// A wrong current password does not get around it.
			wantErr(t, c1.ChangePassword(ctx, "guess-Guess-123", "Brand-fresh-Pass-42"), 401, "invalid_credentials")
			_, err := c1.Me(ctx)
			wantErr(t, err, 403, "password_expired")

			noErr(t, c1.ChangePassword(ctx, created.OneTimePassword, "Brand-fresh-Pass-42"))
			me, err := c1.Me(ctx)
			if err != nil || me.User.MustChangePassword {
				t.Fatalf("after the change: %+v %v", me, err)
			}
			if _, err := c1.ListRecords(ctx, "account", client.ListOptions{}); err != nil {
				t.Errorf("list after the change: %v", err)
			}
			// The change ended the other session opened with the one-time
			// password, and the one-time password is spent.
			_, err = c2.Me(ctx)
			wantErr(t, err, 401, "unauthenticated")
			_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "otp", Login: "new-admin@example.com", Password: created.OneTimePassword})
			wantErr(t, err, 401, "invalid_credentials")
			res = must[*api.LoginResponse](t)(client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "otp", Login: "new-admin@example.com", Password: "Brand-fresh-Pass-42"}))
			if res.MustChangePassword {
				t.Errorf("must_change_password still set after the change")
			}
		})

		tn := srv.NewTenant(t, "acme")

		t.Run("logout revokes the token", func(t *testing.T) {
			_, u := srv.NewUser(t, tn, "leaver@example.com", "Leaver", "sales")
			c := login(t, srv, "acme", "leaver@example.com", password)
			other := login(t, srv, "acme", "leaver@example.com", password)
			tok := c.Token()
			noErr(t, c.Logout(ctx))
			if c.Token() != "" {
				t.Errorf("client kept the token after logout")
			}
			old := withToken(srv, tok)
			_, err := old.Me(ctx)
			wantErr(t, err, 401, "unauthenticated")
			_, err = old.ListRecords(ctx, "account", client.ListOptions{})
			wantErr(t, err, 401, "unauthenticated")
			wantErr(t, old.Logout(ctx), 401, "unauthenticated")
			// Only that session ended.
			if me, err := other.Me(ctx); err != nil || me.User.ID != u.ID {
				t.Errorf("other session: %+v %v", me, err)
			}
		})

		t.Run("deactivation ends sessions at once", func(t *testing.T) {
			c1, u := srv.NewUser(t, tn, "fired@example.com", "Fired", "manager")
			c2 := login(t, srv, "acme", "fired@example.com", password)
			for _, c := range []*client.Client{c1, c2} {
				if _, err := c.Me(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got := must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, u.ID))
			if got.Status != "deactivated" {
				t.Errorf("status %q", got.Status)
			}
			for _, c := range []*client.Client{c1, c2} {
				_, err := c.Me(ctx)
				checkErr(t, "me", err, 401, "unauthenticated")
				_, err = c.ListRecords(ctx, "account", client.ListOptions{})
				checkErr(t, "list", err, 401, "unauthenticated")
				_, err = c.CreateRecord(ctx, "account", client.RecordInput{Fields: map[string]any{"name": "revenge"}})
				checkErr(t, "create", err, 401, "unauthenticated")
			}
			_, err := client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "acme", Login: "fired@example.com", Password: password})
			wantErr(t, err, 401, "invalid_credentials")
			// Deactivating again is harmless and does not revive anything.
			if got := must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, u.ID)); got.Status != "deactivated" {
				t.Errorf("second deactivate: %+v", got)
			}
			// A password reset does not reactivate the user.
			otp := must[*api.ResetPasswordResponse](t)(tn.Admin.ResetPassword(ctx, u.ID))
			_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "acme", Login: "fired@example.com", Password: otp.OneTimePassword})
			wantErr(t, err, 401, "invalid_credentials")
		})

		t.Run("reset password ends sessions", func(t *testing.T) {
			c, u := srv.NewUser(t, tn, "forgetful@example.com", "Forgetful", "sales")
			res := must[*api.ResetPasswordResponse](t)(tn.Admin.ResetPassword(ctx, u.ID))
			if len(res.OneTimePassword) < 12 || res.OneTimePassword == password {
				t.Fatalf("one-time password %q", res.OneTimePassword)
			}
			_, err := c.Me(ctx)
			wantErr(t, err, 401, "unauthenticated")
			_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "acme", Login: "forgetful@example.com", Password: password})
			wantErr(t, err, 401, "invalid_credentials")
			nc := client.New(srv.URL)
			lr := must[*api.LoginResponse](t)(nc.Login(ctx, api.LoginRequest{Tenant: "acme", Login: "forgetful@example.com", Password: res.OneTimePassword}))
			if !lr.MustChangePassword {
				t.Errorf("login with the new one-time password: must_change_password false")
			}
			_, err = nc.ListRecords(ctx, "account", client.ListOptions{})
			wantErr(t, err, 403, "password_expired")
			noErr(t, nc.ChangePassword(ctx, res.OneTimePassword, "Remembered-Now-55"))
			if _, err := nc.ListRecords(ctx, "account", client.ListOptions{}); err != nil {
				t.Errorf("after the change: %v", err)
			}
			// A second reset invalidates the first one-time password.
			res2 := must[*api.ResetPasswordResponse](t)(tn.Admin.ResetPassword(ctx, u.ID))
			if res2.OneTimePassword == res.OneTimePassword {
				t.Errorf("reset gave the same one-time password twice")
			}
			_, err = client.New(srv.URL).Login(ctx, api.LoginRequest{Tenant: "acme", Login: "forgetful@example.com", Password: "Remembered-Now-55"})
			wantErr(t, err, 401, "invalid_credentials")
		})

		t.Run("change password rules", func(t *testing.T) {
			c, _ := srv.NewUser(t, tn, "careful@example.com", "Careful Person", "sales")
			other := login(t, srv, "acme", "careful@example.com", password)

			wantErr(t, c.ChangePassword(ctx, "Not-my-password-1", "Another-Good-Pass-9"), 401, "invalid_credentials")
			e := wantErr(t, c.ChangePassword(ctx, password, "short"), 422, "password_policy")
			// Machine codes in violations, the English text at the same
			// index in messages.
			v, _ := e.Details["violations"].([]any)
			m, _ := e.Details["messages"].([]any)
			i := slices.Index(v, any("min_length"))
			if i < 0 || len(m) != len(v) || !strings.Contains(m[i].(string), "8") {
				t.Errorf("violations %v", e.Details)
			}
			for what, weak := range map[string]string{
				"contains the login": "xx-Careful-99-xx",
				"contains the name":  "careful person 2026",
				"same as current":    password,
				"seven runes":        "Abc-12!",
				"over 256 bytes":     strings.Repeat("Ab1-", 65),
			} {
				err := c.ChangePassword(ctx, password, weak)
				if err == nil {
					t.Fatalf("%s: weak password %q accepted", what, weak)
				}
				if e := checkErr(t, what, err, 422, "password_policy"); e != nil {
					if v, _ := e.Details["violations"].([]any); len(v) == 0 {
						t.Errorf("%s: no violations in %v", what, e.Details)
					}
				}
			}
			checkErr(t, "empty new password", c.ChangePassword(ctx, password, ""), 400, "invalid_request")
			checkErr(t, "empty current password", c.ChangePassword(ctx, "", "Another-Good-Pass-9"), 400, "invalid_request")

			// None of that changed the password or ended a session.
			login(t, srv, "acme", "careful@example.com", password)
			if _, err := other.Me(ctx); err != nil {
				t.Errorf("other session after failed changes: %v", err)
			}
			noErr(t, c.ChangePassword(ctx, password, "Another-Good-Pass-9"))
			if _, err := c.Me(ctx); err != nil {
				t.Errorf("the changing session must survive: %v", err)
			}
			_, err := other.Me(ctx)
			wantErr(t, err, 401, "unauthenticated")
			login(t, srv, "acme", "careful@example.com", "Another-Good-Pass-9")
		})

		t.Run("bad authorization headers", func(t *testing.T) {
			tok := tn.Admin.Token()
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(tn.AdminLogin+":"+password))
			flip := []byte(tok)
			if flip[len(flip)-1] == 'A' {
				flip[len(flip)-1] = 'B'
			} else {
				flip[len(flip)-1] = 'A'
			}
			cases := map[string]rawReq{
				"no header":          {},
				"empty bearer":       {Auth: "Bearer"},
				"bearer and space":   {Auth: "Bearer  "},
				"garbage":            {Auth: "Bearer garbage"},
				"basic":              {Auth: basic},
				"basic with token":   {Auth: "Basic " + tok},
				"token scheme":       {Auth: "Token " + tok},
				"bare token":         {Auth: tok},
				"no prefix":          {Auth: "Bearer " + strings.TrimPrefix(tok, "hvs_")},
				"other prefix":       {Auth: "Bearer hvx_" + strings.TrimPrefix(tok, "hvs_")},
				"extra character":    {Auth: "Bearer " + tok + "A"},
				"one character less": {Auth: "Bearer " + tok[:len(tok)-1]},
				"flipped character":  {Auth: "Bearer " + string(flip)},
				"two tokens":         {Auth: "Bearer " + tok + ", Bearer " + tok},
				"huge":               {Auth: "Bearer " + strings.Repeat("A", 4000)},
				"query token":        {Path: "/api/v1/me?access_token=" + tok},
				"cookie token":       {Header: map[string]string{"Cookie": "token=" + tok + "; session=" + tok}},
			}
			for what, rq := range cases {
				rq.Method = "GET"
				if rq.Path == "" {
					rq.Path = "/api/v1/me"
				}
				r := do(t, srv, rq)
				wantRaw(t, what, r, 401, "unauthenticated")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", what, r.Header.Get("WWW-Authenticate"))
				}
			}
			// The scheme is case-insensitive (RFC 7235); the token is not.
			if r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/me", Auth: "bearer " + tok}); r.Status != http.StatusOK {
				t.Errorf("lower-case scheme: %d %s", r.Status, r.Body)
			}
			r := do(t, srv, rawReq{Method: "GET", Path: "/api/v1/me", Auth: "Bearer " + strings.ToUpper(tok)})
			wantRaw(t, "upper-cased token", r, 401, "unauthenticated")
		})
	})
}
