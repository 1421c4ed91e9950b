// Package server assembles Haven: it opens the database, runs migrations,
// wires the domain services into the API and the web UI behind one
// security middleware chain, and serves them until asked to stop.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/attachments"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/audit/auditkey"
	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/export"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/jobs"
	"github.com/havencrm/haven/keyops"
	"github.com/havencrm/haven/keyring"
	"github.com/havencrm/haven/keyring/kekset"
	"github.com/havencrm/haven/notify"
	"github.com/havencrm/haven/operators"
	"github.com/havencrm/haven/opsapi"
	"github.com/havencrm/haven/opsweb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
	"github.com/havencrm/haven/web"
)

// App is the assembled application without its listeners: what the CLI
// commands and tests use.
type App struct {
	Config      config.Config
	Log         *slog.Logger
	DB          *store.DB
	Identity    *identity.Service
	Records     *records.Service
	Audit       *audit.Service
	Provisioner *provision.Provisioner
	Settings    *identity.Settings
	// Notifier sends recovery codes and lock notices (e-mail, SMS).
	Notifier *notify.Notifier
	// KEK is the platform key-encryption key (key files or an HSM) and
	// the tenants' own KEKs; Keyring the per-tenant data keys they wrap.
	KEK     *kekset.Set
	Keyring *keyring.Keyring
	// Attachments stores files on records, encrypted under the tenants'
	// keys, in the attachment directory.
	Attachments *attachments.Service
	// Jobs is the durable background job queue; Worker runs this
	// instance's share of it while Serve runs.
	Jobs   *jobs.Queue
	Worker *jobs.Worker
	// KeyOps converts fields after their encryption changed, rotates data
	// keys with re-encryption and shreds a tenant's keys.
	KeyOps *keyops.Service
	// Exports writes one-click exports of all of a tenant's data.
	Exports *export.Service
	// Support keeps operator access requests and grants.
	Support *supportaccess.Service
	// AuditKeys signs audit checkpoints; its public keys are published.
	AuditKeys *auditkey.Keys
	// Operators is the operator realm: the vendor's staff, signed in at
	// /ops/api/v1 with sessions and tables of their own.
	Operators *operators.Service
	// Platform appends to the platform's own audit trail (operator-side
	// actions); AuditRetention holds the tenants' retention periods.
	Platform       *audit.PlatformLog
	AuditRetention *audit.RetentionSettings
	// ExportGov holds each tenant's export rules (who may export, the
	// daily row quota, large-export notices, the contract state).
	ExportGov *exportgov.Service
	now       func() time.Time
	metrics   *metrics
}

// OpenApp opens the configured database, applies migrations and builds
// the services.
func OpenApp(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...AppOptions) (*App, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath(), store.Options{AppRole: cfg.DBAppRole})
	if err != nil {
		return nil, err
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied, "dialect", db.Dialect())
	}
	hasher, err := identity.NewHasher(identity.HashParams{MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism})
	if err != nil {
		db.Close()
		return nil, err
	}
	// Times are stored in microseconds; what a write answers must equal
	// what a later read returns.
	now := func() time.Time { return time.Now().Truncate(time.Microsecond) }
	if clock := appOptions(opts).Now; clock != nil {
		now = func() time.Time { return clock().Truncate(time.Microsecond) }
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: cfg.SessionIdle, AbsoluteTimeout: cfg.SessionMax}, now)
	// E-mail and SMS go out in the background (see package notify): SMTP
	// when configured, else only a log line without the content.
	notifier, err := notify.FromConfig(cfg.Notify, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	ids.SetNotifier(notifier)
	settings := identity.NewSettings(db, now)
	ids.SetSettings(settings)
	kek, err := kekset.Open(kekset.Config{Provider: cfg.KEK.Provider, KeyDir: cfg.KeyDirPath(), PKCS11: kekset.PKCS11{
		Module: cfg.KEK.PKCS11Module, Token: cfg.KEK.PKCS11Token, KeyLabel: cfg.KEK.PKCS11KeyLabel,
		PIN: cfg.KEK.PKCS11PIN, PINFile: cfg.KEK.PKCS11PINFile, TenantPINDir: cfg.KEK.PKCS11TenantPINDir}})
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = notifier.Close(closeCtx)
		db.Close()
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	// The audit signing key lives beside the key-encryption key, outside
	// the database; appends sign checkpoints with it.
	signer, err := auditkey.Open(cfg.KeyDirPath())
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = notifier.Close(closeCtx)
		kek.Close()
		db.Close()
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	checkpoints := audit.CheckpointPolicy{Every: audit.DefaultCheckpointEvery, Interval: audit.DefaultCheckpointInterval, Signer: signer}
	db.SetAuditCheckpointer(checkpoints)
	if n, err := chainBacklog(ctx, db, signer.Sign); err != nil {
		log.Error("chaining stored audit events", "err", err)
	} else if n > 0 {
		log.Info("chained audit events stored before the hash chain", "events", n)
	}
	keys := keyring.New(kek.Platform(), db, keyring.Options{Now: now, KEKs: kek})
	recs := records.NewService(db, keys, now)
	ids.SetKeys(keys)
	// Audit queries show sealed and protected values masked.
	auditLog := audit.NewService(db)
	auditLog.SetPresenter(recs)
	auditLog.SetChain(db, signer, checkpoints)
	// Exports record themselves (audit.export) before the trail is read.
	auditLog.SetRecorder(db, now)
	prov := provision.New(db, recs, ids, now)
	prov.SetKeyIssuer(keys)
	platform := audit.NewPlatformLog(db, now)
	prov.SetPlatformRecorder(platform)
	files, err := attachments.OpenDir(cfg.AttachmentDirPath())
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = notifier.Close(closeCtx)
		keys.Close()
		kek.Close()
		db.Close()
		return nil, err
	}
	atts := attachments.NewService(db, recs, keys, files, attachments.Options{MaxBytes: cfg.Attachments.MaxBytes, Now: now, Log: log})
	// Background jobs (export, re-encryption, key rotation, backups,
	// lifecycle): enqueue with queue.Enqueue inside the transaction that
	// needs the job, then queue.Notify after it commits.
	queue := jobs.New(db, now)
	worker := jobs.NewWorker(queue, jobs.WorkerOptions{Log: log, Now: now})
	// Job handlers: register each kind here, one line per kind, e.g.
	// worker.Handle("export.full", exports.RunJob). A kind without a
	// handler on this instance is left to instances that have one.
	keyOps := keyops.New(db, recs, keys, queue, atts, now)
	keyOps.Register(worker)
	exports := export.New(export.Options{Store: db, Records: recs, Users: db, Attachments: atts, Chain: db, AuditKeys: signer, Keys: keys,
		Queue: queue, Scheduler: db, Changes: db, Dir: filepath.Join(cfg.DataDir, "exports"), Now: now, Log: log, SchemaVersion: strconv.Itoa(db.SchemaVersion())})
	exports.Register(worker)
	// Operator access grants: the tenant admins' side.
	support := supportaccess.New(db, func(ctx context.Context, tid tenant.ID) ([]string, error) { return recs.ObjectNames(ctx, tid) }, now)
	supportAlerts := notify.SupportAlerts{Notifier: notifier, Directory: db, Log: log}
	support.SetNotifier(supportAlerts)
	support.SetDigests(db, supportAlerts)
	recs.SetJobQueue(keyOps)
	exportGov := exportgov.New(db, exportgov.Options{Now: now, Log: log})
	exportGov.SetNotifier(notifier, db)
	// The one-click export asks the same rules (role, contract) and
	// reports its size for the admins' notice.
	exports.SetGovernor(exportGov)
	return &App{
		Config: cfg, Log: log, DB: db, Identity: ids, Records: recs, Audit: auditLog,
		Provisioner: prov, Settings: settings, metrics: newMetrics(),
		Notifier: notifier, KEK: kek, Keyring: keys, Attachments: atts,
		Jobs: queue, Worker: worker, KeyOps: keyOps, AuditKeys: signer, Support: support, Exports: exports,
		Platform: platform, AuditRetention: audit.NewRetentionSettings(db, now), now: now,
		ExportGov: exportGov,
		// TOTP secrets are sealed under the platform KEK.
		Operators: operators.New(db, hasher, kek.Platform(), platform, now),
	}, nil
}

// chainBacklog gives hashes to audit events stored before the hash chain
// existed (a database upgraded from an earlier release), and signs each
// newly chained trail's head at once: until then verification would find
// the whole backlog unsigned and report its checkpoints as removed.
func chainBacklog(ctx context.Context, db *store.DB, sign func(audit.Checkpoint) (audit.Checkpoint, error)) (int, error) {
	trails, err := db.AuditTrails(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, tid := range trails {
		n, err := db.ChainAuditBacklog(ctx, tid)
		if err != nil {
			return total, err
		}
		if n > 0 {
			if _, err := db.CheckpointAuditHead(ctx, tid, sign); err != nil {
				return total, err
			}
		}
		total += n
	}
	return total, nil
}

// Close closes the database.
func (a *App) Close() error {
	// Messages already accepted (a recovery code, a lock notice) are sent
	// before the database goes.
	if a.Notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
		defer cancel()
		if err := a.Notifier.Close(ctx); err != nil {
			a.Log.Warn("closing the notifier", "err", err)
		}
	}
	if a.Keyring != nil {
		a.Keyring.Close()
	}
	if a.KEK != nil {
		a.KEK.Close()
	}
	if a.AuditKeys != nil {
		a.AuditKeys.Close()
	}
	return a.DB.Close()
}

// Handler returns the full HTTP handler: API, web UI and middleware.
func (a *App) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	api.New(api.Deps{
		Identity: a.Identity, Records: a.Records, Audit: a.Audit, DB: a.DB, Log: a.Log, Accounts: a.Identity, MFA: a.Identity,
		Lockout: a.Identity, MaxBodyBytes: a.Config.MaxBodyBytes,
		Recovery: a.Identity, Settings: a.Settings, Protection: a.Records, Keys: a.KeyOps, Attachments: a.Attachments, SupportAccess: a.Support,
		Jobs: a.Jobs, AuditSettings: a.AuditRetention, AuditChain: a.Audit,
		ExportGov:   a.ExportGov,
		Changes:     records.NewFeed(a.DB, a.Records),
		FullExports: a.Exports,
	}).Register(mux)
	ui, err := web.New(web.Deps{
		Identity: a.Identity, Records: a.Records, Audit: a.Audit, Accounts: a.Identity, MFA: a.Identity, Log: a.Log,
		Lockout: a.Identity, SecureCookies: a.Config.TLSCert != "", MaxBodyBytes: a.Config.MaxBodyBytes,
		Recovery: a.Identity, Settings: a.Settings, Attachments: a.Attachments,
		Protection: a.Records, Jobs: a.Jobs, AuditTrail: a.Audit, Support: a.Support, FullExports: a.Exports,
		ExportGov: a.ExportGov,
	})
	if err != nil {
		return nil, err
	}
	ui.Register(mux)
	opsapi.New(opsapi.Deps{Operators: a.Operators, Support: a.Support, Grants: a.DB, Tenants: a.DB, Records: a.Records,
		Log: a.Log, MaxBodyBytes: a.Config.MaxBodyBytes}).Register(mux)
	// The operator console (/ops) makes the same decisions with the same
	// services as the operator API.
	opsweb.New(opsweb.Deps{Operators: a.Operators, Support: a.Support, Grants: a.DB, Tenants: a.DB, Records: a.Records, Schema: a.DB,
		Log: a.Log, SecureCookies: a.Config.TLSCert != "", MaxBodyBytes: a.Config.MaxBodyBytes, Now: a.now}).Register(mux)
	return httpx.Chain(mux,
		a.metrics.instrument,
		httpx.TrustProxies(a.Config.TrustedProxies.Prefixes()),
		httpx.RequestIDs,
		httpx.AccessLog(a.Log),
		httpx.Recover(a.Log),
		httpx.SecurityHeaders(a.Config.TLSCert != ""),
	), nil
}

// Server is a running HTTP server.
type Server struct {
	app  *App
	http *http.Server
	ln   net.Listener
}

// Listen binds the configured address (port 0 picks a free port).
func (a *App) Listen() (*Server, error) {
	h, err := a.Handler()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.Config.Addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	if a.Config.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &Server{app: a, http: srv, ln: ln}, nil
}

// URL is the server's base URL.
func (s *Server) URL() string {
	scheme := "http"
	if s.app.Config.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Serve answers requests until ctx is done, then stops accepting new
// connections and lets in-flight requests finish within the shutdown
// timeout.
func (s *Server) Serve(ctx context.Context) error {
	if addr := s.app.Config.MetricsAddr; addr != "" {
		bound, _, err := s.app.metrics.serve(ctx, addr)
		if err != nil {
			return err
		}
		s.app.Log.Info("metrics listening", "url", "http://"+bound+"/metrics")
	}
	// Serve returns only after the job worker stopped, so the caller may
	// close the database then.
	defer s.startWorker(ctx)()
	// Periodic checkpoints, the daily retention purge and the grant-end
	// digests stop, like the worker, before Serve returns.
	defer background(ctx, s.checkpointLoop)()
	defer background(ctx, s.retentionLoop)()
	defer background(ctx, s.digestLoop)()
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.app.Config.TLSCert != "" {
			err = s.http.ServeTLS(s.ln, s.app.Config.TLSCert, s.app.Config.TLSKey)
		} else {
			err = s.http.Serve(s.ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.app.Log.Info("shutting down", "timeout", s.app.Config.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.app.Config.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// CheckpointTrails signs a checkpoint of every trail whose newest events
// have waited longer than the checkpoint interval, so a quiet tenant's
// last events are signed too; it returns how many it signed.
func (a *App) CheckpointTrails(ctx context.Context) (int, error) {
	trails, err := a.DB.AuditTrails(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	n := 0
	for _, tid := range trails {
		head, err := a.DB.AuditHead(ctx, tid)
		if err != nil {
			return n, err
		}
		if head.Seq <= head.CheckpointSeq || now.Sub(head.CheckpointAt) < audit.DefaultCheckpointInterval {
			continue
		}
		done, err := a.DB.CheckpointAuditHead(ctx, tid, a.AuditKeys.Sign)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// background runs loop until ctx ends or the returned stop is called;
// stop returns once loop has.
func background(ctx context.Context, loop func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// digestLoop sends, every minute, the digest of each operator grant that
// expired (a revocation sends its own at once) until ctx ends.
func (s *Server) digestLoop(ctx context.Context) {
	if s.app.Support == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.app.Support.SendEndedDigests(ctx); err != nil && ctx.Err() == nil {
				s.app.Log.Error("sending grant-end digests", "err", err)
			} else if n > 0 {
				s.app.Log.Info("sent grant-end digests", "grants", n)
			}
		}
	}
}

// checkpointLoop runs CheckpointTrails every minute until ctx ends.
func (s *Server) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.app.CheckpointTrails(ctx); err != nil && ctx.Err() == nil {
				s.app.Log.Error("signing audit checkpoints", "err", err)
			}
		}
	}
}

// PurgeAuditTrails runs the retention purge on every trail (each
// tenant's with its own period, the platform's with the default) as of
// now, and returns how many events it removed. A trail that fails (one
// that no longer verifies is refused) does not stop the others; the
// errors come back joined.
func (a *App) PurgeAuditTrails(ctx context.Context, now time.Time) (int64, error) {
	trails, err := a.DB.AuditTrails(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	var errs []error
	for _, tid := range trails {
		days, err := a.AuditRetention.Days(ctx, tid)
		if err == nil {
			var res audit.PurgeResult
			res, err = audit.Purge(ctx, a.DB, a.AuditKeys, tid, now, time.Duration(days)*audit.Day)
			total += res.Events
			if err == nil && res.Events > 0 {
				a.Log.Info("purged audit events past retention", "tenant", string(tid), "events", res.Events,
					"through_seq", res.Anchor.Seq, "cutoff", res.Cutoff)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("audit trail %q: %w", tid, err))
		}
	}
	return total, errors.Join(errs...)
}

// retentionLoop runs PurgeAuditTrails and PurgeChangeFeeds once shortly after start and then
// daily until ctx ends. Several instances may run it at once: a purge
// takes the trail's head row and skips what another already purged.
func (s *Server) retentionLoop(ctx context.Context) {
	first := time.NewTimer(time.Minute)
	defer first.Stop()
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
		case <-t.C:
		}
		if _, err := s.app.PurgeAuditTrails(ctx, s.app.now()); err != nil && ctx.Err() == nil {
			s.app.Log.Error("audit retention purge", "err", err)
		}
		// The change feed's retention rides on the same daily tick; a purge
		// takes the feed's head row, so instances running it at once
		// serialize and the second finds nothing left to remove.
		if _, err := s.app.PurgeChangeFeeds(ctx, s.app.now()); err != nil && ctx.Err() == nil {
			s.app.Log.Error("change feed retention purge", "err", err)
		}
	}
}

// PurgeChangeFeeds removes, in every tenant's change feed, the changes
// older than the configured retention as of now, and returns how many it
// removed. A tenant that fails does not stop the others.
func (a *App) PurgeChangeFeeds(ctx context.Context, now time.Time) (int64, error) {
	keep := records.DefaultChangeRetention
	if d := a.Config.ChangeRetentionDays; d > 0 {
		keep = time.Duration(d) * 24 * time.Hour
	}
	tids, err := a.DB.TenantIDs(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	var errs []error
	for _, tid := range tids {
		n, err := a.DB.PurgeChanges(ctx, tid, now.Add(-keep))
		total += n
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("change feed of %q: %w", tid, err))
			continue
		}
		if n > 0 {
			a.Log.Info("purged changes past retention", "tenant", string(tid), "changes", n)
		}
	}
	return total, errors.Join(errs...)
}

// resumePending queues the conversion of fields left pending by a
// migration or a crash. A failure is logged, not fatal: the next start
// tries again, and reads work on either form of a value meanwhile.
func (s *Server) resumePending(ctx context.Context) {
	if s.app.KeyOps == nil {
		return
	}
	n, err := s.app.KeyOps.ResumePending(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.app.Log.Error("queueing pending field conversions", "err", err)
	case n > 0:
		s.app.Log.Info("queued pending field conversions", "jobs", n)
	}
}

// startWorker runs the background job worker until ctx ends. The stop
// function it returns cancels the worker and waits until the job in
// flight returned and its outcome (or release) was recorded, within the
// shutdown timeout.
func (s *Server) startWorker(ctx context.Context) (stop func()) {
	w := s.app.Worker
	if w == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.resumePending(ctx)
		w.Run(ctx)
	}()
	return func() {
		cancel()
		t := time.NewTimer(s.app.Config.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			// A handler that ignores cancellation: its lease runs out and
			// another instance (or the next start) resumes the job.
			s.app.Log.Error("a background job did not stop within the shutdown timeout", "worker", w.ID())
		}
	}
}
