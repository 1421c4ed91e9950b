package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/server"
)

func TestOperatorCreate(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			dbArgs := []string{"--data", dir}
			if engine == "postgres" {
				dbArgs = append(dbArgs, "--database-url", testdb.NewPostgresDatabase(t))
			}
			ctx := context.Background()
			var out, errOut bytes.Buffer
			args := append([]string{"operator", "create", "--email", "Sam.SRE@Vendor.example.com", "--name", "Sam Reliability", "--role", "sre", "--json"}, dbArgs...)
			args = append(args, fastHashing()...)
			if err := run(ctx, args, &out, &errOut, env(nil)); err != nil {
				t.Fatalf("operator create: %v (stderr %s)", err, errOut.String())
			}
			var got map[string]string
			dec := json.NewDecoder(&out)
			if err := dec.Decode(&got); err != nil || dec.More() {
				t.Fatalf("output is not one JSON object: %q", out.String())
			}
			if len(got) != 3 || got["email"] != "sam.sre@vendor.example.com" || len(got["one_time_password"]) != 16 || len(got["totp_secret"]) != 32 {
				t.Fatalf("unexpected output %v", got)
			}
			if strings.Contains(errOut.String(), got["one_time_password"]) || strings.Contains(errOut.String(), got["totp_secret"]) {
				t.Fatal("a credential leaked into the log")
			}
			// The same e-mail again, in other case, fails with one line.
			out.Reset()
			args[3] = "sam.sre@VENDOR.example.com"
			err := run(ctx, args, &out, &errOut, env(nil))
			if err == nil || !strings.Contains(oneLine(err), "already exists") || exitCode(err) == 0 {
				t.Fatalf("duplicate e-mail: %v", err)
			}
			if out.Len() != 0 {
				t.Fatalf("a refused create printed %q", out.String())
			}
			// Bad role: a usage error before anything is opened.
			bad := append([]string{"operator", "create", "--email", "x@vendor.example.com", "--name", "X", "--role", "admin"}, dbArgs...)
			if err := run(ctx, bad, &out, &errOut, env(nil)); err == nil || exitCode(err) != 2 {
				t.Fatalf("bad role: %v", err)
			}

			// The platform trail names the command and who ran it; the
			// stored secret is sealed, not the base32 text.
			app := openForTest(t, dbArgs)
			evs, err := app.DB.AuditEventsAfter(ctx, audit.PlatformTrail, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Action == "operator.create" {
					n++
					if e.ObjectName != got["email"] || !strings.Contains(e.ActorName, "haven operator create") || e.ActorType != "system" {
						t.Errorf("operator.create event %+v", e)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d operator.create events", n)
			}
			o, err := app.DB.OperatorByEmail(ctx, got["email"])
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(o.TOTPSecret, []byte(got["totp_secret"])) || o.PasswordHash == got["one_time_password"] || !o.MustChangePassword {
				t.Fatalf("stored operator holds a plain credential: %+v", o)
			}
		})
	}
}

// openForTest opens the application the command used (same data
// directory and database).
func openForTest(t *testing.T, dbArgs []string) *server.App {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg, err := parse(fs, append(dbArgs, fastHashing()...), env(nil), append([]string{"argon2-memory-kib", "argon2-iterations", "argon2-parallelism"}, keySettings...)...)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	app, err := server.OpenApp(context.Background(), cfg, newLogger(cfg, &logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func TestOperatorDeactivate(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			dbArgs := []string{"--data", dir}
			if engine == "postgres" {
				dbArgs = append(dbArgs, "--database-url", testdb.NewPostgresDatabase(t))
			}
			ctx := context.Background()
			var out, errOut bytes.Buffer
			create := append([]string{"operator", "create", "--email", "leaver@vendor.example.com", "--name", "Lee Ver", "--role", "support", "--json"}, dbArgs...)
			if err := run(ctx, append(create, fastHashing()...), &out, &errOut, env(nil)); err != nil {
				t.Fatalf("operator create: %v (stderr %s)", err, errOut.String())
			}
			var cred map[string]string
			if err := json.Unmarshal(out.Bytes(), &cred); err != nil {
				t.Fatal(err)
			}
			app := openForTest(t, dbArgs)
			code, err := totp.GenerateCode(cred["totp_secret"], time.Now())
			if err != nil {
				t.Fatal(err)
			}
			sess, err := app.Operators.Login(ctx, operators.LoginInput{Email: cred["email"], Password: cred["one_time_password"], TOTP: code})
			if err != nil {
				t.Fatalf("sign-in before: %v", err)
			}
			deactivate := append([]string{"operator", "deactivate", "--email", "Leaver@Vendor.example.com"}, dbArgs...)
			if err := run(ctx, deactivate, &out, &errOut, env(nil)); err == nil || exitCode(err) != 2 {
				t.Fatalf("without a reason: %v", err)
			}
			out.Reset()
			if err := run(ctx, append(deactivate, "--reason", "left the company"), &out, &errOut, env(nil)); err != nil {
				t.Fatalf("deactivate: %v (stderr %s)", err, errOut.String())
			}
			if !strings.Contains(out.String(), "leaver@vendor.example.com deactivated") {
				t.Fatalf("output %q", out.String())
			}
			// The live session ends at once, and no sign-in works any more.
			if _, err := app.Operators.Authenticate(ctx, sess.Token); err == nil {
				t.Fatal("a deactivated operator's session still authenticates")
			}
			code, _ = totp.GenerateCode(cred["totp_secret"], time.Now().Add(30*time.Second))
			if _, err := app.Operators.Login(ctx, operators.LoginInput{Email: cred["email"], Password: cred["one_time_password"], TOTP: code}); err == nil {
				t.Fatal("a deactivated operator signed in")
			}
			err = run(ctx, append(deactivate, "--reason", "again"), &out, &errOut, env(nil))
			if err == nil || !strings.Contains(oneLine(err), "already deactivated") {
				t.Fatalf("second deactivation: %v", err)
			}
			err = run(ctx, append([]string{"operator", "deactivate", "--email", "nobody@vendor.example.com", "--reason", "x"}, dbArgs...), &out, &errOut, env(nil))
			if err == nil || exitCode(err) == 0 || !strings.Contains(oneLine(err), "not found") {
				t.Fatalf("unknown operator: %v", err)
			}
			evs, err := app.DB.AuditEventsAfter(ctx, audit.PlatformTrail, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Action == "operator.deactivate" {
					n++
					if e.ObjectName != cred["email"] || e.Changes["reason"].After != "left the company" || !strings.Contains(e.ActorName, "haven operator deactivate") {
						t.Errorf("operator.deactivate event %+v", e)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d operator.deactivate events", n)
			}
		})
	}
}
