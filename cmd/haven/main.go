// Command haven is the Haven CRM server and its administration commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/demo"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `Haven — a multi-tenant CRM whose data stays the customer's.

Usage:
  haven serve [--addr 127.0.0.1:8080] [--data ./haven-data] [--database-url URL] [--config FILE] [--demo]
  haven migrate [--data DIR] [--database-url URL]
  haven tenant create --slug SLUG --name NAME --admin-email EMAIL [--admin-phone PHONE] [--contract-end YYYY-MM-DD] [--json]
  haven operator create --email EMAIL --name NAME --role support|sre|security [--json]
  haven keys rotate-kek [--data DIR] [--key-dir DIR] [--database-url URL]
  haven keys rewrap [--data DIR] [--key-dir DIR] [--database-url URL]
  haven keys status [--tenant SLUG] [--json]
  haven keys rotate-dek --tenant SLUG
  haven keys destroy --tenant SLUG --confirm SLUG --reason TEXT
  haven keys byok enable --tenant SLUG --provider pkcs11 --token LABEL --key LABEL
  haven keys byok disable --tenant SLUG
  haven audit verify [--tenant SLUG] [--file EXPORTED_LOG --public-key FILE]
  haven audit export --tenant SLUG [--out FILE]
  haven audit keys [--rotate]
  haven audit report --since YYYY-MM-DD [--until YYYY-MM-DD] [--json]
  haven mirror --url URL --token TOKEN --to sqlite:///PATH|postgres://...
  haven version

Run "haven COMMAND -h" for the options of a command. Every option can also
be set in a JSON file (--config) or as a HAVEN_* environment variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "haven: "+oneLine(err))
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

// oneLine renders err as one line; apperr details (per-field messages) are
// appended so a failed command says exactly what to fix.
func oneLine(err error) string {
	msg := err.Error()
	if e, ok := apperr.As(err); ok && e.Kind != apperr.KindInternal {
		msg = e.Message
		if fields, ok := e.Details["fields"].(map[string]string); ok {
			var parts []string
			for k, v := range fields {
				parts = append(parts, k+": "+v)
			}
			msg += " (" + strings.Join(parts, "; ") + ")"
		}
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr, getenv)
	case "tenant":
		if len(args) < 2 || args[1] != "create" {
			return fmt.Errorf("%w: haven tenant create --slug SLUG --name NAME --admin-email EMAIL", errUsage)
		}
		return tenantCreate(ctx, args[2:], stdout, stderr, getenv)
	case "operator":
		return operatorCmd(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return keys(ctx, args[1:], stdout, stderr, getenv)
	case "audit":
		// verify, export and keys (audit.go); "report" summarizes the
		// platform trail (report.go).
		return auditCmd(ctx, args[1:], stdout, stderr, getenv)
	case "mirror":
		return mirrorCmd(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "haven "+buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parse(fs *flag.FlagSet, args []string, getenv func(string) string, keys ...string) (config.Config, error) {
	loader := config.NewLoader(fs, getenv, keys...)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return loader.Load()
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demoFlag := fs.Bool("demo", false, "create (once) a demo tenant with sample data and print its admin login")
	cfg, err := parse(fs, args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	app, err := server.OpenApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := app.Close(); err != nil {
			log.Error("close database", "err", err)
		}
	}()
	srv, err := app.Listen()
	if err != nil {
		return err
	}
	if *demoFlag {
		if err := seedDemo(ctx, app, srv.URL(), stdout); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	where := "SQLite at " + cfg.SQLitePath()
	if cfg.DatabaseURL != "" {
		where = "PostgreSQL"
	}
	log.Info("haven listening", "url", srv.URL(), "database", where, "version", buildVersion())
	return srv.Serve(ctx)
}

func seedDemo(ctx context.Context, app *server.App, url string, stdout io.Writer) error {
	res, err := demo.Seed(ctx, demo.Deps{Tx: app.DB, Tenants: app.DB, Provisioner: app.Provisioner, Users: app.Identity, Records: app.Records})
	if err != nil {
		return err
	}
	if !res.Created {
		fmt.Fprintf(stdout, "\nDemo tenant %q already exists; sign in at %s/login as %s with the password you set.\n\n", demo.Slug, url, res.AdminLogin)
		return nil
	}
	fmt.Fprintf(stdout, `
Demo tenant created with %d sample records.
  Sign in at:         %s/login
  Tenant:             %s
  Login:              %s
  One-time password:  %s
The password is shown only now and must be changed at first sign-in.

`, res.Records, url, demo.Slug, res.AdminLogin, res.OneTimePassword)
	// The demo is seeded in one transaction of its own, so its creation
	// reaches the platform trail only now, after the commit.
	t, err := app.DB.TenantBySlug(ctx, demo.Slug)
	if err != nil {
		return err
	}
	return app.Provisioner.RecordCreated(ctx, audit.SystemActor("haven serve --demo", keysOperator()), t)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := parse(fs, args, getenv, "data", "database-url", "db-app-role", "log-level", "log-format")
	if err != nil {
		return err
	}
	app, err := server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	fmt.Fprintln(stdout, "database is up to date ("+app.DB.Dialect()+")")
	return nil
}

func tenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven tenant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("slug", "", "tenant slug used at login (lower-case letters, digits, hyphens)")
	name := fs.String("name", "", "the customer's name")
	adminEmail := fs.String("admin-email", "", "e-mail of the first admin")
	adminPhone := fs.String("admin-phone", "", "mobile phone of the first admin")
	adminName := fs.String("admin-name", "", "name of the first admin (default Administrator)")
	contractEnd := fs.String("contract-end", "", "contract end date YYYY-MM-DD (default: open-ended)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	cfg, err := parse(fs, args, getenv, "data", "database-url", "db-app-role", "argon2-memory-kib", "argon2-iterations", "argon2-parallelism", "log-level", "log-format")
	if err != nil {
		return err
	}
	if *slug == "" || *name == "" || (*adminEmail == "" && *adminPhone == "") {
		return fmt.Errorf("%w: --slug, --name and --admin-email (or --admin-phone) are required", errUsage)
	}
	in := provision.Input{Slug: *slug, Name: *name, AdminEmail: *adminEmail, AdminPhone: *adminPhone, AdminName: *adminName,
		By: audit.SystemActor("haven tenant create", keysOperator())}
	if *contractEnd != "" {
		d, err := time.Parse(time.DateOnly, *contractEnd)
		if err != nil {
			return fmt.Errorf("%w: --contract-end must be a date like 2027-12-31", errUsage)
		}
		// The contract runs through the whole end day.
		end := d.Add(24*time.Hour - time.Microsecond)
		in.ContractEnd = &end
	}
	app, err := server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	res, err := app.Provisioner.CreateTenant(ctx, in)
	if err != nil && !errors.Is(err, provision.ErrPlatformAudit) {
		return err
	}
	// The tenant exists even when recording it in the platform trail
	// failed: print its one-time password (shown nowhere else), then fail.
	login := res.Admin.Login()
	if *asJSON {
		if perr := json.NewEncoder(stdout).Encode(map[string]string{"tenant": res.Tenant.Slug, "admin_login": login, "one_time_password": res.OneTimePassword}); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprintf(stdout, "Tenant %q created.\n  Admin login:        %s\n  One-time password:  %s\nThe password is shown only now and must be changed at first sign-in.\n",
		res.Tenant.Slug, login, res.OneTimePassword)
	return err
}
