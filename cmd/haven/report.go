package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/server"
)

// errTrailBroken is returned after a report whose trail does not verify
// has been printed, so that a scheduled review fails loudly.
var errTrailBroken = errors.New("the platform audit trail does not verify")

// reportCount is one line of a per-action or per-actor tally.
type reportCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// reportEvent is one listed event of the report.
type reportEvent struct {
	Seq        int64                   `json:"seq"`
	At         time.Time               `json:"at"`
	Actor      string                  `json:"actor"`
	Action     string                  `json:"action"`
	ObjectType string                  `json:"object_type"`
	ObjectID   string                  `json:"object_id"`
	ObjectName string                  `json:"object_name"`
	Changes    map[string]audit.Change `json:"changes,omitempty"`
}

// platformReport is what "haven audit report" prints: operator activity
// in the platform trail over a period, for the periodic internal review.
type platformReport struct {
	Since           time.Time     `json:"since"`
	Until           time.Time     `json:"until"`
	Events          int           `json:"events"`
	Actions         []reportCount `json:"actions"`
	Actors          []reportCount `json:"actors"`
	TenantCreations []reportEvent `json:"tenant_creations"`
	KeyOperations   []reportEvent `json:"key_operations"`
	// Access lists access requests, their decisions and their use.
	Access       []reportEvent `json:"access"`
	Verification audit.Report  `json:"verification"`
}

// auditReport runs "haven audit report": a summary of the platform
// trail between --since and --until, with the trail's verification.
func auditReport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("haven audit report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.String("since", "", "first day of the period, YYYY-MM-DD (UTC), or an RFC 3339 time")
	until := fs.String("until", "", "last day of the period, YYYY-MM-DD (UTC, included), or an RFC 3339 time (excluded); default now")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	var from, to time.Time
	app, err := openKeysApp(ctx, fs, args, stderr, getenv, func() error {
		if *since == "" {
			return fmt.Errorf("%w: haven audit report --since YYYY-MM-DD [--until YYYY-MM-DD] [--json]", errUsage)
		}
		var err error
		if from, err = reportTime(*since, false); err != nil {
			return fmt.Errorf("%w: --since: %v", errUsage, err)
		}
		to = time.Now().UTC()
		if *until != "" {
			if to, err = reportTime(*until, true); err != nil {
				return fmt.Errorf("%w: --until: %v", errUsage, err)
			}
		}
		if !to.After(from) {
			return fmt.Errorf("%w: --until must be after --since", errUsage)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer app.Close()
	rep, err := buildPlatformReport(ctx, app, from, to)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printPlatformReport(stdout, rep)
	}
	if !rep.Verification.OK {
		return errTrailBroken
	}
	return nil
}

// reportTime reads a date (the start of that day in UTC, or with end the
// start of the next, so the day is included) or an RFC 3339 time.
func reportTime(s string, end bool) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date like 2026-01-31 nor a time like 2026-01-31T09:00:00Z", s)
	}
	return t.UTC(), nil
}

// reportPage is how many events one query of the report reads.
const reportPage = 1000

// buildPlatformReport reads the platform trail's events in [from, to)
// and verifies the whole trail.
func buildPlatformReport(ctx context.Context, app *server.App, from, to time.Time) (platformReport, error) {
	rep := platformReport{Since: from, Until: to, Actions: []reportCount{}, Actors: []reportCount{},
		TenantCreations: []reportEvent{}, KeyOperations: []reportEvent{}, Access: []reportEvent{}}
	var events []audit.Event
	f := audit.Filter{From: from, To: to, Limit: reportPage}
	for {
		page, err := app.DB.QueryAudit(ctx, audit.PlatformTrail, f)
		if err != nil {
			return rep, err
		}
		events = append(events, page...)
		if len(page) < reportPage {
			break
		}
		f.BeforeSeq = page[len(page)-1].Seq
	}
	// QueryAudit answers newest first; the review reads oldest first.
	sort.Slice(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	actions, actors := map[string]int{}, map[string]int{}
	for _, e := range events {
		actions[e.Action]++
		actors[reportActor(e)]++
		item := reportEvent{Seq: e.Seq, At: e.At, Actor: reportActor(e), Action: e.Action, ObjectType: e.ObjectType,
			ObjectID: e.ObjectID, ObjectName: e.ObjectName, Changes: e.Changes}
		switch {
		case e.Action == audit.ActionTenantCreated:
			rep.TenantCreations = append(rep.TenantCreations, item)
		case strings.HasPrefix(e.Action, "keys."):
			rep.KeyOperations = append(rep.KeyOperations, item)
		case strings.HasPrefix(e.Action, "access."):
			rep.Access = append(rep.Access, item)
		}
	}
	rep.Events = len(events)
	rep.Actions, rep.Actors = tally(actions), tally(actors)
	v, err := app.Audit.VerifyTrail(ctx, audit.PlatformTrail)
	if err != nil {
		return rep, fmt.Errorf("verify the platform trail: %w", err)
	}
	rep.Verification = v
	return rep, nil
}

// reportActor names an event's actor for the tally: its name and, when
// it has one, its ID (two operators may share a name, never an ID).
func reportActor(e audit.Event) string {
	name := e.ActorName
	if name == "" {
		name = e.ActorType
	}
	if e.ActorID != "" {
		name += " [" + e.ActorID + "]"
	}
	return name
}

// tally sorts counts, largest first, then by name.
func tally(m map[string]int) []reportCount {
	out := make([]reportCount, 0, len(m))
	for k, n := range m {
		out = append(out, reportCount{Name: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func printPlatformReport(w io.Writer, r platformReport) {
	fmt.Fprintf(w, "Platform audit report %s to %s (UTC)\n", r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339))
	fmt.Fprintf(w, "Trail verification: %s\n", r.Verification)
	fmt.Fprintf(w, "Events in the period: %d\n", r.Events)
	counts := func(title string, cs []reportCount) {
		fmt.Fprintf(w, "\n%s:\n", title)
		if len(cs) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, c := range cs {
			fmt.Fprintf(w, "  %6d  %s\n", c.Count, c.Name)
		}
	}
	counts("By action", r.Actions)
	counts("By actor", r.Actors)
	list := func(title string, evs []reportEvent) {
		fmt.Fprintf(w, "\n%s:\n", title)
		if len(evs) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, e := range evs {
			object := e.ObjectName
			if e.ObjectID != "" {
				object = strings.TrimSpace(object + " (" + e.ObjectType + " " + e.ObjectID + ")")
			}
			fmt.Fprintf(w, "  %s  #%d  %-22s %s  by %s\n", e.At.UTC().Format(time.RFC3339), e.Seq, e.Action, object, e.Actor)
		}
	}
	list("Tenant creations", r.TenantCreations)
	list("Key operations", r.KeyOperations)
	list("Access requests, decisions and use", r.Access)
}
