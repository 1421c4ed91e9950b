package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// The audit log page: the tenant's trail with filters and keyset paging,
// the integrity check of the hash chain and its signed checkpoints, and
// the export an admin verifies offline.

// AuditTrail verifies and exports the tenant's trail; *audit.Service
// implements it. Without it the audit page lists events only.
type AuditTrail interface {
	Verify(ctx context.Context, actor tenant.Actor) (audit.Report, error)
	PublicKeys() []audit.PublicKey
	// ExportTrail records an audit.export event, then streams the whole
	// trail (which holds that event) as JSON Lines.
	ExportTrail(ctx context.Context, actor tenant.Actor, w io.Writer) error
}

func (w *Web) registerAuditLog(mux *http.ServeMux) {
	mux.Handle("GET /audit", w.authed(w.auditPage))
	// Export is a POST with the CSRF token because it writes: it appends
	// an audit.export event. A GET would let any page an admin visits
	// fill the trail with exports nobody asked for.
	mux.Handle("POST /audit/export", w.authed(w.exportAudit))
	mux.Handle("GET /audit/keys", w.authed(w.auditKeys))
}

// AuditPage is one page of the audit log with its filters.
type AuditPage struct {
	Shell
	From       string
	To         string
	ObjectID   string
	Users      []Option
	Actions    []Option
	Objects    []Option
	Rows       []AuditRow
	OlderHref  string
	NewestHref string
	// Notices explain filter input that was ignored.
	Notices  []string
	Filtered bool
	// Verify and Export are nil when the trail cannot be verified or
	// exported from here (not wired).
	Verify *VerifyPanel
	Export *ExportPanel
}

// AuditRow is one event.
type AuditRow struct {
	Seq        int64
	Anchor     string // the row's fragment ID, the target of "show event" links
	At         string
	Actor      string
	Action     string
	ActionCode string
	Badge      string
	ObjectType string
	ObjectName string
	ObjectHref string
	IP         string
	Changes    []ChangeView
	More       string
}

// VerifyPanel is the integrity check: not run yet, passed, broken, or
// failed to run.
type VerifyPanel struct {
	Ran     bool
	OK      bool
	Broken  bool
	Failed  string // why the check could not run
	Summary string
	Signed  string // how far the signatures reach
	Meta    string // when it ran and how long it took
	// Problem is where the trail first breaks, with a link to the event.
	ProblemSeq  int64
	Reason      string
	ProblemHref string
	ProblemLink string
	VerifyHref  string
}

// ExportPanel offers the trail and the public keys for offline checks.
type ExportPanel struct {
	Action   string
	KeysHref string
	Command  string
}

// auditActions are the action names the filter offers; other files add
// theirs in init.
var auditActions = []string{
	audit.ActionRecordCreated, audit.ActionRecordUpdated, audit.ActionRecordDeleted,
	audit.ActionLoginSucceeded, audit.ActionLoginFailed, audit.ActionLogout, audit.ActionPasswordChanged,
	audit.ActionUserCreated, audit.ActionUserUpdated, audit.ActionUserDeactivated, audit.ActionPasswordReset,
	audit.ActionFieldCreated, audit.ActionTenantCreated,
}

// auditObjectTypes are the object types of events that are not records.
var auditObjectTypes = []string{"user", "field", "tenant", "settings", "session", "api_token", "attachment", "keys", "data_key", "audit"}

const (
	maxAuditChanges = 6
	auditPageSize   = 50
	// verifyTimeout bounds one integrity check, below the server's write
	// timeout, so a huge trail ends in a message rather than a dropped
	// connection; the offline check has no such limit.
	verifyTimeout = 90 * time.Second
	// maxObjectID bounds the object ID filter; IDs are UUIDs or short keys.
	maxObjectID = 128
)

// Hand-typed filter values that are not in the lists are still accepted
// when they look like names (an action another release added, say), so
// the page never hides events behind a stale list.
var (
	actionPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*$`)
	objTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// auditQuery is the filter form as read from the URL: the service's
// filter, what the form shows again, and notices for what was ignored.
type auditQuery struct {
	filter   audit.Filter
	from, to string
	notices  []string
}

// parseAuditQuery reads the filters. Dates are whole days in loc (the
// zone the page shows times in): "to" includes its whole day. Bad values
// are dropped with a notice, never an error page.
func parseAuditQuery(l Lang, loc *time.Location, qv url.Values, objectTypes []Option) auditQuery {
	q := auditQuery{filter: audit.Filter{Limit: auditPageSize}}
	note := func(key string, args ...any) {
		if msg := translate(l, key, args...); !slices.Contains(q.notices, msg) {
			q.notices = append(q.notices, msg)
		}
	}
	if s := strings.TrimSpace(qv.Get("from")); s != "" {
		if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			q.filter.From, q.from = t, s
		} else {
			note("audit.bad_date")
		}
	}
	if s := strings.TrimSpace(qv.Get("to")); s != "" {
		if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			q.filter.To, q.to = t.AddDate(0, 0, 1), s
		} else {
			note("audit.bad_date")
		}
	}
	if !q.filter.From.IsZero() && !q.filter.To.IsZero() && !q.filter.To.After(q.filter.From) {
		note("audit.bad_range")
		q.filter.To, q.to = time.Time{}, ""
	}
	if s := strings.TrimSpace(qv.Get("actor")); s != "" {
		if tenant.ValidID(s) {
			q.filter.ActorID = s
		} else {
			note("audit.bad_actor")
		}
	}
	if s := strings.TrimSpace(qv.Get("action")); s != "" {
		if actionPattern.MatchString(s) && len(s) <= 64 {
			q.filter.Action = s
		} else {
			note("audit.bad_action")
		}
	}
	if s := strings.TrimSpace(qv.Get("object")); s != "" {
		if objTypePattern.MatchString(s) || slices.ContainsFunc(objectTypes, func(o Option) bool { return o.Value == s }) {
			q.filter.ObjectType = s
		} else {
			note("audit.bad_object")
		}
	}
	if s := strings.TrimSpace(qv.Get("object_id")); s != "" {
		if len(s) <= maxObjectID && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			q.filter.ObjectID = s
		} else {
			note("audit.bad_object_id")
		}
	}
	if s := qv.Get("before"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			q.filter.BeforeSeq = n
		} else {
			note("audit.bad_cursor")
		}
	}
	return q
}

// values are the filters as URL parameters, for links that keep them.
func (q auditQuery) values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"from", q.from}, {"to", q.to}, {"actor", q.filter.ActorID}, {"action", q.filter.Action},
		{"object", q.filter.ObjectType}, {"object_id", q.filter.ObjectID}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	return v
}

func auditHref(v url.Values) string {
	if len(v) == 0 {
		return "/audit"
	}
	return "/audit?" + v.Encode()
}

func (w *Web) auditPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanReadAudit(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	ctx, l := r.Context(), rc.lang
	loc := w.location(l)
	qv := r.URL.Query()
	p := &AuditPage{Shell: w.shell(rw, r, rc, l, translate(l, "audit.title"), "audit")}

	objectTypes := []Option{{Value: "", Label: translate(l, "audit.any")}}
	known := map[string]records.Object{}
	for _, o := range rc.objects {
		known[o.Name] = o
		objectTypes = append(objectTypes, Option{Value: o.Name, Label: objectLabel(l, o.Label, o.LabelZH)})
	}
	for _, t := range auditObjectTypes {
		objectTypes = append(objectTypes, Option{Value: t, Label: genericObjectType(l, t)})
	}
	q := parseAuditQuery(l, loc, qv, objectTypes)
	f := q.filter
	p.From, p.To, p.ObjectID, p.Notices = q.from, q.to, f.ObjectID, q.notices
	p.Filtered = len(q.values()) > 0

	p.Objects = withSelected(objectTypes, f.ObjectType, func() string { return f.ObjectType })
	p.Actions = []Option{{Value: "", Label: translate(l, "audit.any")}}
	actions := slices.Clone(auditActions)
	slices.Sort(actions)
	for _, a := range slices.Compact(actions) {
		p.Actions = append(p.Actions, Option{Value: a, Label: actionLabel(l, a) + " (" + a + ")"})
	}
	p.Actions = withSelected(p.Actions, f.Action, func() string { return f.Action })

	users, _, err := w.d.Identity.Users(ctx, rc.actor(), "", 200)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	p.Users = []Option{{Value: "", Label: translate(l, "audit.any")}}
	for _, u := range users {
		p.Users = append(p.Users, Option{Value: u.ID, Label: u.Name + " (" + u.Login() + ")"})
	}
	// A user beyond the first 200 (linked from elsewhere) stays selected.
	p.Users = withSelected(p.Users, f.ActorID, func() string { return w.userName(ctx, rc, f.ActorID) })

	events, older, err := w.d.Audit.Query(ctx, rc.actor(), f)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	for _, e := range events {
		p.Rows = append(p.Rows, w.auditRow(ctx, rc, known, e))
	}
	filters := q.values()
	if older > 0 {
		v := q.values()
		v.Set("before", strconv.FormatInt(older, 10))
		p.OlderHref = auditHref(v)
	}
	if f.BeforeSeq > 0 {
		p.NewestHref = auditHref(filters)
	}

	if w.d.AuditTrail != nil {
		// Verification reads the whole trail, so it runs when asked
		// (?verify=1), not on every page view or "older" click.
		again := q.values()
		if f.BeforeSeq > 0 {
			again.Set("before", strconv.FormatInt(f.BeforeSeq, 10))
		}
		again.Set("verify", "1")
		p.Verify = &VerifyPanel{VerifyHref: auditHref(again)}
		if qv.Get("verify") == "1" {
			w.verifyTrail(ctx, rc, p.Verify)
		}
		p.Export = &ExportPanel{Action: "/audit/export", KeysHref: "/audit/keys",
			Command: "haven audit verify --file " + exportFileName(rc.tenant.Slug, time.Now().In(loc)) + " --public-key " + keysFileName}
	}
	w.render(rw, r, http.StatusOK, "audit", p)
}

// withSelected marks the option with value v selected; a value not in
// the list (typed into the URL, or a user past the first page) is added
// with its label so the form shows what the page is filtered by.
func withSelected(opts []Option, v string, label func() string) []Option {
	if v == "" {
		return opts
	}
	for i := range opts {
		if opts[i].Value == v {
			opts[i].Selected = true
			return opts
		}
	}
	return append(opts, Option{Value: v, Label: label(), Selected: true})
}

// verifyTrail runs the integrity check into the panel.
func (w *Web) verifyTrail(ctx context.Context, rc *reqCtx, vp *VerifyPanel) {
	l := rc.lang
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	start := time.Now()
	rep, err := w.d.AuditTrail.Verify(ctx, rc.actor())
	took := time.Since(start)
	vp.Ran = true
	vp.Meta = translate(l, "audit.verify_meta", formatDateTime(l, w.location(l), start), took.Round(time.Millisecond).String())
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		// Out of time (or the admin went away): not a fault to log.
		vp.Failed = translate(l, "audit.verify_timeout")
		return
	default:
		// The page still shows the log; the panel says the check did not
		// run and the log line carries the cause.
		w.log.Error("audit verification failed to run", "request_id", httpx.RequestID(ctx), "tenant_id", string(rc.actor().TenantID), "err", err)
		vp.Failed = translate(l, "audit.verify_error", httpx.RequestID(ctx))
		return
	}
	if !rep.OK && rep.Problem != nil {
		vp.Broken = true
		vp.ProblemSeq, vp.Reason = rep.Problem.Seq, rep.Problem.Reason
		vp.Summary = translate(l, "audit.verify_broken", rep.Problem.Seq)
		if rep.Problem.Seq > 0 {
			// The page from the broken event down, scrolled to its row.
			vp.ProblemHref = "/audit?" + url.Values{"before": {strconv.FormatInt(rep.Problem.Seq+1, 10)}}.Encode() + "#" + seqAnchor(rep.Problem.Seq)
			vp.ProblemLink = translate(l, "audit.verify_show", rep.Problem.Seq)
		}
		return
	}
	vp.OK = true
	vp.Summary = translate(l, "audit.verify_ok", plural(l, "audit.n_events", rep.Events), plural(l, "audit.n_checkpoints", int64(rep.Checkpoints)))
	signedUpTo := rep.LastSeq - rep.Unsigned
	switch {
	case rep.Events == 0:
		vp.Summary = translate(l, "audit.verify_empty")
	case signedUpTo <= 0 || (rep.Checkpoints == 0 && !rep.Anchored):
		vp.Signed = translate(l, "audit.verify_unsigned_all", plural(l, "audit.n_events", rep.Unsigned))
	case rep.Unsigned == 0:
		vp.Signed = translate(l, "audit.verify_signed_all", signedUpTo)
	default:
		vp.Signed = translate(l, "audit.verify_signed", signedUpTo, plural(l, "audit.n_newer", rep.Unsigned))
	}
	if rep.Anchored && rep.Events > 0 {
		vp.Signed += " " + translate(l, "audit.verify_anchored", rep.FirstSeq-1)
	}
}

// plural formats a count with key, or with key+".one" for exactly one
// where the language has such a form.
func plural(l Lang, key string, n int64) string {
	if _, ok := catalog[key+".one"]; ok && n == 1 {
		return translate(l, key+".one", n)
	}
	return translate(l, key, n)
}

func seqAnchor(seq int64) string { return "seq-" + strconv.FormatInt(seq, 10) }

const keysFileName = "audit-keys.pub"

// exportFileName names a download after the tenant and the day, so that
// successive exports kept side by side sort by date.
func exportFileName(slug string, day time.Time) string {
	return "audit-" + slug + "-" + day.Format(time.DateOnly) + ".jsonl"
}

// exportAudit streams the whole trail as JSON Lines. The service records
// the export before it reads the trail, so the file holds its own
// audit.export event.
func (w *Web) exportAudit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanReadAudit(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	if w.d.AuditTrail == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	out := &exportWriter{rw: rw, rc: http.NewResponseController(rw),
		name: exportFileName(rc.tenant.Slug, time.Now().In(w.location(rc.lang)))}
	err := w.d.AuditTrail.ExportTrail(r.Context(), rc.actor(), out)
	if err == nil {
		return
	}
	if !out.started {
		// Nothing sent yet (refused, or the export event could not be
		// recorded): an ordinary error page.
		w.fail(rw, r, rc, err)
		return
	}
	// Part of the file is out. Ending the response normally would leave
	// a shorter file that still verifies up to where it stops; aborting
	// makes the browser report a failed download instead.
	w.log.Warn("audit export aborted", "request_id", httpx.RequestID(r.Context()), "tenant_id", string(rc.actor().TenantID), "err", err)
	panic(http.ErrAbortHandler)
}

// exportWriter sends the download's headers with its first bytes, so an
// error before any output can still become an error page, and keeps
// pushing the write deadline out while data flows: a large trail takes
// longer than the server's write timeout, a stalled client does not.
type exportWriter struct {
	rw       http.ResponseWriter
	rc       *http.ResponseController
	name     string
	started  bool
	deadline time.Time
}

func (e *exportWriter) Write(b []byte) (int, error) {
	if !e.started {
		e.started = true
		h := e.rw.Header()
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Content-Disposition", `attachment; filename="`+e.name+`"`)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		e.rw.WriteHeader(http.StatusOK)
	}
	if now := time.Now(); now.After(e.deadline.Add(-time.Minute)) {
		e.deadline = now.Add(2 * time.Minute)
		// Not every writer supports deadlines (tests' recorders); the
		// server's own timeout then applies.
		_ = e.rc.SetWriteDeadline(e.deadline)
	}
	return e.rw.Write(b)
}

// auditKeys downloads the audit signing public keys in the format
// "haven audit verify --public-key" reads.
func (w *Web) auditKeys(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !access.CanReadAudit(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	if w.d.AuditTrail == nil {
		w.notFoundRC(rw, r, rc)
		return
	}
	keys := w.d.AuditTrail.PublicKeys()
	if len(keys) == 0 {
		w.notFoundRC(rw, r, rc)
		return
	}
	var b strings.Builder
	b.WriteString("# Haven audit signing public keys (Ed25519): key ID, then the base64 public key.\n")
	b.WriteString("# Verify an export offline: haven audit verify --file audit.jsonl --public-key " + keysFileName + "\n")
	if err := audit.FormatPublicKeys(&b, keys); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+keysFileName+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(rw, b.String())
}

func (w *Web) auditRow(ctx context.Context, rc *reqCtx, known map[string]records.Object, e audit.Event) AuditRow {
	l, loc := rc.lang, w.location(rc.lang)
	row := AuditRow{
		Seq: e.Seq, Anchor: seqAnchor(e.Seq),
		At: formatDateTime(l, loc, e.At), Actor: actorName(l, e), Action: actionLabel(l, e.Action), ActionCode: e.Action,
		Badge: actionBadge(e.Action), ObjectName: e.ObjectName, IP: e.IP,
	}
	obj, isRecord := known[e.ObjectType]
	switch {
	case isRecord:
		row.ObjectType = objectLabel(l, obj.Label, obj.LabelZH)
		if e.Action != audit.ActionRecordDeleted && tenant.ValidID(e.ObjectID) {
			row.ObjectHref = recordHref(e.ObjectType, e.ObjectID)
		}
	case e.ObjectType != "":
		row.ObjectType = genericObjectType(l, e.ObjectType)
	}
	keys := changeKeys(obj, e.Changes)
	for i, k := range keys {
		if i == maxAuditChanges {
			row.More = translate(l, "audit.more", len(keys)-maxAuditChanges)
			break
		}
		c := e.Changes[k]
		cv := newChangeView("", c)
		if f, ok := obj.Field(k); ok && isRecord {
			cv.Label = fieldLabel(l, f)
			cv.Before, cv.After = plainValue(l, loc, &f, c.Before), plainValue(l, loc, &f, c.After)
		} else {
			cv.Label = genericFieldLabel(l, e.ObjectType, k)
			cv.Before, cv.After = plainValue(l, loc, nil, c.Before), plainValue(l, loc, nil, c.After)
			switch k {
			case "owner_id":
				if s, ok := c.Before.(string); ok {
					cv.Before = w.userName(ctx, rc, s)
				}
				if s, ok := c.After.(string); ok {
					cv.After = w.userName(ctx, rc, s)
				}
			case "role":
				cv.Before, cv.After = roleValue(l, c.Before, cv.Before), roleValue(l, c.After, cv.After)
			case "status":
				cv.Before, cv.After = statusValue(l, c.Before, cv.Before), statusValue(l, c.After, cv.After)
			case "reason":
				if s, ok := c.After.(string); ok {
					cv.After = translateOr(l, "reason."+s, cv.After)
				}
			}
		}
		row.Changes = append(row.Changes, cv)
	}
	return row
}

func genericObjectType(l Lang, t string) string {
	if _, ok := catalog["objtype."+t]; ok {
		return translate(l, "objtype."+t)
	}
	return t
}

func roleValue(l Lang, v any, def string) string {
	if s, ok := v.(string); ok && access.ValidRole(s) {
		return translate(l, "role."+s)
	}
	return def
}

func statusValue(l Lang, v any, def string) string {
	if s, ok := v.(string); ok {
		if _, known := catalog["status."+s]; known {
			return translate(l, "status."+s)
		}
	}
	return def
}
