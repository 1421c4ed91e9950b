package export

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/fieldcrypt"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// batchSize is how many records are read, opened and written at a time:
// the only records in memory at once, whatever the table's size.
const batchSize = 500

// FormatVersion names the layout of the zip in the manifest.
const FormatVersion = "haven-export/1"

// utf8BOM starts every CSV, so that Excel opens Chinese text correctly.
const utf8BOM = "\ufeff"

// progressEvery is how many records pass between saved progress rows.
const progressEvery = 2000

// runFull is the export.full job. A zip cannot be continued after a
// crash, so a resumed run starts the file again from the beginning
// (truncating the partial one). Only a complete run renames its file into
// place and records it, so running it twice is harmless.
func (s *Service) runFull(ctx context.Context, job jobs.Job, p *jobs.Progress) error {
	var pl jobPayload
	if err := json.Unmarshal(job.Payload, &pl); err != nil || !tenant.ValidID(pl.ExportID) {
		return apperr.Internal(fmt.Errorf("export: payload of job %s", job.ID))
	}
	tid := job.TenantID
	e, err := s.o.Store.Export(ctx, tid, pl.ExportID)
	if err != nil {
		return err
	}
	if e.Status == StatusDone || e.Status == StatusFailed {
		return nil
	}
	if _, err := s.SweepExpired(ctx, tid); err != nil {
		s.o.Log.Warn("sweeping expired exports", "tenant_id", string(tid), "err", err)
	}
	w := &run{s: s, ctx: ctx, e: e, p: p, counts: map[string]int64{}}
	if err := w.write(); err != nil {
		if ae, ok := apperr.As(err); ok && ae.Kind != apperr.KindInternal && !errors.Is(err, jobs.ErrLeaseLost) {
			// A client-safe failure (the keys were destroyed, say) will not
			// go away by retrying: end the export now.
			if ferr := s.fail(context.WithoutCancel(ctx), e, ae.Message); ferr != nil {
				return errors.Join(err, ferr)
			}
			return nil
		}
		if job.Attempts >= jobs.DefaultMaxAttempts && !errors.Is(err, jobs.ErrLeaseLost) && ctx.Err() == nil {
			// The worker fails the job after this attempt (the server runs
			// it with the default limit): close the export now, so the
			// passphrase and the partial file go at once.
			if ferr := s.fail(context.WithoutCancel(ctx), e, "the export failed; start a new one"); ferr != nil {
				return errors.Join(err, ferr)
			}
		}
		return err
	}
	return nil
}

// run is one attempt at writing an export's file.
type run struct {
	s   *Service
	ctx context.Context
	e   Export
	p   *jobs.Progress

	zw *zip.Writer
	// total and written count records, for progress.
	total, written int64
	lastSaved      int64
	// records counts the object records fully written.
	records int64
	counts  map[string]int64
	files   []manifestFile
	at      time.Time
	// changeCursor is where the change feed stood before the run read
	// anything (GET /api/v1/changes?since=...); "" without a feed.
	changeCursor string
}

type manifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// hashingWriter counts and hashes what passes through it.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

func (r *run) write() error {
	s, e, ctx := r.s, r.e, r.ctx
	tid := e.TenantID
	// The change head is taken before anything is read: every change
	// committed after it is in the feed after this cursor, so a customer
	// who imports the zip and follows the feed from it misses nothing
	// (a change the zip already shows arrives again, and applying the
	// record's current state twice changes nothing).
	if s.o.Changes != nil {
		seq, err := s.o.Changes.ChangeHead(ctx, tid)
		if err != nil {
			return err
		}
		r.changeCursor = records.EncodeChangeCursor(tid, seq)
	}
	objects, err := s.o.Records.ExportObjects(ctx, tid)
	if err != nil {
		return err
	}
	for _, o := range objects {
		n, err := s.o.Records.CountRecords(ctx, tid, o.Name)
		if err != nil {
			return err
		}
		r.total += n
	}
	if err := s.o.Store.SetExportProgress(ctx, tid, e.ID, StatusRunning, 0, r.total); err != nil {
		return err
	}
	if err := r.p.Save(ctx, "", 0, r.total); err != nil {
		return err
	}
	dir, err := s.tenantDir(tid)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("export: create the tenant's export directory: %w", err)
	}
	partial := filepath.Join(dir, partialName(e))
	// O_TRUNC: a run resumed after a crash starts the partial file over.
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("export: create the file: %w", err)
	}
	defer f.Close()
	fileHash := &hashingWriter{w: f, h: sha256.New()}
	buf := bufio.NewWriterSize(fileHash, 256<<10)
	var sink io.Writer = buf
	var enc io.WriteCloser
	switch e.Encryption {
	case EncryptRecipient:
		rcpt, err := age.ParseX25519Recipient(e.Recipient)
		if err != nil {
			return apperr.Invalid("the export's age recipient is not valid")
		}
		if enc, err = age.Encrypt(buf, rcpt); err != nil {
			return fmt.Errorf("export: age: %w", err)
		}
	case EncryptPassphrase:
		pass, err := fieldcrypt.Decrypt(ctx, s.o.Keys, passphraseBinding(tid, e.ID), e.PassphraseSealed)
		if err != nil {
			return apperr.Conflict("the export's passphrase can no longer be read; start a new export").Wrap(err)
		}
		rcpt, err := age.NewScryptRecipient(string(pass))
		clear(pass)
		if err != nil {
			return fmt.Errorf("export: age scrypt: %w", err)
		}
		if enc, err = age.Encrypt(buf, rcpt); err != nil {
			return fmt.Errorf("export: age: %w", err)
		}
	}
	if enc != nil {
		sink = enc
	}
	r.at = s.o.Now().UTC().Truncate(time.Second)
	r.zw = zip.NewWriter(sink)
	// Fast deflate: the export is bound by reading and opening records,
	// and a slightly larger file costs less than a slower one.
	r.zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	if err := r.writeContents(objects); err != nil {
		return err
	}
	if err := r.zw.Close(); err != nil {
		return fmt.Errorf("export: finish the zip: %w", err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return fmt.Errorf("export: finish the age file: %w", err)
		}
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("export: write the file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("export: sync the file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export: close the file: %w", err)
	}
	final := fileName(e)
	if err := os.Rename(partial, filepath.Join(dir, final)); err != nil {
		return fmt.Errorf("export: rename the file: %w", err)
	}
	return r.finish(final, fileHash.n, hex.EncodeToString(fileHash.h.Sum(nil)))
}

// finish records the finished export, schedules its expiry, audits it and
// tells the governor.
func (r *run) finish(name string, size int64, sum string) error {
	s, e := r.s, r.e
	ctx := context.WithoutCancel(r.ctx)
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	expires := now.Add(s.o.TTL)
	// Rows are the object records written (users and files are counted in
	// the manifest, not here): what governance quotas and notices measure.
	rows := r.records
	actor := s.requester(ctx, e)
	err := s.o.Store.WriteTx(ctx, e.TenantID, func(ctx context.Context) error {
		if err := s.o.Store.FinishExport(ctx, e.TenantID, e.ID, Finish{Status: StatusDone, FileName: name, Size: size, SHA256: sum,
			Records: rows, FinishedAt: now, ExpiresAt: &expires}); err != nil {
			return err
		}
		if err := s.scheduleExpiry(ctx, e, expires); err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionCompleted, "export", e.ID, "full export")
		ev.Changes = map[string]audit.Change{"rows": {After: float64(rows)}, "sha256": {After: sum}, "size": {After: float64(size)},
			"encryption": {After: string(e.Encryption)}}
		return s.o.Store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return err
	}
	if s.o.Governor != nil {
		s.o.Governor.Exported(ctx, actor, "full", e.ID, rows)
	}
	return nil
}

// entry is a zip entry being written: its bytes are hashed and counted
// for the manifest as they stream.
type entry struct {
	*hashingWriter
	r    *run
	name string
}

func (r *run) create(name string) (*entry, error) {
	w, err := r.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: r.at})
	if err != nil {
		return nil, fmt.Errorf("export: zip entry %s: %w", name, err)
	}
	return &entry{hashingWriter: &hashingWriter{w: w, h: sha256.New()}, r: r, name: name}, nil
}

func (en *entry) close() {
	en.r.files = append(en.r.files, manifestFile{Path: en.name, Size: en.n, SHA256: hex.EncodeToString(en.h.Sum(nil))})
}

// writeJSON writes v as one zip entry.
func (r *run) writeJSON(name string, v any) error {
	en, err := r.create(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(en)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	en.close()
	return nil
}

func (r *run) writeContents(objects []records.Object) error {
	for _, o := range objects {
		if err := r.writeObject(o); err != nil {
			return err
		}
	}
	if err := r.writeJSON("metadata/objects.json", objectsDTO(objects)); err != nil {
		return err
	}
	if err := r.writeUsers(); err != nil {
		return err
	}
	if err := r.writeJSON("roles.json", rolesDTO(objects)); err != nil {
		return err
	}
	if err := r.writeAttachments(); err != nil {
		return err
	}
	if err := r.writeAudit(); err != nil {
		return err
	}
	return r.writeManifest()
}

// columns are the CSV's system columns before the object's fields.
var columns = []string{"id", "version", "owner_id", "created_at", "updated_at", "created_by", "updated_by"}

func (r *run) writeObject(o records.Object) error {
	names := make([]string, 0, len(o.Fields))
	for _, fl := range o.Fields {
		names = append(names, fl.Name)
	}
	// One walk writes both files: the CSV straight into the zip, the JSON
	// Lines into a spool (compressed, and encrypted under a key that
	// exists only in memory, so no plaintext rests on disk) that is then
	// copied into the zip as is. Reading and opening every record once
	// halves the work, and both files hold the same records.
	spool, err := r.newSpool()
	if err != nil {
		return err
	}
	defer spool.discard()
	en, err := r.create("objects/" + o.Name + ".csv")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(en, utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(en)
	cw.UseCRLF = true // what Excel writes and expects
	if err := cw.Write(append(append([]string{}, columns...), names...)); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(spool, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	row := make([]string, 0, len(columns)+len(names))
	var n int64
	err = r.walk(o.Name, func(rec records.Record) error {
		row = append(row[:0], rec.ID, strconv.FormatInt(rec.Version, 10), rec.OwnerID, timeText(rec.CreatedAt), timeText(rec.UpdatedAt),
			rec.CreatedBy, rec.UpdatedBy)
		for _, name := range names {
			row = append(row, csvCell(rec.Fields[name]))
		}
		n++
		if err := cw.Write(row); err != nil {
			return err
		}
		return enc.Encode(recordDTO{ID: rec.ID, Object: rec.Object, Version: rec.Version, OwnerID: rec.OwnerID, Name: rec.Name,
			Fields: rec.Fields, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, CreatedBy: rec.CreatedBy, UpdatedBy: rec.UpdatedBy})
	}, func() error {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	en.close()
	if err := spool.copyTo(r, "objects/"+o.Name+".jsonl"); err != nil {
		return err
	}
	r.counts[o.Name] = n
	r.records += n
	return nil
}

// spool holds one zip entry's content while another is being written:
// deflated (so it can be copied into the zip without compressing again)
// and sealed with a random key kept only in memory.
type spool struct {
	f    *os.File
	key  []byte
	bind attachments.FileBinding
	aw   *attachments.Writer
	// compressed counts what reaches the file; plain hashes and counts
	// what was written; crc is the zip's CRC-32 of the plain bytes.
	compressed *countingWriter
	fl         *flate.Writer
	plain      *hashingWriter
	crc        hash.Hash32
	w          io.Writer
}

func (r *run) newSpool() (*spool, error) {
	dir, err := r.s.tenantDir(r.e.TenantID)
	if err != nil {
		return nil, err
	}
	// O_TRUNC: a spool left by a crashed run is overwritten.
	f, err := os.OpenFile(filepath.Join(dir, "."+r.e.ID+".spool"), os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("export: create the spool: %w", err)
	}
	sp := &spool{f: f, key: make([]byte, attachments.KeySize), bind: attachments.FileBinding{Tenant: r.e.TenantID, AttachmentID: r.e.ID + "/spool"}}
	_, _ = rand.Read(sp.key) // crypto/rand.Read never fails (Go 1.24+)
	if sp.aw, err = attachments.NewWriter(f, sp.key, sp.bind); err != nil {
		sp.discard()
		return nil, err
	}
	sp.compressed = &countingWriter{w: sp.aw}
	sp.fl, _ = flate.NewWriter(sp.compressed, flate.BestSpeed)
	sp.crc = crc32.NewIEEE()
	sp.plain = &hashingWriter{w: sp.fl, h: sha256.New()}
	sp.w = io.MultiWriter(sp.plain, sp.crc)
	return sp, nil
}

func (sp *spool) Write(p []byte) (int, error) { return sp.w.Write(p) }

// copyTo ends the spool and copies it into the zip as entry name.
func (sp *spool) copyTo(r *run, name string) error {
	if err := sp.fl.Close(); err != nil {
		return err
	}
	if err := sp.aw.Close(); err != nil {
		return err
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	src, err := attachments.NewReader(sp.f, sp.key, sp.bind)
	if err != nil {
		return fmt.Errorf("export: read the spool: %w", err)
	}
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: r.at, CRC32: sp.crc.Sum32(),
		CompressedSize64: uint64(sp.compressed.n), UncompressedSize64: uint64(sp.plain.n)}
	// CreateRaw writes the header as given: without the MS-DOS date and
	// time that CreateHeader derives from Modified, unzip lists 1980.
	//lint:ignore SA1019 CreateRaw offers no other way to set these fields.
	fh.ModifiedDate, fh.ModifiedTime = msdosTime(r.at)
	w, err := r.zw.CreateRaw(fh)
	if err != nil {
		return fmt.Errorf("export: zip entry %s: %w", name, err)
	}
	copied, err := io.Copy(w, src)
	if err != nil {
		return fmt.Errorf("export: copy the spool: %w", err)
	}
	if copied != sp.compressed.n {
		return fmt.Errorf("export: the spool of %s holds %d bytes, %d were written", name, copied, sp.compressed.n)
	}
	r.files = append(r.files, manifestFile{Path: name, Size: sp.plain.n, SHA256: hex.EncodeToString(sp.plain.h.Sum(nil))})
	return nil
}

// msdosTime is t in the MS-DOS date and time fields of a zip header.
func msdosTime(t time.Time) (date, clock uint16) {
	return uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9),
		uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
}

// discard removes the spool file and forgets its key.
func (sp *spool) discard() {
	clear(sp.key)
	name := sp.f.Name()
	sp.f.Close()
	_ = os.Remove(name)
}

// walk reads every record of object in batches, calls fn for each, then
// flush after each batch, and saves progress now and then. The next batch
// is read and opened while this one is written (one batch ahead, so at
// most three are in memory).
func (r *run) walk(object string, fn func(records.Record) error, flush func() error) error {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	type read struct {
		batch []records.Record
		err   error
	}
	next := make(chan read, 1)
	go func() {
		defer close(next)
		after := ""
		for {
			batch, err := r.s.o.Records.ExportBatch(ctx, r.e.TenantID, object, after, batchSize)
			select {
			case next <- read{batch, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(batch) < batchSize {
				return
			}
			after = batch[len(batch)-1].ID
		}
	}()
	for got := range next {
		if got.err != nil {
			return got.err
		}
		for _, rec := range got.batch {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if err := flush(); err != nil {
			return err
		}
		r.written += int64(len(got.batch))
		if err := r.progress(); err != nil {
			return err
		}
	}
	return r.ctx.Err()
}

// progress saves how far the run got (records written) every
// progressEvery records, renewing the job's lease.
func (r *run) progress() error {
	if h := r.s.hook.Load(); h != nil {
		if err := (*h)(r.written); err != nil {
			return err
		}
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if r.written-r.lastSaved < progressEvery {
		return nil
	}
	r.lastSaved = r.written
	done := min(r.written, r.total)
	if err := r.s.o.Store.SetExportProgress(r.ctx, r.e.TenantID, r.e.ID, StatusRunning, done, max(r.total, done)); err != nil {
		return err
	}
	return r.p.Save(r.ctx, "", done, max(r.total, done))
}

// timeText formats a time for CSV: UTC, RFC 3339 with microseconds.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// csvCell is a field value as CSV text. Text that a spreadsheet would
// run as a formula (starting with = + - @ or a tab/CR followed by text)
// gets a leading apostrophe, as OWASP advises; JSON Lines keeps every
// value exactly as stored.
func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if formulaLike(x) {
			return "'" + x
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// numberLike is a value a spreadsheet reads as a number or a phone
// number rather than a formula: "+86 138…", "-12.5".
var numberLike = regexp.MustCompile(`^[+-][0-9 ().-]*$`)

func formulaLike(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return true
	case '+', '-':
		return !numberLike.MatchString(s)
	}
	return false
}

type recordDTO struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"`
	Version   int64          `json:"version"`
	OwnerID   string         `json:"owner_id"`
	Name      string         `json:"name"`
	Fields    map[string]any `json:"fields"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	CreatedBy string         `json:"created_by"`
	UpdatedBy string         `json:"updated_by"`
}

type fieldDTO struct {
	Name         string             `json:"name"`
	Label        string             `json:"label"`
	LabelZH      string             `json:"label_zh"`
	Type         string             `json:"type"`
	Required     bool               `json:"required"`
	Custom       bool               `json:"custom"`
	Options      []string           `json:"options,omitempty"`
	LookupObject string             `json:"lookup_object,omitempty"`
	MaxLength    int                `json:"max_length,omitempty"`
	Position     int                `json:"position"`
	Encrypted    bool               `json:"encrypted"`
	Searchable   bool               `json:"searchable"`
	Policy       access.FieldPolicy `json:"policy"`
}

type objectDTO struct {
	Name      string     `json:"name"`
	Label     string     `json:"label"`
	LabelZH   string     `json:"label_zh"`
	NameField string     `json:"name_field"`
	Standard  bool       `json:"standard"`
	Fields    []fieldDTO `json:"fields"`
}

func objectsDTO(objects []records.Object) []objectDTO {
	out := make([]objectDTO, 0, len(objects))
	for _, o := range objects {
		d := objectDTO{Name: o.Name, Label: o.Label, LabelZH: o.LabelZH, NameField: o.NameField, Standard: o.Standard, Fields: []fieldDTO{}}
		for _, fl := range o.Fields {
			d.Fields = append(d.Fields, fieldDTO{Name: fl.Name, Label: fl.Label, LabelZH: fl.LabelZH, Type: string(fl.Type), Required: fl.Required,
				Custom: fl.Custom, Options: fl.Options, LookupObject: fl.LookupObject, MaxLength: fl.MaxLength, Position: fl.Position,
				Encrypted: fl.Encrypted, Searchable: fl.Searchable, Policy: fl.Policy})
		}
		out = append(out, d)
	}
	return out
}

type permissionDTO struct {
	Actions []string `json:"actions"`
	Scope   string   `json:"scope"`
}

type roleDTO struct {
	Role               string                   `json:"role"`
	Objects            map[string]permissionDTO `json:"objects"`
	ManageUsers        bool                     `json:"manage_users"`
	ManageSettings     bool                     `json:"manage_settings"`
	ReadAudit          bool                     `json:"read_audit"`
	ExportAllByDefault bool                     `json:"export_all_by_default"`
}

func rolesDTO(objects []records.Object) []roleDTO {
	out := make([]roleDTO, 0, len(access.Roles))
	for _, role := range access.Roles {
		probe := tenant.Actor{Kind: tenant.ActorUser, Role: role, UserID: "probe"}
		d := roleDTO{Role: role, Objects: map[string]permissionDTO{}, ManageUsers: access.CanManageUsers(probe),
			ManageSettings: access.CanManageSettings(probe), ReadAudit: access.CanReadAudit(probe),
			ExportAllByDefault: access.CanManageSettings(probe)}
		for _, o := range objects {
			p := access.ForObject(role, o.Name)
			acts := make([]string, 0, len(p.Actions))
			for _, a := range p.Actions {
				acts = append(acts, string(a))
			}
			d.Objects[o.Name] = permissionDTO{Actions: acts, Scope: string(p.Scope)}
		}
		out = append(out, d)
	}
	return out
}

// userDTO is a user without any credential: no password hash, TOTP
// secret, recovery code or token exists in this type to leak.
type userDTO struct {
	ID                 string     `json:"id"`
	Email              string     `json:"email,omitempty"`
	Phone              string     `json:"phone,omitempty"`
	Name               string     `json:"name"`
	Role               string     `json:"role"`
	Status             string     `json:"status"`
	MustChangePassword bool       `json:"must_change_password"`
	PasswordChangedAt  time.Time  `json:"password_changed_at"`
	LastLoginAt        *time.Time `json:"last_login_at,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

func (r *run) writeUsers() error {
	en, err := r.create("users.jsonl")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(en)
	enc.SetEscapeHTML(false)
	after := ""
	var n int64
	for {
		us, err := r.s.o.Users.Users(r.ctx, r.e.TenantID, after, batchSize)
		if err != nil {
			return err
		}
		for _, u := range us {
			if err := enc.Encode(userDTO{ID: u.ID, Email: u.Email, Phone: u.Phone, Name: u.Name, Role: u.Role, Status: string(u.Status),
				MustChangePassword: u.MustChangePassword, PasswordChangedAt: u.PasswordChangedAt, LastLoginAt: u.LastLoginAt,
				CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}); err != nil {
				return err
			}
			n++
		}
		if len(us) < batchSize {
			break
		}
		after = us[len(us)-1].ID
	}
	en.close()
	r.counts["users"] = n
	return nil
}

type attachmentDTO struct {
	ID          string    `json:"id"`
	Object      string    `json:"object"`
	RecordID    string    `json:"record_id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Path        string    `json:"path"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
}

// safeName keeps a file name usable inside the zip on every system: no
// path separators, no dot-dot, no control characters.
func safeName(name string) string {
	name = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(`/\:*?"<>|`, c) {
			return '_'
		}
		return c
	}, name)
	name = strings.Trim(name, ". ")
	if name == "" {
		name = "file"
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	return name
}

// writeAttachments streams every attachment's decrypted content into
// attachments/<object>/<record>/<id>-<name>, with an index.
func (r *run) writeAttachments() error {
	if r.s.o.Attachments == nil {
		return nil
	}
	// The index holds one small entry per file (not its content).
	var index []attachmentDTO
	after := ""
	var n int64
	for {
		list, err := r.s.o.Attachments.ExportBatch(r.ctx, r.e.TenantID, after, batchSize)
		if err != nil {
			return err
		}
		for _, a := range list {
			p := path.Join("attachments", a.Object, a.RecordID, a.ID+"-"+safeName(a.Filename))
			en, err := r.create(p)
			if err != nil {
				return err
			}
			d, err := r.s.o.Attachments.OpenForExport(r.ctx, r.e.TenantID, a)
			if err != nil {
				return err
			}
			_, err = io.Copy(en, d)
			d.Close()
			if err != nil {
				return fmt.Errorf("export: attachment %s: %w", a.ID, err)
			}
			en.close()
			index = append(index, attachmentDTO{ID: a.ID, Object: a.Object, RecordID: a.RecordID, Filename: a.Filename,
				ContentType: a.ContentType, Size: a.Size, Path: p, CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy})
			n++
		}
		if len(list) < batchSize {
			break
		}
		after = list[len(list)-1].ID
	}
	r.counts["attachments"] = n
	if index == nil {
		index = []attachmentDTO{}
	}
	return r.writeJSON("attachments/index.json", index)
}

// writeAudit writes the trail exactly as `haven audit verify --file`
// reads it, after signing a checkpoint at its head so every event in the
// copy is covered by a signature.
func (r *run) writeAudit() error {
	if r.s.o.Chain == nil || r.s.o.AuditKeys == nil {
		return nil
	}
	tid := r.e.TenantID
	if _, err := r.s.o.Chain.CheckpointAuditHead(r.ctx, tid, r.s.o.AuditKeys.Sign); err != nil {
		return err
	}
	en, err := r.create("audit/audit.jsonl")
	if err != nil {
		return err
	}
	actor := r.s.requester(r.ctx, r.e)
	by := actor.Name + " (" + actor.UserID + ")"
	if err := audit.Export(r.ctx, r.s.o.Chain, tid, r.s.o.AuditKeys.PublicKeys(), by, r.at, en); err != nil {
		return err
	}
	en.close()
	return nil
}

type manifest struct {
	Format        string           `json:"format"`
	ExportID      string           `json:"export_id"`
	Tenant        string           `json:"tenant_id"`
	CreatedAt     time.Time        `json:"created_at"`
	Exporter      exporterDTO      `json:"exporter"`
	SchemaVersion string           `json:"schema_version"`
	Encryption    string           `json:"encryption"`
	Counts        map[string]int64 `json:"counts"`
	Files         []manifestFile   `json:"files"`
	// ChangeCursor is the change feed's cursor taken before the export
	// read any data: follow GET /api/v1/changes?since= from it after
	// importing the zip.
	ChangeCursor string `json:"change_cursor,omitempty"`
}

type exporterDTO struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

// writeManifest writes manifest.json last: the counts, every other
// entry's SHA-256, and who exported when (the watermark).
func (r *run) writeManifest() error {
	actor := r.s.requester(r.ctx, r.e)
	return r.writeJSON("manifest.json", manifest{Format: FormatVersion, ExportID: r.e.ID, Tenant: string(r.e.TenantID), CreatedAt: r.at,
		Exporter: exporterDTO{UserID: actor.UserID, Name: actor.Name}, SchemaVersion: r.s.o.SchemaVersion,
		Encryption: string(r.e.Encryption), Counts: r.counts, Files: r.files, ChangeCursor: r.changeCursor})
}
