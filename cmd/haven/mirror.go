package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"

	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/mirror"
)

const mirrorUsage = `Usage: haven mirror --url URL [--token TOKEN] --to sqlite:///PATH|postgres://...

Keeps a copy of a tenant's records in your own database. The first run
copies every object; later runs apply the changes made since (the change
feed). Running it again when nothing changed changes nothing; an
interrupted run resumes where it stopped.

The token (an API token of an admin or manager; read scope is enough) may come
from the HAVEN_TOKEN environment variable, which keeps it out of the
process list; --token wins when both are set. Values are mirrored as that
user sees them: fields masked for them stay masked.

`

// mirrorCmd runs "haven mirror".
func mirrorCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven mirror", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, mirrorUsage)
		fs.PrintDefaults()
	}
	serverURL := fs.String("url", "", "the Haven server, e.g. https://crm.example.com")
	token := fs.String("token", "", "API token (default: $HAVEN_TOKEN)")
	to := fs.String("to", "", "target database: sqlite:///PATH or postgres://USER@HOST/DB")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	tok := *token
	if tok == "" {
		tok = getenv("HAVEN_TOKEN")
	}
	switch {
	case *serverURL == "":
		return fmt.Errorf("%w: --url is required", errUsage)
	case tok == "":
		return fmt.Errorf("%w: --token (or HAVEN_TOKEN) is required", errUsage)
	case *to == "":
		return fmt.Errorf("%w: --to is required", errUsage)
	}
	u, err := url.Parse(*serverURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("--url must be an http(s) URL like https://crm.example.com")
	}
	logTo, level := stderr, slog.LevelInfo
	var progress mirror.Progress
	f, _ := stderr.(*os.File)
	if !*quiet && mirror.IsTerminal(f) {
		// On a terminal the bar says what the info lines would; warnings
		// still print, each on a line of its own above the bar.
		progress, logTo = mirror.NewBar(f)
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: level}))
	if !*quiet && progress == nil {
		// Not a terminal: log lines at the end of each step.
		progress = mirror.NewProgress(f, log)
	}
	src := client.New(*serverURL, client.WithToken(tok), client.WithUserAgent("haven-mirror/"+buildVersion()))
	res, err := mirror.Run(ctx, mirror.Options{Source: src, SourceURL: *serverURL, To: *to, Progress: progress, Log: log})
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	if res.FullCopy {
		fmt.Fprintf(stdout, "copied %d records, applied %d changes\n", res.Copied, res.Applied)
	} else {
		fmt.Fprintf(stdout, "applied %d changes\n", res.Applied)
	}
	return nil
}
