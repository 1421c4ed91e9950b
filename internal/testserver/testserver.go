// Package testserver starts the real Haven server on 127.0.0.1:0 over a
// fresh database, for end-to-end, API and browser tests.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/server"
)

// Server is a running Haven server.
type Server struct {
	URL string
	App *server.App
	now func() time.Time
}

// Options adjust the configuration of a test server.
type Options struct {
	Configure func(*config.Config)
	// LogTo, when set, receives every server log line (debug and up) as
	// text, e.g. for a test that proves nothing secret is logged.
	LogTo io.Writer
	// Now, when set, is the server's clock (e.g. to let a lock run out).
	Now func() time.Time
}

// Start runs a server on engine ("sqlite" or "postgres") until the test
// ends. PostgreSQL runs skip without HAVEN_TEST_POSTGRES_URL.
func Start(t testing.TB, engine string, opts ...Options) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	// Cheaper hashing keeps the suite fast; the parameters are still argon2id.
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations = 8192, 1
	cfg.ShutdownTimeout = 10 * time.Second
	if engine == "postgres" {
		cfg.DatabaseURL = testdb.NewPostgresDatabase(t)
	}
	for _, o := range opts {
		if o.Configure != nil {
			o.Configure(&cfg)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	for _, o := range opts {
		if o.LogTo != nil {
			log = slog.New(slog.NewTextHandler(o.LogTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var appOpts server.AppOptions
	for _, o := range opts {
		if o.Now != nil {
			appOpts.Now = o.Now
		}
	}
	app, err := server.OpenApp(ctx, cfg, log, appOpts)
	if err != nil {
		cancel()
		t.Fatalf("open app: %v", err)
	}
	srv, err := app.Listen()
	if err != nil {
		cancel()
		app.Close()
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		app.Close()
	})
	now := time.Now
	if appOpts.Now != nil {
		now = appOpts.Now
	}
	return &Server{URL: srv.URL(), App: app, now: now}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Tenant is a provisioned tenant whose admin has set a real password.
type Tenant struct {
	Slug       string
	ID         string
	AdminLogin string
	Password   string
	// Admin is a client signed in as the admin.
	Admin *client.Client
}

// AdminPassword is the password test admins end up with.
const AdminPassword = "Correct-Horse-9-Battery"

// NewTenant provisions a tenant, signs its admin in with the one-time
// password and changes it to AdminPassword.
func (s *Server) NewTenant(t testing.TB, slug string) Tenant {
	t.Helper()
	ctx := context.Background()
	res, err := s.App.Provisioner.CreateTenant(ctx, provision.Input{Slug: slug, Name: slug + " Co.", AdminEmail: "admin@" + slug + ".example.com", AdminName: "Admin " + slug})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	c := client.New(s.URL)
	if _, err := c.Login(ctx, api.LoginRequest{Tenant: slug, Login: res.Admin.Email, Password: res.OneTimePassword}); err != nil {
		t.Fatalf("first login: %v", err)
	}
	if err := c.ChangePassword(ctx, res.OneTimePassword, AdminPassword); err != nil {
		t.Fatalf("change password: %v", err)
	}
	return Tenant{Slug: slug, ID: string(res.Tenant.ID), AdminLogin: res.Admin.Email, Password: AdminPassword, Admin: c}
}

// Login returns a client signed in as login.
func (s *Server) Login(t testing.TB, slug, login, password string) *client.Client {
	t.Helper()
	c := client.New(s.URL)
	if _, err := c.Login(context.Background(), api.LoginRequest{Tenant: slug, Login: login, Password: password}); err != nil {
		t.Fatalf("login %s: %v", login, err)
	}
	return c
}

// NewUser creates a user with the given role through the admin client and
// returns a client signed in as that user with a changed password.
func (s *Server) NewUser(t testing.TB, tn Tenant, email, name, role string) (*client.Client, api.UserDTO) {
	t.Helper()
	ctx := context.Background()
	created, err := tn.Admin.CreateUser(ctx, api.CreateUserRequest{Email: email, Name: name, Role: role})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	c := s.Login(t, tn.Slug, email, created.OneTimePassword)
	if err := c.ChangePassword(ctx, created.OneTimePassword, AdminPassword); err != nil {
		t.Fatalf("change password of %s: %v", email, err)
	}
	return c, created.User
}
