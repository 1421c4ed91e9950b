package api

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/tenant"
)

// AuditChain verifies and exports the tenant's hash-chained audit trail
// and publishes the keys that sign it.
type AuditChain interface {
	// Verify recomputes the actor's tenant's trail (admins only).
	Verify(ctx context.Context, actor tenant.Actor) (audit.Report, error)
	// ExportTrail records the export in the trail, then streams the whole
	// trail to w as JSON Lines (admins only). It writes nothing before
	// the export is on record.
	ExportTrail(ctx context.Context, actor tenant.Actor, w io.Writer) error
	// PublicKeys lists every audit signing public key, oldest first.
	PublicKeys() []audit.PublicKey
}

// AuditProblemDTO is the first place a trail fails to verify.
type AuditProblemDTO struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// AuditVerifyDTO answers GET /api/v1/audit/verify. FirstBadSeq and
// Reason repeat Problem at the top level, as the API contract names them.
type AuditVerifyDTO struct {
	OK          bool             `json:"ok"`
	Events      int64            `json:"events"`
	Checkpoints int              `json:"checkpoints"`
	FirstSeq    int64            `json:"first_seq"`
	LastSeq     int64            `json:"last_seq"`
	LastHash    string           `json:"last_hash,omitempty"`
	Unsigned    int64            `json:"unsigned"`
	Anchored    bool             `json:"anchored"`
	Problem     *AuditProblemDTO `json:"problem,omitempty"`
	FirstBadSeq *int64           `json:"first_bad_seq,omitempty"`
	Reason      string           `json:"reason,omitempty"`
}

// AuditKeyDTO is one audit signing public key.
type AuditKeyDTO struct {
	KeyID     string    `json:"key_id"`
	Algorithm string    `json:"algorithm"`
	PublicKey string    `json:"public_key"` // standard base64 of the 32-byte key
	CreatedAt time.Time `json:"created_at"`
}

// AuditKeyList answers GET /api/v1/audit/keys.
type AuditKeyList struct {
	Keys []AuditKeyDTO `json:"keys"`
}

func (a *API) auditChainRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/audit/verify", handler: a.verifyAudit},
		{Method: "GET", Pattern: "/api/v1/audit/export", handler: a.exportAudit},
		// Public: trust in the signatures must not depend on an account
		// with the vendor, and public keys reveal nothing.
		{Method: "GET", Pattern: "/api/v1/audit/keys", Public: true, handler: a.auditKeys},
	}
}

// auditVerifyResult maps a verification report to its DTO.
func auditVerifyResult(r audit.Report) AuditVerifyDTO {
	out := AuditVerifyDTO{OK: r.OK, Events: r.Events, Checkpoints: r.Checkpoints, FirstSeq: r.FirstSeq, LastSeq: r.LastSeq,
		LastHash: r.LastHash, Unsigned: r.Unsigned, Anchored: r.Anchored}
	if r.Problem != nil {
		seq := r.Problem.Seq
		out.Problem = &AuditProblemDTO{Seq: seq, Reason: r.Problem.Reason}
		out.FirstBadSeq, out.Reason = &seq, r.Problem.Reason
		// A hash up to a broken event vouches for nothing.
		out.LastHash = ""
	}
	return out
}

func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if err := noQuery(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	rep, err := a.d.AuditChain.Verify(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// A broken trail is a finding, not a failed request: 200 with ok false.
	writeJSON(w, http.StatusOK, auditVerifyResult(rep))
}

// unsafeFileChars are replaced in the download's file name.
var unsafeFileChars = regexp.MustCompile(`[^a-z0-9-]+`)

// AuditExportFileName names an export of a tenant's trail taken at now.
func AuditExportFileName(slug string, tid tenant.ID, now time.Time) string {
	name := unsafeFileChars.ReplaceAllString(slug, "-")
	if name == "" || name == "-" {
		name = unsafeFileChars.ReplaceAllString(string(tid), "-")
	}
	return "audit-" + name + "-" + now.UTC().Format(time.DateOnly) + ".jsonl"
}

// lazyExport sends the download's headers with the first byte of the
// export, so an export refused before it began (not an admin, the event
// not recorded) still answers the JSON error envelope.
type lazyExport struct {
	w        http.ResponseWriter
	filename string
	started  bool
}

func (l *lazyExport) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		h := l.w.Header()
		h.Set("Content-Type", "application/x-ndjson")
		h.Set("Content-Disposition", `attachment; filename="`+l.filename+`"`)
		h.Set("Cache-Control", "no-store")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (a *API) exportAudit(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if err := noQuery(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	out := &lazyExport{w: w, filename: AuditExportFileName(p.Tenant.Slug, p.Actor.TenantID, time.Now())}
	err := a.d.AuditChain.ExportTrail(r.Context(), p.Actor, out)
	if err == nil {
		if !out.started {
			// ExportTrail always writes at least the header line; nothing
			// at all means a broken exporter, not an empty trail.
			a.writeError(w, r, apperr.Internal(errors.New("audit export wrote nothing")))
		}
		return
	}
	if !out.started {
		a.writeError(w, r, err)
		return
	}
	// Half a file has gone out with a 200. Abort the connection rather
	// than end the response, so the client sees a failed download; the
	// missing end line also makes the cut-off file fail verification.
	if !errors.Is(err, context.Canceled) {
		a.d.Log.Error("audit export failed after it began", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	panic(http.ErrAbortHandler)
}

func (a *API) auditKeys(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	q := r.URL.Query()
	for key := range q {
		if key != "format" {
			a.writeError(w, r, apperr.Invalid("unknown query parameter %q", truncate(key, 60)))
			return
		}
	}
	format := q.Get("format")
	if !slices.Contains([]string{"", "json", "text"}, format) {
		a.writeError(w, r, apperr.Invalid("format must be json or text"))
		return
	}
	keys := a.d.AuditChain.PublicKeys()
	if format == "text" {
		// The format "haven audit verify --public-key" reads, so that
		// curl …/audit/keys?format=text > key.pub is all a verifier needs.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_ = audit.FormatPublicKeys(w, keys)
		return
	}
	out := AuditKeyList{Keys: make([]AuditKeyDTO, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, AuditKeyDTO{KeyID: k.ID, Algorithm: "Ed25519", PublicKey: base64.StdEncoding.EncodeToString(k.Key), CreatedAt: k.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// noQuery refuses query parameters on endpoints that take none, so a
// misspelt filter is not silently ignored.
func noQuery(r *http.Request) error {
	if q := r.URL.Query(); len(q) > 0 {
		return apperr.Invalid("unknown query parameter %q", truncate(slices.Sorted(maps.Keys(q))[0], 60))
	}
	return nil
}
