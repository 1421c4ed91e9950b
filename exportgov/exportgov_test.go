package exportgov_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/exportgov"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// t0 is 10:00 in Shanghai.
var t0 = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)

func newTenant(t *testing.T, db *store.DB, slug string, end *time.Time) tenant.ID {
	t.Helper()
	id := tenant.ID(tenant.NewID())
	tn := tenant.Tenant{ID: id, Slug: slug, Name: slug, Status: tenant.StatusActive, ContractStart: t0.Add(-time.Hour), ContractEnd: end, CreatedAt: t0}
	if err := db.WriteTx(context.Background(), id, func(ctx context.Context) error { return db.InsertTenant(ctx, tn) }); err != nil {
		t.Fatalf("insert tenant: %v", err)
	}
	return id
}

func user(tid tenant.ID, role string) tenant.Actor {
	return tenant.Actor{Kind: tenant.ActorUser, TenantID: tid, UserID: tenant.NewID(), Name: role + " user", Role: role}
}

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "non-apperr: " + err.Error()
}

func TestExportSettingsValidationAndAudit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: t0}
		svc := exportgov.New(db, exportgov.Options{Now: clk.Now})
		tid := newTenant(t, db, "acme", nil)
		admin := user(tid, "admin")

		got, err := svc.Get(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		want := exportgov.DefaultSettings()
		if !slices.Equal(got.ListRoles, []string{"admin", "manager"}) || !slices.Equal(got.FullRoles, []string{"admin"}) ||
			got.DailyRowQuota != 10000 || got.NotifyThreshold != 5000 || got.DailyRowQuota != want.DailyRowQuota {
			t.Fatalf("defaults %+v", got)
		}
		for _, role := range []string{"manager", "sales"} {
			if _, err := svc.Get(ctx, user(tid, role)); !apperr.Is(err, apperr.KindForbidden) {
				t.Errorf("%s reads settings: %v", role, err)
			}
			if _, err := svc.Put(ctx, user(tid, role), exportgov.DefaultSettings()); !apperr.Is(err, apperr.KindForbidden) {
				t.Errorf("%s changes settings: %v", role, err)
			}
		}
		op := tenant.Actor{Kind: tenant.ActorOperator, TenantID: tid, UserID: tenant.NewID(), Role: "admin"}
		if _, err := svc.Put(ctx, op, exportgov.DefaultSettings()); !apperr.Is(err, apperr.KindForbidden) {
			t.Errorf("operator with an admin role string changes settings: %v", err)
		}
		bad := []struct {
			name  string
			s     exportgov.Settings
			field string
		}{
			{"unknown role", exportgov.Settings{ListRoles: []string{"root"}, FullRoles: []string{}, DailyRowQuota: 1, NotifyThreshold: 1}, "list_roles"},
			{"role case", exportgov.Settings{ListRoles: []string{}, FullRoles: []string{"Admin"}, DailyRowQuota: 1, NotifyThreshold: 1}, "full_roles"},
			{"nil roles", exportgov.Settings{FullRoles: []string{}, DailyRowQuota: 1, NotifyThreshold: 1}, "list_roles"},
			{"negative quota", exportgov.Settings{ListRoles: []string{}, FullRoles: []string{}, DailyRowQuota: -1, NotifyThreshold: 1}, "daily_row_quota"},
			{"huge quota", exportgov.Settings{ListRoles: []string{}, FullRoles: []string{}, DailyRowQuota: exportgov.MaxDailyRowQuota + 1, NotifyThreshold: 1}, "daily_row_quota"},
			{"zero threshold", exportgov.Settings{ListRoles: []string{}, FullRoles: []string{}, DailyRowQuota: 1, NotifyThreshold: 0}, "notify_threshold"},
		}
		for _, tc := range bad {
			_, err := svc.Put(ctx, admin, tc.s)
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.CodeInvalidRequest {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if fields, _ := e.Details["fields"].(map[string]string); fields[tc.field] == "" {
				t.Errorf("%s: details %v do not name %s", tc.name, e.Details, tc.field)
			}
		}
		if got, _ := svc.Get(ctx, admin); got.DailyRowQuota != 10000 {
			t.Fatalf("a refused change was stored: %+v", got)
		}

		// Admin is always in full_roles; duplicates go.
		put, err := svc.Put(ctx, admin, exportgov.Settings{ListRoles: []string{"sales", "sales", "admin"}, FullRoles: []string{"manager"}, DailyRowQuota: 300, NotifyThreshold: 20})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(put.ListRoles, []string{"admin", "sales"}) || !slices.Equal(put.FullRoles, []string{"admin", "manager"}) {
			t.Fatalf("normalized %+v", put)
		}
		got, _ = svc.Get(ctx, admin)
		if !slices.Equal(got.ListRoles, put.ListRoles) || !slices.Equal(got.FullRoles, put.FullRoles) || got.DailyRowQuota != 300 || got.NotifyThreshold != 20 {
			t.Fatalf("stored %+v", got)
		}
		events, err := db.QueryAudit(ctx, tid, audit.Filter{Action: audit.ActionSettingsUpdated, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].ObjectType != "settings" || events[0].ObjectID != "export" || events[0].ActorID != admin.UserID {
			t.Fatalf("audit events %+v", events)
		}
		ch := events[0].Changes
		if fmt.Sprint(ch["daily_row_quota"].Before) != "10000" || fmt.Sprint(ch["daily_row_quota"].After) != "300" || ch["list_roles"].After == nil {
			t.Errorf("audited changes %+v", ch)
		}
		// Saving the same rules again records nothing.
		if _, err := svc.Put(ctx, admin, got); err != nil {
			t.Fatal(err)
		}
		if events, _ := db.QueryAudit(ctx, tid, audit.Filter{Action: audit.ActionSettingsUpdated, Limit: 10}); len(events) != 1 {
			t.Errorf("an unchanged save was audited: %d events", len(events))
		}
		// Another tenant still has the defaults.
		other := newTenant(t, db, "other", nil)
		if got, _ := svc.Get(ctx, user(other, "admin")); got.DailyRowQuota != 10000 {
			t.Errorf("settings leaked across tenants: %+v", got)
		}
	})
}

func TestExportPermissionsByRole(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := exportgov.New(db, exportgov.Options{Now: func() time.Time { return t0 }})
		tid := newTenant(t, db, "acme", nil)
		admin := user(tid, "admin")
		check := func(step string, list, full map[string]bool) {
			t.Helper()
			for _, role := range []string{"admin", "manager", "sales"} {
				if err := svc.AllowListExport(ctx, user(tid, role)); (err == nil) != list[role] {
					t.Errorf("%s: list export by %s: %v", step, role, err)
				} else if err != nil && code(err) != apperr.CodeForbidden {
					t.Errorf("%s: list export by %s refused with %s", step, role, code(err))
				}
				if err := svc.AllowFullExport(ctx, user(tid, role)); (err == nil) != full[role] {
					t.Errorf("%s: full export by %s: %v", step, role, err)
				}
			}
		}
		check("defaults", map[string]bool{"admin": true, "manager": true}, map[string]bool{"admin": true})
		if _, err := svc.Put(ctx, admin, exportgov.Settings{ListRoles: []string{"sales"}, FullRoles: []string{"sales"}, DailyRowQuota: 5, NotifyThreshold: 5}); err != nil {
			t.Fatal(err)
		}
		check("sales only", map[string]bool{"sales": true}, map[string]bool{"admin": true, "sales": true})

		// Nobody but a tenant user exports: not an operator under a grant,
		// not the system, not an actor without a tenant.
		op := tenant.Operator(tid, tenant.NewID(), "op", tenant.Grant{ID: "g", Objects: []string{"account"}}, "", "", "")
		op.Role = "admin"
		for name, a := range map[string]tenant.Actor{"operator": op, "system": tenant.System(tid, ""),
			"no tenant": {Kind: tenant.ActorUser, UserID: "u", Role: "admin"}} {
			if err := svc.AllowListExport(ctx, a); !apperr.Is(err, apperr.KindForbidden) {
				t.Errorf("%s list export: %v", name, err)
			}
			if err := svc.AllowFullExport(ctx, a); !apperr.Is(err, apperr.KindForbidden) {
				t.Errorf("%s full export: %v", name, err)
			}
			if err := svc.ChargeRows(ctx, a, 1); !apperr.Is(err, apperr.KindForbidden) {
				t.Errorf("%s charge: %v", name, err)
			}
		}
	})
}

func TestExportContractState(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: t0}
		svc := exportgov.New(db, exportgov.Options{Now: clk.Now})
		end := t0.Add(24 * time.Hour) // 2026-03-11 10:00 Shanghai
		tid := newTenant(t, db, "acme", &end)
		admin, manager := user(tid, "admin"), user(tid, "manager")
		allowBoth := func(a tenant.Actor) error {
			return errors.Join(svc.AllowListExport(ctx, a), svc.AllowFullExport(ctx, a))
		}

		if err := allowBoth(admin); err != nil {
			t.Fatalf("valid contract, admin: %v", err)
		}
		if err := svc.AllowListExport(ctx, manager); err != nil {
			t.Fatalf("valid contract, manager: %v", err)
		}
		clk.Set(end) // the last instant of the contract still counts
		if err := svc.AllowListExport(ctx, manager); err != nil {
			t.Fatalf("at contract end, manager: %v", err)
		}

		// Grace period: admins only.
		clk.Set(end.Add(time.Microsecond))
		if err := allowBoth(admin); err != nil {
			t.Fatalf("grace period, admin: %v", err)
		}
		err := svc.AllowListExport(ctx, manager)
		e, ok := apperr.As(err)
		if !ok || e.Code != exportgov.CodeContractEnded || e.Kind != apperr.KindForbidden {
			t.Fatalf("grace period, manager: %v", err)
		}
		if !strings.Contains(e.Message, "2026-03-11") || !strings.Contains(e.Message, "only administrators") || !strings.Contains(e.Message, "2026-04-10") {
			t.Errorf("message does not say why and since when: %q", e.Message)
		}
		clk.Set(end.Add(exportgov.DefaultGracePeriod))
		if err := allowBoth(admin); err != nil {
			t.Fatalf("last instant of the grace period, admin: %v", err)
		}

		// After the grace period nobody exports.
		clk.Set(end.Add(exportgov.DefaultGracePeriod + time.Microsecond))
		for _, a := range []tenant.Actor{admin, manager} {
			for name, f := range map[string]func(context.Context, tenant.Actor) error{"list": svc.AllowListExport, "full": svc.AllowFullExport} {
				if a.Role == "manager" && name == "full" {
					continue // refused for the role before the contract matters
				}
				err := f(ctx, a)
				e, ok := apperr.As(err)
				if !ok || e.Code != exportgov.CodeContractEnded {
					t.Errorf("after grace, %s %s export: %v", a.Role, name, err)
					continue
				}
				if !strings.Contains(e.Message, "grace period ended on 2026-04-10") || e.Details["contract_end"] == nil {
					t.Errorf("message %q details %v", e.Message, e.Details)
				}
			}
		}

		// A contract that has not started yet.
		clk.Set(t0.Add(-2 * time.Hour))
		if err := svc.AllowListExport(ctx, admin); code(err) != exportgov.CodeContractNotStarted {
			t.Errorf("before the contract: %v", err)
		}
		// Open-ended contracts never end.
		open := newTenant(t, db, "open", nil)
		clk.Set(t0.Add(10 * 365 * 24 * time.Hour))
		if err := svc.AllowListExport(ctx, user(open, "manager")); err != nil {
			t.Errorf("open-ended contract: %v", err)
		}
	})
}

func TestExportChargeRowsQuotaAndDays(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: t0}
		svc := exportgov.New(db, exportgov.Options{Now: clk.Now})
		tid := newTenant(t, db, "acme", nil)
		admin := user(tid, "admin")
		if _, err := svc.Put(ctx, admin, exportgov.Settings{ListRoles: []string{"admin"}, FullRoles: []string{"admin"}, DailyRowQuota: 100, NotifyThreshold: 50}); err != nil {
			t.Fatal(err)
		}
		used := func(a tenant.Actor) int64 {
			t.Helper()
			u, q, err := svc.Usage(ctx, a)
			if err != nil || q != 100 {
				t.Fatalf("usage: %d %d %v", u, q, err)
			}
			return u
		}
		if err := svc.ChargeRows(ctx, admin, 60); err != nil {
			t.Fatal(err)
		}
		err := svc.ChargeRows(ctx, admin, 41)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindRateLimited || e.Code != apperr.CodeRateLimited {
			t.Fatalf("over quota: %v", err)
		}
		if !strings.Contains(e.Message, "only 40 of your daily quota of 100 rows remain") || fmt.Sprint(e.Details["remaining"]) != "40" {
			t.Errorf("refusal does not state the remaining quota: %q %v", e.Message, e.Details)
		}
		if used(admin) != 60 {
			t.Fatalf("a refused charge was charged: %d", used(admin))
		}
		// One export bigger than the whole quota is refused too.
		if err := svc.ChargeRows(ctx, admin, 101); !apperr.Is(err, apperr.KindRateLimited) {
			t.Fatalf("export above the quota: %v", err)
		}
		if err := svc.ChargeRows(ctx, admin, -5); !apperr.Is(err, apperr.KindInvalid) {
			t.Fatalf("negative charge (would refund): %v", err)
		}
		if err := svc.ChargeRows(ctx, admin, 40); err != nil {
			t.Fatalf("exactly the rest: %v", err)
		}
		if err := svc.ChargeRows(ctx, admin, 1); !apperr.Is(err, apperr.KindRateLimited) {
			t.Fatalf("past the quota: %v", err)
		}
		if err := svc.ChargeRows(ctx, admin, 0); err != nil {
			t.Fatalf("an empty export: %v", err)
		}
		// Each user has a quota of their own.
		other := user(tid, "admin")
		if err := svc.ChargeRows(ctx, other, 100); err != nil {
			t.Fatalf("another user: %v", err)
		}

		// The day is Shanghai's: 23:59 there is still today, 00:00 is
		// tomorrow (16:00 UTC).
		clk.Set(time.Date(2026, 3, 10, 15, 59, 59, 0, time.UTC))
		if err := svc.ChargeRows(ctx, admin, 1); !apperr.Is(err, apperr.KindRateLimited) {
			t.Fatalf("still today in Shanghai: %v", err)
		}
		clk.Set(time.Date(2026, 3, 10, 16, 0, 0, 0, time.UTC))
		if used(admin) != 0 {
			t.Fatalf("the next day starts with %d rows used", used(admin))
		}
		if err := svc.ChargeRows(ctx, admin, 100); err != nil {
			t.Fatalf("next day: %v", err)
		}
		// A lower quota applies at once; the refusal says nothing remains.
		if _, err := svc.Put(ctx, admin, exportgov.Settings{ListRoles: []string{"admin"}, FullRoles: []string{"admin"}, DailyRowQuota: 50, NotifyThreshold: 50}); err != nil {
			t.Fatal(err)
		}
		if err := svc.ChargeRows(ctx, admin, 1); err == nil || !strings.Contains(err.Error(), "only 0 of your daily quota of 50") {
			t.Fatalf("lowered quota: %v", err)
		}
	})
}

// TestExportChargeRowsConcurrent: many exports at once can together take the
// quota exactly, never more.
func TestExportChargeRowsConcurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := exportgov.New(db, exportgov.Options{Now: func() time.Time { return t0 }})
		tid := newTenant(t, db, "acme", nil)
		admin := user(tid, "admin")
		if _, err := svc.Put(ctx, admin, exportgov.Settings{ListRoles: []string{"admin"}, FullRoles: []string{"admin"}, DailyRowQuota: 1000, NotifyThreshold: 50}); err != nil {
			t.Fatal(err)
		}
		const workers, each = 40, 70 // 40×70 = 2800 asked, 1000 allowed: 14 fit
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		start := make(chan struct{})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := svc.ChargeRows(ctx, admin, each)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case apperr.Is(err, apperr.KindRateLimited):
					refused++
				default:
					t.Errorf("charge: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		used, _, err := svc.Usage(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		if used > 1000 || int64(ok*each) != used {
			t.Fatalf("%d charges succeeded, %d refused, %d rows used of 1000", ok, refused, used)
		}
		if ok != 1000/each {
			t.Errorf("%d charges succeeded, want %d (the quota was not used up)", ok, 1000/each)
		}
	})
}
