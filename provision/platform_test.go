package provision_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/store"
	"github.com/havencrm/haven/tenant"
)

func platformEvents(t *testing.T, db *store.DB) []audit.Event {
	t.Helper()
	evs, err := db.QueryAudit(context.Background(), audit.PlatformTrail, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestCreationInPlatformTrail: a new tenant is recorded in the platform
// trail (its ID, slug and name, not its admin's contact details), after
// the commit; inside a caller's transaction, the caller records it.
func TestCreationInPlatformTrail(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := setup(t, db)
		e.prov.SetPlatformRecorder(audit.NewPlatformLog(db, func() time.Time { return now }))
		in := valid()
		in.By = audit.SystemActor("haven tenant create", "cli user ops")
		res, err := e.prov.CreateTenant(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		evs := platformEvents(t, db)
		if len(evs) != 1 {
			t.Fatalf("platform events %+v", evs)
		}
		ev := evs[0]
		if ev.TenantID != "" || ev.Action != audit.ActionTenantCreated || ev.ObjectType != "tenant" || ev.ObjectID != string(res.Tenant.ID) ||
			ev.ObjectName != "acme" || ev.ActorType != "system" || ev.ActorName != "system (haven tenant create, cli user ops)" || !ev.At.Equal(now) {
			t.Errorf("platform event %+v", ev)
		}
		if ev.Changes["name"].After != "Acme Ltd" || ev.Changes["contract_end"].After == nil || len(ev.Changes) != 3 {
			t.Errorf("changes %+v", ev.Changes)
		}

		// Inside the caller's transaction: nothing until the caller
		// records it after its commit (or nothing at all if it rolls back).
		second := provision.Input{ID: tenant.ID(tenant.NewID()), Slug: "beta", Name: "Beta", AdminEmail: "a@beta.example.com"}
		var created tenant.Tenant
		err = db.WriteTx(ctx, second.ID, func(ctx context.Context) error {
			r, err := e.prov.CreateTenant(ctx, second)
			created = r.Tenant
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(platformEvents(t, db)); n != 1 {
			t.Fatalf("%d platform events before the caller recorded its creation", n)
		}
		if err := e.prov.RecordCreated(ctx, audit.PlatformActor{}, created); err != nil {
			t.Fatal(err)
		}
		evs = platformEvents(t, db)
		if len(evs) != 2 || evs[0].ObjectName != "beta" || evs[0].ActorName != "system" {
			t.Errorf("platform events %+v", evs)
		}
		rolledBack := provision.Input{ID: tenant.ID(tenant.NewID()), Slug: "gamma", Name: "Gamma", AdminEmail: "a@gamma.example.com"}
		_ = db.WriteTx(ctx, rolledBack.ID, func(ctx context.Context) error {
			if _, err := e.prov.CreateTenant(ctx, rolledBack); err != nil {
				return err
			}
			return errors.New("the caller gives up")
		})
		if n := len(platformEvents(t, db)); n != 2 {
			t.Errorf("a rolled-back creation reached the platform trail (%d events)", n)
		}
		if rep, err := audit.Verify(ctx, db, audit.PlatformTrail, nil, audit.VerifyOptions{}); err != nil || !rep.OK || rep.Events != 2 {
			t.Errorf("platform trail %+v %v", rep, err)
		}
	})
}

type failingRecorder struct{}

func (failingRecorder) TenantCreated(context.Context, audit.PlatformActor, tenant.Tenant) error {
	return errors.New("platform trail unavailable")
}

// TestCreationSurvivesAFailedPlatformRecord: the tenant is committed
// before the platform record, so a failure there returns the result (the
// one-time password is shown nowhere else) with ErrPlatformAudit.
func TestCreationSurvivesAFailedPlatformRecord(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	e := setup(t, db)
	e.prov.SetPlatformRecorder(failingRecorder{})
	res, err := e.prov.CreateTenant(context.Background(), valid())
	if !errors.Is(err, provision.ErrPlatformAudit) || res.OneTimePassword == "" || res.Tenant.ID == "" {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := db.TenantBySlug(context.Background(), "acme"); err != nil {
		t.Fatalf("the tenant is not there: %v", err)
	}
}
