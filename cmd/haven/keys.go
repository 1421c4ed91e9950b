package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/havencrm/haven/jobs"
	"io"
	"os"
	"os/user"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/server"
	"github.com/havencrm/haven/tenant"
)

const keysUsage = "haven keys rotate-kek|rewrap|rotate-dek|destroy|status|byok enable|byok disable"

// keySettings are the settings the keys commands take as flags (the
// PKCS#11 PIN only from HAVEN_PKCS11_PIN or the PIN file).
var keySettings = []string{"data", "key-dir", "database-url", "db-app-role", "log-level", "log-format",
	"kek-provider", "pkcs11-module", "pkcs11-token", "pkcs11-key-label", "pkcs11-pin-file", "pkcs11-tenant-pin-dir"}

// keys runs the key-management commands. Each one that changes where a
// tenant's data keys are wrapped records it in that tenant's audit trail,
// in the same transaction as the change.
func keys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, keysUsage)
	}
	switch args[0] {
	case "rotate-kek", "rewrap":
		return keysRewrap(ctx, args[0], args[1:], stdout, stderr, getenv)
	case "status":
		return keysStatus(ctx, args[1:], stdout, stderr, getenv)
	case "rotate-dek":
		return keysRotateDEK(ctx, args[1:], stdout, stderr, getenv)
	case "destroy":
		return keysDestroy(ctx, args[1:], stdout, stderr, getenv)
	case "byok":
		if len(args) >= 2 && (args[1] == "enable" || args[1] == "disable") {
			return keysBYOK(ctx, args[1], args[2:], stdout, stderr, getenv)
		}
		return fmt.Errorf("%w: haven keys byok enable|disable --tenant SLUG", errUsage)
	}
	return fmt.Errorf("%w: %s", errUsage, keysUsage)
}

// openKeysApp parses the flags, lets check validate the command's own,
// then opens the app.
func openKeysApp(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer, getenv func(string) string, check func() error) (*server.App, error) {
	cfg, err := parse(fs, args, getenv, keySettings...)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
}

// openTenantApp opens the app for a command that works on the tenant
// named by --tenant (required), and finds that tenant. The caller closes
// the app.
func openTenantApp(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer, getenv func(string) string, slug *string) (*server.App, tenant.Tenant, error) {
	app, err := openKeysApp(ctx, fs, args, stderr, getenv, func() error {
		if *slug == "" {
			return fmt.Errorf("%w: --tenant is required", errUsage)
		}
		return nil
	})
	if err != nil {
		return nil, tenant.Tenant{}, err
	}
	t, err := app.DB.TenantBySlug(ctx, *slug)
	if err != nil {
		app.Close()
		return nil, tenant.Tenant{}, fmt.Errorf("tenant %s: %w", *slug, err)
	}
	return app, t, nil
}

// keysRewrap rotates the platform key-encryption key (a new key file, or
// a new key generated in the HSM; old versions stay readable) and
// rewraps every tenant's data keys under the KEK they belong under: the
// newest platform version, or the tenant's own key. Afterwards the old
// version can be taken offline.
func keysRewrap(ctx context.Context, verb string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven keys "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	app, err := openKeysApp(ctx, fs, args, stderr, getenv, nil)
	if err != nil {
		return err
	}
	defer app.Close()
	if verb == "rotate-kek" {
		before := app.KEK.KeyID()
		id, err := app.KEK.Rotate()
		if err != nil {
			return fmt.Errorf("rotate the key-encryption key: %w", err)
		}
		fmt.Fprintf(stdout, "new key-encryption key %s in %s\n", id, app.KEK.Where())
		if err := recordKeyOp(ctx, app, verb, audit.ActionKEKVersionCreated, tenant.Tenant{}, map[string]audit.Change{"kek": {Before: before, After: id}}); err != nil {
			return err
		}
	}
	tenants, err := app.DB.Tenants(ctx)
	if err != nil {
		return err
	}
	total := 0
	var failed []string
	var first error
	for _, t := range tenants {
		n, changes, err := rewrapTenant(ctx, app, t.ID)
		total += n
		if err == nil && n > 0 {
			err = recordKeyOp(ctx, app, verb, audit.ActionKEKRotated, t, changes)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// One tenant whose own key is withdrawn must not keep the
			// platform KEK rotation from finishing for the others.
			failed = append(failed, t.Slug)
			if first == nil {
				first = fmt.Errorf("tenant %s: %w", t.Slug, withCause(err))
			}
		}
	}
	fmt.Fprintf(stdout, "rewrapped %d tenant data key(s) under %s\n", total, app.KEK.KeyID())
	if len(failed) > 0 {
		return fmt.Errorf("data keys of %d tenant(s) not rewrapped (%s); first: %w", len(failed), strings.Join(failed, ", "), first)
	}
	return nil
}

// rewrapTenant moves one tenant's data keys and records it; it returns
// the changes it recorded.
func rewrapTenant(ctx context.Context, app *server.App, tid tenant.ID) (int, map[string]audit.Change, error) {
	var n int
	var changes map[string]audit.Change
	err := app.DB.WriteTx(ctx, tid, func(ctx context.Context) error {
		st, err := app.Keyring.Status(ctx, tid)
		if err != nil {
			return err
		}
		var before []string
		for _, k := range st.Keys {
			if k.State != keyring.StateDestroyed && k.KEKID != st.WrapKEKID && !slices.Contains(before, k.KEKID) {
				before = append(before, k.KEKID)
			}
		}
		if n, err = app.Keyring.RewrapTenant(ctx, tid); err != nil || n == 0 {
			return err
		}
		ev := audit.New(keysActor(tid), keysNow(), audit.ActionKEKRotated, "keys", string(tid), st.WrapKEKID)
		ev.Changes = map[string]audit.Change{"kek": {Before: strings.Join(before, ", "), After: st.WrapKEKID}, "data_keys": {After: n}}
		changes = ev.Changes
		return app.DB.AppendAudit(ctx, ev)
	})
	if err != nil {
		n = 0 // rolled back
	}
	return n, changes, err
}

// keysBYOK moves a tenant's data keys to its own key-encryption key
// (enable) or back to the platform's (disable).
func keysBYOK(ctx context.Context, verb string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven keys byok "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("tenant", "", "slug of the tenant")
	var provider, token, key *string
	if verb == "enable" {
		provider = fs.String("provider", "pkcs11", "where the tenant's key lives: pkcs11")
		token = fs.String("token", "", "label of the tenant's PKCS#11 token (its PIN in <pkcs11-tenant-pin-dir>/<label>.pin)")
		key = fs.String("key", "", "label of the tenant's AES-256 key in that token")
	}
	var choice keyring.TenantKEK
	app, err := openKeysApp(ctx, fs, args, stderr, getenv, func() error {
		if *slug == "" {
			return fmt.Errorf("%w: --tenant is required", errUsage)
		}
		if verb != "enable" {
			return nil
		}
		if *provider != "pkcs11" {
			return fmt.Errorf("%w: --provider must be pkcs11", errUsage)
		}
		if *token == "" || *key == "" {
			return fmt.Errorf("%w: --token and --key are required", errUsage)
		}
		choice = keyring.TenantKEK{Provider: *provider, KeyRef: *token + "/" + *key, CreatedBy: keysOperator()}
		return nil
	})
	if err != nil {
		return err
	}
	defer app.Close()
	t, err := app.DB.TenantBySlug(ctx, *slug)
	if err != nil {
		return err
	}
	var ch keyring.KEKChange
	var recorded audit.Event
	err = app.DB.WriteTx(ctx, t.ID, func(ctx context.Context) error {
		action := audit.ActionBYOKDisabled
		var err error
		if verb == "enable" {
			action = audit.ActionBYOKEnabled
			ch, err = app.Keyring.EnableTenantKEK(ctx, t.ID, choice)
		} else {
			ch, err = app.Keyring.DisableTenantKEK(ctx, t.ID)
		}
		if err != nil || !ch.Changed {
			return err
		}
		ev := audit.New(keysActor(t.ID), keysNow(), action, "keys", string(t.ID), ch.To)
		ev.Changes = map[string]audit.Change{"kek": {Before: ch.From, After: ch.To}, "data_keys": {After: ch.Rewrapped}}
		recorded = ev
		return app.DB.AppendAudit(ctx, ev)
	})
	if err != nil {
		return fmt.Errorf("tenant %s: %w", t.Slug, withCause(err))
	}
	if ch.Changed {
		if err := recordKeyOp(ctx, app, "byok "+verb, recorded.Action, t, recorded.Changes); err != nil {
			return err
		}
	}
	to := ch.To
	if to == keyring.PlatformKEK {
		to = "the platform key-encryption key " + app.KEK.KeyID()
	}
	if !ch.Changed {
		fmt.Fprintf(stdout, "tenant %s: data keys already wrapped by %s; nothing to do\n", t.Slug, to)
		return nil
	}
	fmt.Fprintf(stdout, "tenant %s: data keys now wrapped by %s (%d rewrapped)\n", t.Slug, to, ch.Rewrapped)
	return nil
}

// keyTermJSON is one data key term in "keys status --json": no key
// material, wrapped or not.
type keyTermJSON struct {
	Term        uint32     `json:"term"`
	State       string     `json:"state"`
	KEKID       string     `json:"kek_id"`
	CreatedAt   time.Time  `json:"created_at"`
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
	DestroyedAt *time.Time `json:"destroyed_at,omitempty"`
}

type keyStatusJSON struct {
	Tenant   string        `json:"tenant"`
	TenantID string        `json:"tenant_id"`
	KEK      string        `json:"kek"`
	OwnKey   bool          `json:"own_key"`
	OwnKeyBy string        `json:"own_key_by,omitempty"`
	OwnKeyAt *time.Time    `json:"own_key_since,omitempty"`
	Terms    []keyTermJSON `json:"terms"`
}

// keysStatus lists tenants' data key terms, their states and the KEK
// each is wrapped under.
func keysStatus(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven keys status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("tenant", "", "only this tenant (slug)")
	asJSON := fs.Bool("json", false, "print a JSON array")
	app, err := openKeysApp(ctx, fs, args, stderr, getenv, nil)
	if err != nil {
		return err
	}
	defer app.Close()
	var tenants []tenant.Tenant
	if *slug != "" {
		t, err := app.DB.TenantBySlug(ctx, *slug)
		if err != nil {
			return err
		}
		tenants = []tenant.Tenant{t}
	} else if tenants, err = app.DB.Tenants(ctx); err != nil {
		return err
	}
	sort.Slice(tenants, func(i, j int) bool { return tenants[i].Slug < tenants[j].Slug })
	out := make([]keyStatusJSON, 0, len(tenants))
	for _, t := range tenants {
		st, err := app.Keyring.Status(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", t.Slug, err)
		}
		s := keyStatusJSON{Tenant: t.Slug, TenantID: string(t.ID), KEK: st.WrapKEKID, OwnKey: st.Own, Terms: []keyTermJSON{}}
		if st.Own {
			at := st.KEK.CreatedAt
			s.OwnKeyBy, s.OwnKeyAt = st.KEK.CreatedBy, &at
		}
		for _, k := range st.Keys {
			s.Terms = append(s.Terms, keyTermJSON{Term: k.Term, State: string(k.State), KEKID: k.KEKID, CreatedAt: k.CreatedAt,
				RetiredAt: k.RetiredAt, DestroyedAt: k.DestroyedAt})
		}
		out = append(out, s)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, s := range out {
		if s.OwnKey {
			fmt.Fprintf(stdout, "%s: own key %s (since %s, by %s)\n", s.Tenant, s.KEK, s.OwnKeyAt.Format(time.RFC3339), s.OwnKeyBy)
		} else {
			fmt.Fprintf(stdout, "%s: platform key %s\n", s.Tenant, s.KEK)
		}
		if len(s.Terms) == 0 {
			fmt.Fprintln(stdout, "  no data keys yet")
		}
		for _, k := range s.Terms {
			fmt.Fprintf(stdout, "  term %-4d %-9s %-40s created %s\n", k.Term, k.State, k.KEKID, k.CreatedAt.Format(time.RFC3339))
		}
	}
	return nil
}

// keysActor is the audit actor of the keys commands: the system, naming
// the operating-system account that ran the command.
func keysActor(tid tenant.ID) tenant.Actor {
	a := tenant.System(tid, "")
	a.Name = "system (haven keys, " + keysOperator() + ")"
	return a
}

// keysOperator names who ran the command, as far as the host knows.
func keysOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli user " + u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return "cli user " + u
	}
	return "cli"
}

func keysNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// recordKeyOp adds a key operation to the platform's audit trail, beside
// the event the tenant's own trail got in the operation's transaction
// (a transaction serves one trail, so this one follows the commit). A
// zero tenant names the platform's own keys.
func recordKeyOp(ctx context.Context, app *server.App, verb, action string, t tenant.Tenant, changes map[string]audit.Change) error {
	actor := audit.SystemActor("haven keys "+verb, keysOperator())
	if err := app.Platform.KeyOperation(ctx, actor, action, t.ID, t.Slug, changes); err != nil {
		what := "the platform's keys"
		if t.ID != "" {
			what = "tenant " + t.Slug
		}
		return fmt.Errorf("%s: done, but recording it in the platform audit trail failed: %w", what, err)
	}
	return nil
}

// withCause adds to an apperr the cause it keeps out of client messages
// (which key, which PIN file, what the HSM said): the operator running
// the command needs it. Causes never hold key material or PINs.
func withCause(err error) error {
	e, ok := apperr.As(err)
	if !ok || e.Kind == apperr.KindInternal {
		return err
	}
	cause := errors.Unwrap(e)
	if cause == nil {
		return err
	}
	return errors.New(e.Message + ": " + cause.Error())
}

// keysRotateDEK gives a tenant a new data-key term and re-encrypts every
// value and attachment key under older terms, here and now (a running
// server's worker may take over part of the job; leases keep it single).
func keysRotateDEK(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven keys rotate-dek", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("tenant", "", "slug of the tenant")
	app, t, err := openTenantApp(ctx, fs, args, stderr, getenv, slug)
	if err != nil {
		return err
	}
	defer app.Close()
	term, job, err := app.KeyOps.RotateDataKey(ctx, keysActor(t.ID))
	if err != nil {
		return fmt.Errorf("tenant %s: %w", t.Slug, withCause(err))
	}
	if err := recordKeyOp(ctx, app, "rotate-dek", audit.ActionDataKeyRotated, t,
		map[string]audit.Change{"term": {Before: term - 1, After: term}, "job_id": {After: job.ID}}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s: data key term %d is current; re-encrypting older values (job %s)\n", t.Slug, term, job.ID)
	for {
		ran, err := app.Worker.RunOnce(ctx)
		if err != nil {
			return err
		}
		j, err := app.Jobs.Get(ctx, t.ID, job.ID)
		if err != nil {
			return err
		}
		if j.State.Finished() {
			if j.State == jobs.Failed {
				return fmt.Errorf("tenant %s: re-encryption failed: %s", t.Slug, j.Error)
			}
			fmt.Fprintf(stdout, "tenant %s: re-encrypted %d records\n", t.Slug, j.Done)
			return nil
		}
		if !ran {
			// Another instance holds the job (or it waits out a back-off):
			// it finishes there.
			fmt.Fprintf(stdout, "tenant %s: the job is running elsewhere (%d%%); a running server finishes it\n", t.Slug, j.Percent())
			return nil
		}
	}
}

// keysDestroy crypto-shreds a tenant: every data key is erased, so its
// encrypted values and attachments can never be read again. The contract
// lifecycle calls the same operation; this is the operator's manual path,
// guarded by typing the slug twice.
func keysDestroy(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven keys destroy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("tenant", "", "slug of the tenant")
	confirm := fs.String("confirm", "", "the slug again: destruction cannot be undone")
	reason := fs.String("reason", "", "why (recorded in the tenant's audit trail)")
	app, err := openKeysApp(ctx, fs, args, stderr, getenv, func() error {
		switch {
		case *slug == "":
			return fmt.Errorf("%w: --tenant is required", errUsage)
		case *confirm != *slug:
			return fmt.Errorf("%w: --confirm must repeat the tenant slug; destroying keys cannot be undone", errUsage)
		case strings.TrimSpace(*reason) == "":
			return fmt.Errorf("%w: --reason is required", errUsage)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer app.Close()
	t, err := app.DB.TenantBySlug(ctx, *slug)
	if err != nil {
		return err
	}
	n, err := app.KeyOps.DestroyTenantKeys(ctx, keysActor(t.ID), *reason)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", t.Slug, withCause(err))
	}
	if err := recordKeyOp(ctx, app, "destroy", audit.ActionDataKeysDestroyed, t,
		map[string]audit.Change{"data_keys": {After: n}, "reason": {After: *reason}}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s: %d data keys destroyed; its encrypted values are unrecoverable\n", t.Slug, n)
	return nil
}
