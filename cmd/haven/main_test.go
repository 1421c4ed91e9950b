package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/server"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func fastHashing(extra ...string) []string {
	return append([]string{"--argon2-memory-kib", "8192", "--argon2-iterations", "1"}, extra...)
}

func TestTenantCreateJSON(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dbArgs := []string{"--data", t.TempDir()}
			if engine == "postgres" {
				dbArgs = []string{"--database-url", testdb.NewPostgresDatabase(t)}
			}
			ctx := context.Background()
			var out, errOut bytes.Buffer
			args := append([]string{"tenant", "create", "--slug", "acme", "--name", "Acme 有限公司", "--admin-email", "Boss@Acme.example.com", "--json"}, dbArgs...)
			args = append(args, fastHashing()...)
			if err := run(ctx, args, &out, &errOut, env(nil)); err != nil {
				t.Fatalf("tenant create: %v (stderr %s)", err, errOut.String())
			}
			var got map[string]string
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is not one JSON object: %q", out.String())
			}
			if len(got) != 3 || got["tenant"] != "acme" || got["admin_login"] != "boss@acme.example.com" || len(got["one_time_password"]) != 16 {
				t.Fatalf("unexpected output %v", got)
			}
			if strings.Contains(errOut.String(), got["one_time_password"]) {
				t.Fatal("the one-time password leaked into the log")
			}
			// The same slug again fails with a one-line reason.
			out.Reset()
			err := run(ctx, args, &out, &errOut, env(nil))
			if err == nil || !strings.Contains(oneLine(err), "already exists") || strings.Contains(oneLine(err), "\n") {
				t.Fatalf("duplicate slug: %v", err)
			}
			if exitCode(err) == 0 {
				t.Fatal("a failed command must exit non-zero")
			}
		})
	}
}

func TestTenantCreateValidation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cases := map[string][]string{
		"missing name":   {"tenant", "create", "--slug", "acme", "--admin-email", "a@example.com"},
		"bad slug":       {"tenant", "create", "--slug", "Acme Corp", "--name", "Acme", "--admin-email", "a@example.com"},
		"bad email":      {"tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "not-an-email"},
		"past contract":  {"tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@example.com", "--contract-end", "2001-01-01"},
		"bad date":       {"tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@example.com", "--contract-end", "tomorrow"},
		"unknown flag":   {"tenant", "create", "--slug", "acme", "--bogus"},
		"unknown cmd":    {"frobnicate"},
		"bad env config": {"migrate"},
	}
	want := map[string]string{
		"missing name": "required", "bad slug": "slug", "bad email": "email", "past contract": "contract_end",
		"bad date": "contract-end", "unknown flag": "bogus", "unknown cmd": "frobnicate", "bad env config": "HAVEN_SESSION_IDLE",
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := env(map[string]string{"HAVEN_SESSION_IDLE": "soon"})
			if name != "bad env config" {
				e = env(nil)
			}
			err := run(ctx, append(args, "--data", dir), &out, &errOut, e)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := oneLine(err) + errOut.String()
			if !strings.Contains(msg, want[name]) {
				t.Fatalf("error %q does not mention %q", msg, want[name])
			}
			if strings.Contains(out.String(), "password") {
				t.Fatalf("a failed command printed %q", out.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "haven ") {
		t.Fatalf("version printed %q", out.String())
	}
}

// syncBuffer lets the test read what the server goroutine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	c   chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.c <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) waitFor(t *testing.T, re *regexp.Regexp, done <-chan error) []string {
	t.Helper()
	for {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		b.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-b.c:
		case err := <-done:
			t.Fatalf("serve ended early: %v; output %s", err, b.buf.String())
		}
	}
}

// TestServeDemo starts the real server with --demo, signs in with the
// printed one-time password, stops it with a cancel (as Ctrl-C does) and
// checks a second start does not create the demo again.
func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	start := func() (*syncBuffer, context.CancelFunc, chan error) {
		out := &syncBuffer{c: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, append([]string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", dir}, fastHashing()...), out, io.Discard, env(nil))
		}()
		return out, cancel, done
	}
	out, cancel, done := start()
	m := out.waitFor(t, regexp.MustCompile(`Sign in at:\s+(http://\S+)/login[\s\S]*Login:\s+(\S+)\s+One-time password:\s+(\S+)`), done)
	url, login, otp := m[1], m[2], m[3]
	if !strings.Contains(out.buf.String(), "200 sample records") {
		t.Fatalf("demo output: %s", out.buf.String())
	}
	c := client.New(url)
	ctx := context.Background()
	res, err := c.Login(ctx, api.LoginRequest{Tenant: "demo", Login: login, Password: otp})
	if err != nil || !res.MustChangePassword {
		t.Fatalf("login with the printed one-time password: %+v %v", res, err)
	}
	if err := c.ChangePassword(ctx, otp, "Sample-Password-2026"); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListRecords(ctx, "contact", client.ListOptions{Limit: 200})
	if err != nil || len(list.Items) < 40 {
		t.Fatalf("demo contacts: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}

	out, cancel, done = start()
	out.waitFor(t, regexp.MustCompile(`already exists`), done)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if strings.Contains(out.buf.String(), "One-time password") {
		t.Fatal("a second --demo start printed a new password")
	}
}

// TestKeys: a new tenant gets a data key wrapped by a key file that only
// its owner can read; rotate-kek adds a key version and rewraps the data
// keys, after which the old key file is no longer needed.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	args := append([]string{"tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example.com", "--data", dir}, fastHashing()...)
	if err := run(ctx, args, io.Discard, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	v1 := filepath.Join(dir, "keys", "kek-v1.key")
	st, err := os.Stat(v1)
	if err != nil {
		t.Fatalf("no key file after creating a tenant: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "rotate-kek", "--data", dir}, &out, io.Discard, env(nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "local:v2") || !strings.Contains(out.String(), "rewrapped 1 tenant data key(s)") {
		t.Fatalf("rotate-kek printed %q", out.String())
	}
	// With v1 gone, the tenant's key still opens under v2.
	if err := os.Rename(v1, v1+".offline"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	app, err := server.OpenApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	tn, err := app.DB.TenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if term, _, err := app.Keyring.CurrentKey(ctx, tn.ID); err != nil || term != 1 {
		t.Fatalf("tenant key after rewrap without v1: term %d, %v", term, err)
	}
	// A second rewrap finds nothing left to move.
	out.Reset()
	if err := run(ctx, []string{"keys", "rewrap", "--data", dir}, &out, io.Discard, env(nil)); err != nil || !strings.Contains(out.String(), "rewrapped 0") {
		t.Fatalf("second rewrap: %q %v", out.String(), err)
	}
	// A key file readable by others is refused with a clear error.
	if err := os.Chmod(filepath.Join(dir, "keys", "kek-v2.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"keys", "rewrap", "--data", dir}, io.Discard, io.Discard, env(nil))
	if err == nil || !strings.Contains(oneLine(err), "kek-v2.key") {
		t.Fatalf("loose key file mode: %v", err)
	}
}
