package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/audit/auditkey"
	"github.com/havencrm/haven/server"
	"github.com/havencrm/haven/tenant"
)

const auditUsage = "haven audit verify [--tenant SLUG] [--file EXPORTED_LOG --public-key FILE] | export --tenant SLUG [--out FILE] | keys [--rotate] | report --since DATE"

// actionAuditKeyRotated records in the platform trail that a new audit
// signing key version was made (haven audit keys --rotate).
const actionAuditKeyRotated = "keys.rotate_audit_signing_key"

// auditCmd runs the audit trail commands.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr, getenv)
	case "export":
		return auditExport(ctx, args[1:], stdout, stderr, getenv)
	case "keys":
		return auditKeys(ctx, args[1:], stdout, stderr, getenv)
	case "report":
		return auditReport(ctx, args[1:], stdout, stderr, getenv)
	}
	return fmt.Errorf("%w: %s", errUsage, auditUsage)
}

// errTrailsBroken is returned after the per-trail lines were printed when
// any trail does not verify.
var errTrailsBroken = errors.New("audit trail does not verify")

// auditVerify verifies trails: in the database (every trail, or one
// tenant's), or offline an exported file against trusted public keys,
// without opening the database, the key directory or any server.
func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("tenant", "", "verify only this tenant's trail (default: every trail, the platform's included)")
	file := fs.String("file", "", "verify this exported trail (JSON Lines) offline, without the database")
	pubFile := fs.String("public-key", "", "with --file: the trusted public keys, one \"KEY_ID BASE64\" line each (GET /api/v1/audit/keys?format=text)")
	maxGap := fs.Int64("max-gap", audit.DefaultCheckpointEvery, "with --file: the most events allowed between two checkpoints (0: do not check)")
	cfg, err := parse(fs, args, getenv, keySettings...)
	if err != nil {
		return err
	}
	if *file != "" || *pubFile != "" {
		switch {
		case *file == "" || *pubFile == "":
			return fmt.Errorf("%w: offline verification needs both --file and --public-key", errUsage)
		case *slug != "":
			return fmt.Errorf("%w: --tenant verifies the database; an exported file names its own tenant", errUsage)
		case *maxGap < 0:
			return fmt.Errorf("%w: --max-gap must not be negative", errUsage)
		}
		return verifyFile(*file, *pubFile, *maxGap, stdout)
	}
	gapSet := false
	fs.Visit(func(f *flag.Flag) { gapSet = gapSet || f.Name == "max-gap" })
	if gapSet {
		return fmt.Errorf("%w: --max-gap applies to --file; the database is verified with the server's checkpoint policy", errUsage)
	}
	app, err := server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	type trail struct {
		id   tenant.ID
		name string
	}
	var trails []trail
	if *slug != "" {
		t, err := app.DB.TenantBySlug(ctx, *slug)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", *slug, err)
		}
		trails = []trail{{t.ID, t.Slug}}
	} else {
		ids, err := app.DB.AuditTrails(ctx)
		if err != nil {
			return err
		}
		tenants, err := app.DB.Tenants(ctx)
		if err != nil {
			return err
		}
		slugs := map[tenant.ID]string{}
		for _, t := range tenants {
			slugs[t.ID] = t.Slug
		}
		for _, id := range ids {
			name := slugs[id]
			switch {
			case id == audit.PlatformTrail:
				name = "platform"
			case name == "":
				// A trail whose tenant row is gone (purged): name it by ID.
				name = "tenant " + string(id)
			}
			trails = append(trails, trail{id, name})
		}
		// The platform first, then tenants by slug, so runs compare line
		// by line.
		sort.SliceStable(trails, func(i, j int) bool {
			if (trails[i].id == audit.PlatformTrail) != (trails[j].id == audit.PlatformTrail) {
				return trails[i].id == audit.PlatformTrail
			}
			return trails[i].name < trails[j].name
		})
	}
	var broken []string
	var first error
	for _, t := range trails {
		rep, err := app.Audit.VerifyTrail(ctx, t.id)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// One unreadable trail must not hide the state of the others.
			fmt.Fprintf(stdout, "%s: not verified: %s\n", t.name, oneLine(err))
			broken = append(broken, t.name)
			if first == nil {
				first = fmt.Errorf("%s: %w", t.name, err)
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", t.name, rep)
		if !rep.OK {
			broken = append(broken, t.name)
			if first == nil {
				first = fmt.Errorf("%w: %s is broken at event %d: %s", errTrailsBroken, t.name, rep.Problem.Seq, rep.Problem.Reason)
			}
		}
	}
	switch {
	case len(broken) == 1:
		return first
	case len(broken) > 1:
		return fmt.Errorf("%d audit trails fail verification; first: %w", len(broken), first)
	}
	return nil
}

// verifyFile verifies an exported trail against the keys in pubFile.
func verifyFile(file, pubFile string, maxGap int64, stdout io.Writer) error {
	kf, err := os.Open(pubFile)
	if err != nil {
		return fmt.Errorf("public key file: %w", err)
	}
	keys, err := audit.ParsePublicKeys(kf)
	kf.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", pubFile, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := audit.VerifyJSONL(bufio.NewReaderSize(f, 1<<20), keys, audit.VerifyOptions{MaxGap: maxGap})
	if err != nil {
		// Not a readable export at all (not JSON, an unknown line): that
		// too means the file cannot be trusted.
		return fmt.Errorf("%w: %s: %v", errTrailsBroken, file, err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", file, rep)
	if !rep.OK {
		return fmt.Errorf("%w: %s is broken at event %d: %s", errTrailsBroken, file, rep.Problem.Seq, rep.Problem.Reason)
	}
	return nil
}

// auditExport writes a tenant's trail as JSON Lines to --out or stdout.
// The export is recorded first, in the tenant's trail (so the customer
// sees the vendor took a copy, and the copy holds that event) and in the
// platform's.
func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("tenant", "", "slug of the tenant whose trail to export")
	out := fs.String("out", "", "write the export to this file (mode 0600; default: standard output)")
	app, t, err := openTenantApp(ctx, fs, args, stderr, getenv, slug)
	if err != nil {
		return err
	}
	defer app.Close()
	who := keysOperator()
	at := keysNow()
	actor := tenant.System(t.ID, "")
	actor.Name = "system (haven audit export, " + who + ")"
	ev := audit.New(actor, at, audit.ActionAuditExported, "audit", string(t.ID), "")
	ev.Changes = map[string]audit.Change{"format": {After: audit.ExportFormat}}
	if err := app.DB.WriteTx(ctx, t.ID, func(ctx context.Context) error { return app.DB.AppendAudit(ctx, ev) }); err != nil {
		return fmt.Errorf("record the export: %w", err)
	}
	// Sign the trail up to that event, so that every event in the file is
	// covered by a signature, not only those up to the last periodic
	// checkpoint.
	if _, err := app.DB.CheckpointAuditHead(ctx, t.ID, app.AuditKeys.Sign); err != nil {
		return fmt.Errorf("sign the trail before the export: %w", err)
	}
	if app.Platform != nil {
		pe := app.Platform.Event(audit.SystemActor("haven audit export", who), audit.ActionAuditExported, "tenant", string(t.ID), t.Slug)
		if err := app.Platform.Append(ctx, pe); err != nil {
			return fmt.Errorf("record the export in the platform audit trail: %w", err)
		}
	}
	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		w = f
	}
	err = audit.Export(ctx, app.DB, t.ID, app.AuditKeys.PublicKeys(), actor.Name, at, w)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// A partial file would fail verification anyway; leave none.
			os.Remove(*out)
		}
	}
	if err != nil {
		return fmt.Errorf("export the trail of %s: %w", t.Slug, err)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "exported the audit trail of %s to %s\n", t.Slug, *out)
	}
	return nil
}

// auditKeys prints the audit signing public keys in the key file format
// (the one --public-key reads). Listing reads only the key directory;
// --rotate opens the database too, so the new version is recorded in the
// platform trail. A running server signs with the version it loaded until
// it restarts.
func auditKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven audit keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rotate := fs.Bool("rotate", false, "make a new signing key version (older versions keep verifying what they signed)")
	cfg, err := parse(fs, args, getenv, keySettings...)
	if err != nil {
		return err
	}
	if !*rotate {
		dir := cfg.KeyDirPath()
		// Opening an empty directory would create a key; a listing must
		// not invent one, e.g. when pointed at the wrong directory.
		if found, _ := filepath.Glob(filepath.Join(dir, "audit-signing-v*.key")); len(found) == 0 {
			return fmt.Errorf("no audit signing key in %s (the server creates one on its first start)", dir)
		}
		keys, err := auditkey.Open(dir)
		if err != nil {
			return err
		}
		defer keys.Close()
		return audit.FormatPublicKeys(stdout, keys.PublicKeys())
	}
	app, err := server.OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	before := app.AuditKeys.KeyID()
	id, err := app.AuditKeys.Rotate()
	if err != nil {
		return fmt.Errorf("rotate the audit signing key: %w", err)
	}
	fmt.Fprintf(stderr, "new audit signing key %s; restart running servers to sign with it and publish it\n", id)
	if app.Platform != nil {
		actor := audit.SystemActor("haven audit keys --rotate", keysOperator())
		if err := app.Platform.KeyOperation(ctx, actor, actionAuditKeyRotated, "", "", map[string]audit.Change{"key_id": {Before: before, After: id}}); err != nil {
			return fmt.Errorf("rotated, but recording it in the platform audit trail failed: %w", err)
		}
	}
	return audit.FormatPublicKeys(stdout, app.AuditKeys.PublicKeys())
}
