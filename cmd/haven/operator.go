package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/server"
)

// operatorCmd runs the operator-realm commands.
func operatorCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "haven operator create --email EMAIL --name NAME --role support|sre|security [--json]\n" +
		"       haven operator deactivate --email EMAIL --reason TEXT"
	if len(args) < 1 {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	switch args[0] {
	case "create":
		return operatorCreate(ctx, args[1:], stdout, stderr, getenv)
	case "deactivate":
		return operatorDeactivate(ctx, args[1:], stdout, stderr, getenv)
	}
	return fmt.Errorf("%w: %s", errUsage, usage)
}

// operatorDeactivate removes an operator: sessions end at once and
// sign-in is refused, so grants they hold reach nothing.
func operatorDeactivate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven operator deactivate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the operator's e-mail")
	reason := fs.String("reason", "", "why, recorded in the platform audit trail")
	cfg, err := parse(fs, args, getenv, keySettings...)
	if err != nil {
		return err
	}
	if *email == "" || strings.TrimSpace(*reason) == "" {
		return fmt.Errorf("%w: --email and --reason are required", errUsage)
	}
	app, err := server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	o, err := app.Operators.Deactivate(ctx, *email, *reason, audit.SystemActor("haven operator deactivate", keysOperator()))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Operator %s deactivated: their sessions ended and they can no longer sign in.\n", o.Email)
	return nil
}

// operatorCreate makes an operator and prints the one-time password and
// the TOTP secret: shown only now, stored only as a hash and sealed.
func operatorCreate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven operator create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the operator's e-mail, their sign-in name")
	name := fs.String("name", "", "the operator's full name")
	role := fs.String("role", "", "support, sre or security")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	// The TOTP secret is sealed under the platform KEK, so the command
	// takes the key settings as well as the hashing ones.
	settings := append([]string{"argon2-memory-kib", "argon2-iterations", "argon2-parallelism"}, keySettings...)
	cfg, err := parse(fs, args, getenv, settings...)
	if err != nil {
		return err
	}
	if *email == "" || *name == "" || *role == "" {
		return fmt.Errorf("%w: --email, --name and --role are required", errUsage)
	}
	if !operators.Role(*role).Valid() {
		return fmt.Errorf("%w: --role must be support, sre or security", errUsage)
	}
	app, err := server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	return createOperator(ctx, app, operators.CreateInput{Email: *email, Name: *name, Role: operators.Role(*role)}, *asJSON, stdout)
}

// createOperator is the command's work on an open application.
func createOperator(ctx context.Context, app *server.App, in operators.CreateInput, asJSON bool, stdout io.Writer) error {
	res, err := app.Operators.Create(ctx, in, audit.SystemActor("haven operator create", keysOperator()))
	if err != nil && !errors.Is(err, operators.ErrPlatformAudit) {
		return err
	}
	// The operator exists even when recording it in the platform trail
	// failed: print the credentials (shown nowhere else), then fail.
	if asJSON {
		if perr := json.NewEncoder(stdout).Encode(map[string]string{"email": res.Operator.Email,
			"one_time_password": res.OneTimePassword, "totp_secret": res.TOTPSecret}); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprintf(stdout, "Operator %s (%s) created.\n  One-time password:  %s\n  TOTP secret:        %s\n  Authenticator URL:  %s\n"+
		"Both are shown only now. Add the secret to an authenticator app (RFC 6238, 30 s, 6 digits), then sign in\n"+
		"at /ops with the e-mail, the one-time password and a code; the password must be changed at first sign-in.\n",
		res.Operator.Email, res.Operator.Role, res.OneTimePassword, res.TOTPSecret, res.TOTPURL)
	return err
}
