// Package exportgov governs what leaves a tenant as an export: which roles
// may export lists and which may export all data, a per-user daily quota
// of exported rows, a notice to the tenant's admins about large exports,
// and the contract state exports depend on. The per-list CSV/XLSX export
// (listexport.go) and the one-click full export both ask it before any
// data is read.
package exportgov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Defaults of a tenant whose admin chose nothing.
const (
	// DefaultDailyRowQuota is how many rows one user may export per day.
	DefaultDailyRowQuota int64 = 10_000
	// DefaultNotifyThreshold is the row count from which the tenant's
	// admins are e-mailed about an export.
	DefaultNotifyThreshold int64 = 5_000
	// MaxDailyRowQuota and MaxNotifyThreshold keep a typo from meaning
	// "unlimited".
	MaxDailyRowQuota   int64 = 10_000_000
	MaxNotifyThreshold int64 = 10_000_000
)

// DefaultGracePeriod is how long after its contract ends a tenant's admins
// may still export. It is a placeholder: the tenant lifecycle (contract
// end → grace period → purge) will define the period and replace this
// constant with the tenant's own.
const DefaultGracePeriod = 30 * 24 * time.Hour

// Error codes of exports refused for the contract's state (HTTP 403). An
// export over the quota answers the API's usual rate_limited (429) with
// details saying what remains and when the quota resets.
const (
	CodeContractEnded      = "contract_ended"
	CodeContractNotStarted = "contract_not_started"
)

// Settings are a tenant's export rules.
type Settings struct {
	// ListRoles may export lists (CSV/XLSX of what they see).
	ListRoles []string
	// FullRoles may export all data; admins always may.
	FullRoles []string
	// DailyRowQuota is how many rows each user may export per day, in the
	// tenant's time zone (0: nobody exports anything).
	DailyRowQuota int64
	// NotifyThreshold is the row count from which admins are told.
	NotifyThreshold int64
}

// DefaultSettings are the rules of a tenant whose admin chose none.
func DefaultSettings() Settings {
	return Settings{
		ListRoles:       []string{access.RoleAdmin, access.RoleManager},
		FullRoles:       []string{access.RoleAdmin},
		DailyRowQuota:   DefaultDailyRowQuota,
		NotifyThreshold: DefaultNotifyThreshold,
	}
}

// Validate checks settings an admin proposes and normalizes the role
// lists (sorted, without duplicates; admin always in FullRoles).
func (s *Settings) Validate() error {
	bad := map[string]string{}
	norm := func(key string, roles []string) []string {
		if roles == nil {
			bad[key] = "required (an empty list is allowed)"
			return nil
		}
		out := []string{}
		for _, r := range roles {
			if !access.ValidRole(r) {
				bad[key] = fmt.Sprintf("each role must be one of %v", access.Roles)
				return nil
			}
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
		slices.Sort(out)
		return out
	}
	s.ListRoles = norm("list_roles", s.ListRoles)
	s.FullRoles = norm("full_roles", s.FullRoles)
	if _, failed := bad["full_roles"]; !failed && !slices.Contains(s.FullRoles, access.RoleAdmin) {
		// Admins may always take their data out: the rule is stated, not
		// left to whether the box was ticked.
		s.FullRoles = append(s.FullRoles, access.RoleAdmin)
		slices.Sort(s.FullRoles)
	}
	if s.DailyRowQuota < 0 || s.DailyRowQuota > MaxDailyRowQuota {
		bad["daily_row_quota"] = fmt.Sprintf("must be between 0 and %d", MaxDailyRowQuota)
	}
	if s.NotifyThreshold < 1 || s.NotifyThreshold > MaxNotifyThreshold {
		bad["notify_threshold"] = fmt.Sprintf("must be between 1 and %d", MaxNotifyThreshold)
	}
	if len(bad) > 0 {
		return apperr.InvalidFields(bad)
	}
	return nil
}

// Store is what the service needs from storage.
type Store interface {
	WriteTx(ctx context.Context, tid tenant.ID, fn func(ctx context.Context) error) error
	// LockTenant serializes concurrent settings changes, so before and
	// after in the audit event are exact.
	LockTenant(ctx context.Context, tid tenant.ID) error
	Tenant(ctx context.Context, id tenant.ID) (tenant.Tenant, error)
	// ExportSettings returns the stored settings, and false when none are.
	ExportSettings(ctx context.Context, tid tenant.ID) (Settings, bool, error)
	PutExportSettings(ctx context.Context, tid tenant.ID, s Settings, at time.Time) error
	// ChargeExportRows adds rows to the user's usage of day if the sum
	// stays within quota, in one statement that concurrent charges cannot
	// interleave with; ok is false (and nothing is charged) otherwise.
	ChargeExportRows(ctx context.Context, tid tenant.ID, userID, day string, rows, quota int64, at time.Time) (ok bool, err error)
	// ExportRowsUsed returns the rows the user exported on day.
	ExportRowsUsed(ctx context.Context, tid tenant.ID, userID, day string) (int64, error)
	AppendAudit(ctx context.Context, e audit.Event) error
}

// Notice describes a large export for the tenant's admins.
type Notice struct {
	Kind      string // "list" or "full"
	ExportID  string
	Rows      int64
	ActorID   string
	ActorName string
	At        time.Time
}

// Notifier e-mails an admin about a large export (notify.Notifier).
type Notifier interface {
	LargeExport(ctx context.Context, t tenant.Tenant, admin identity.User, n Notice) error
}

// Directory lists a tenant's users, to find its active admins.
type Directory interface {
	Users(ctx context.Context, tid tenant.ID, afterID string, limit int) ([]identity.User, error)
}

// Options adjust the service.
type Options struct {
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Location is the tenants' time zone for the daily quota; nil:
	// Asia/Shanghai, the zone the UI shows every time in (tenants have no
	// zone of their own yet).
	Location *time.Location
	// GracePeriod after the contract's end during which admins may still
	// export; 0: DefaultGracePeriod.
	GracePeriod time.Duration
	Log         *slog.Logger
}

// Service applies the tenants' export rules.
type Service struct {
	store    Store
	o        Options
	notifier Notifier
	dir      Directory
}

// New returns the service.
func New(st Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			// China has used one fixed offset without daylight saving since 1991.
			loc = time.FixedZone("CST", 8*3600)
		}
		o.Location = loc
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Service{store: st, o: o}
}

// SetNotifier sets how admins are told about large exports and where
// they are found; without it large exports are only logged.
func (s *Service) SetNotifier(n Notifier, dir Directory) {
	s.notifier, s.dir = n, dir
}

// Rules returns the rules in force for a tenant (no permission check:
// internal use by the checks below).
func (s *Service) Rules(ctx context.Context, tid tenant.ID) (Settings, error) {
	st, found, err := s.store.ExportSettings(ctx, tid)
	if err != nil {
		return Settings{}, err
	}
	if !found {
		return DefaultSettings(), nil
	}
	return st, nil
}

// Get returns the tenant's export settings (admins only).
func (s *Service) Get(ctx context.Context, actor tenant.Actor) (Settings, error) {
	if !access.CanManageSettings(actor) {
		return Settings{}, apperr.Forbidden()
	}
	return s.Rules(ctx, actor.TenantID)
}

// SettingsObjectID is the audit object ID of export settings changes
// (object type "settings").
const SettingsObjectID = "export"

// Put replaces the tenant's export settings (admins only). A change is
// audited as settings.update with before and after of each changed rule;
// saving the rules in force again records nothing.
func (s *Service) Put(ctx context.Context, actor tenant.Actor, in Settings) (Settings, error) {
	if !access.CanManageSettings(actor) {
		return Settings{}, apperr.Forbidden()
	}
	if err := in.Validate(); err != nil {
		return Settings{}, err
	}
	now := s.o.Now().UTC()
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		before, err := s.Rules(ctx, actor.TenantID)
		if err != nil {
			return err
		}
		changes := map[string]audit.Change{}
		if !slices.Equal(before.ListRoles, in.ListRoles) {
			changes["list_roles"] = audit.Change{Before: before.ListRoles, After: in.ListRoles}
		}
		if !slices.Equal(before.FullRoles, in.FullRoles) {
			changes["full_roles"] = audit.Change{Before: before.FullRoles, After: in.FullRoles}
		}
		if before.DailyRowQuota != in.DailyRowQuota {
			changes["daily_row_quota"] = audit.Change{Before: before.DailyRowQuota, After: in.DailyRowQuota}
		}
		if before.NotifyThreshold != in.NotifyThreshold {
			changes["notify_threshold"] = audit.Change{Before: before.NotifyThreshold, After: in.NotifyThreshold}
		}
		if len(changes) == 0 {
			return nil
		}
		if err := s.store.PutExportSettings(ctx, actor.TenantID, in, now); err != nil {
			return err
		}
		ev := audit.New(actor, now, audit.ActionSettingsUpdated, "settings", SettingsObjectID, "export settings")
		ev.Changes = changes
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return Settings{}, err
	}
	return in, nil
}

// AllowFullExport reports whether actor may export all of the tenant's
// data now: a user whose role has the export-all permission (admins
// always), while the contract allows it.
func (s *Service) AllowFullExport(ctx context.Context, actor tenant.Actor) error {
	return s.allow(ctx, actor, true)
}

// AllowListExport reports whether actor may export a list now.
func (s *Service) AllowListExport(ctx context.Context, actor tenant.Actor) error {
	return s.allow(ctx, actor, false)
}

func (s *Service) allow(ctx context.Context, actor tenant.Actor, full bool) error {
	// Operators (even under an approved grant) and the system never take
	// data out of a tenant as a file: only the tenant's own users do.
	if actor.Kind != tenant.ActorUser || actor.TenantID == "" {
		return apperr.Forbidden()
	}
	st, err := s.Rules(ctx, actor.TenantID)
	if err != nil {
		return err
	}
	roles := st.ListRoles
	if full {
		roles = st.FullRoles
	}
	// Admins may always export all data, even should a stored row lack
	// them; who exports lists is the admins' own choice.
	if !slices.Contains(roles, actor.Role) && !(full && actor.Role == access.RoleAdmin) {
		return apperr.Forbidden().WithDetail("reason", "your role may not export")
	}
	return s.contract(ctx, actor)
}

// contract refuses exports outside the contract: before it starts, and
// after it ends except for admins during the grace period.
func (s *Service) contract(ctx context.Context, actor tenant.Actor) error {
	t, err := s.store.Tenant(ctx, actor.TenantID)
	if err != nil {
		return err
	}
	now := s.o.Now()
	if !t.ContractStart.IsZero() && now.Before(t.ContractStart) {
		return &apperr.Error{Kind: apperr.KindForbidden, Code: CodeContractNotStarted,
			Message: fmt.Sprintf("exports are not available: the contract starts on %s", day(t.ContractStart, s.o.Location)),
			Details: map[string]any{"contract_start": t.ContractStart.UTC()}}
	}
	if t.ContractEnd == nil || !now.After(*t.ContractEnd) {
		return nil
	}
	end := *t.ContractEnd
	graceEnd := end.Add(s.o.GracePeriod)
	details := map[string]any{"contract_end": end.UTC(), "grace_period_end": graceEnd.UTC()}
	if !now.After(graceEnd) {
		if actor.Role == access.RoleAdmin {
			return nil
		}
		details["admins_only"] = true
		return &apperr.Error{Kind: apperr.KindForbidden, Code: CodeContractEnded, Details: details,
			Message: fmt.Sprintf("exports are closed: the contract ended on %s; until the grace period ends on %s only administrators may export",
				day(end, s.o.Location), day(graceEnd, s.o.Location))}
	}
	return &apperr.Error{Kind: apperr.KindForbidden, Code: CodeContractEnded, Details: details,
		Message: fmt.Sprintf("exports are closed: the contract ended on %s and its grace period ended on %s",
			day(end, s.o.Location), day(graceEnd, s.o.Location))}
}

func day(t time.Time, loc *time.Location) string { return t.In(loc).Format(time.DateOnly) }

// Today returns the quota day of instant t: its date in the tenants'
// time zone.
func (s *Service) Today(t time.Time) string { return day(t, s.o.Location) }

// ChargeRows adds rows to actor's exports of today if that stays within
// the tenant's daily quota, and otherwise refuses (rate_limited, stating
// what remains) without charging anything. Concurrent charges cannot
// together exceed the quota: the check and the addition are one
// statement.
func (s *Service) ChargeRows(ctx context.Context, actor tenant.Actor, rows int64) error {
	return s.charge(ctx, actor, rows, false)
}

// charge is ChargeRows; atLeast says rows is only a lower bound (counting
// stopped once past the quota), which the refusal then says.
func (s *Service) charge(ctx context.Context, actor tenant.Actor, rows int64, atLeast bool) error {
	if actor.Kind != tenant.ActorUser || actor.UserID == "" || actor.TenantID == "" {
		return apperr.Forbidden()
	}
	if rows < 0 {
		return apperr.Invalid("rows must not be negative")
	}
	st, err := s.Rules(ctx, actor.TenantID)
	if err != nil {
		return err
	}
	now := s.o.Now()
	today := s.Today(now)
	if rows == 0 {
		return nil
	}
	ok := false
	if rows <= st.DailyRowQuota {
		ok, err = s.store.ChargeExportRows(ctx, actor.TenantID, actor.UserID, today, rows, st.DailyRowQuota, now.UTC())
		if err != nil {
			return err
		}
	}
	if ok {
		return nil
	}
	used, err := s.store.ExportRowsUsed(ctx, actor.TenantID, actor.UserID, today)
	if err != nil {
		return err
	}
	remaining := max(st.DailyRowQuota-used, 0)
	size := fmt.Sprintf("%d rows", rows)
	if atLeast {
		size = fmt.Sprintf("more than %d rows", st.DailyRowQuota)
	}
	return &apperr.Error{Kind: apperr.KindRateLimited, Code: apperr.CodeRateLimited,
		Message: fmt.Sprintf("this export has %s, but only %d of your daily quota of %d rows remain today (%s); ask for a narrower list, try tomorrow, or ask an administrator to raise the quota",
			size, remaining, st.DailyRowQuota, today),
		Details: map[string]any{"reason": "export_quota", "rows": rows, "remaining": remaining, "daily_row_quota": st.DailyRowQuota,
			"day": today, "resets_at": s.nextDay(now).UTC()}}
}

// nextDay returns the start of the quota day after t's.
func (s *Service) nextDay(t time.Time) time.Time {
	y, m, d := t.In(s.o.Location).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, s.o.Location)
}

// Usage returns the rows actor exported today and the quota.
func (s *Service) Usage(ctx context.Context, actor tenant.Actor) (used, quota int64, err error) {
	st, err := s.Rules(ctx, actor.TenantID)
	if err != nil {
		return 0, 0, err
	}
	used, err = s.store.ExportRowsUsed(ctx, actor.TenantID, actor.UserID, s.Today(s.o.Now()))
	return used, st.DailyRowQuota, err
}

// Exported tells the tenant's active admins about an export of at least
// the notification threshold. Failures are logged: the export stands,
// and it is in the audit log either way.
func (s *Service) Exported(ctx context.Context, actor tenant.Actor, kind, exportID string, rows int64) {
	st, err := s.Rules(ctx, actor.TenantID)
	if err != nil {
		s.o.Log.Error("export notice: settings", "tenant_id", actor.TenantID, "export_id", exportID, "err", err)
		return
	}
	if rows < st.NotifyThreshold {
		return
	}
	s.o.Log.Info("large export", "tenant_id", actor.TenantID, "export_id", exportID, "kind", kind, "rows", rows, "user_id", actor.UserID)
	if s.notifier == nil || s.dir == nil {
		return
	}
	t, err := s.store.Tenant(ctx, actor.TenantID)
	if err != nil {
		s.o.Log.Error("export notice: tenant", "tenant_id", actor.TenantID, "export_id", exportID, "err", err)
		return
	}
	n := Notice{Kind: kind, ExportID: exportID, Rows: rows, ActorID: actor.UserID, ActorName: actor.Name, At: s.o.Now().UTC()}
	after := ""
	for {
		users, err := s.dir.Users(ctx, actor.TenantID, after, 200)
		if err != nil {
			s.o.Log.Error("export notice: admins", "tenant_id", actor.TenantID, "export_id", exportID, "err", err)
			return
		}
		for _, u := range users {
			after = u.ID
			if u.Role != access.RoleAdmin || u.Status != identity.StatusActive {
				continue
			}
			if err := s.notifier.LargeExport(ctx, t, u, n); err != nil {
				s.o.Log.Error("export notice not queued", "tenant_id", actor.TenantID, "export_id", exportID, "err", err)
			}
		}
		if len(users) < 200 {
			return
		}
	}
}

// MarshalRoles and UnmarshalRoles store role lists (JSON arrays).
func MarshalRoles(roles []string) string {
	if roles == nil {
		roles = []string{}
	}
	b, _ := json.Marshal(roles)
	return string(b)
}

// UnmarshalRoles reads a stored role list.
func UnmarshalRoles(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, errors.New("exportgov: stored role list is not a JSON array")
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}
