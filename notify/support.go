package notify

import (
	"context"
	"log/slog"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/supportaccess"
	"github.com/havencrm/haven/tenant"
)

// AdminDirectory finds a tenant and its active admins.
type AdminDirectory interface {
	Tenant(ctx context.Context, id tenant.ID) (tenant.Tenant, error)
	Users(ctx context.Context, tid tenant.ID, afterID string, limit int) ([]identity.User, error)
}

// SupportAlerts tells every active admin of a tenant about a new operator
// access request (supportaccess.Notifier).
type SupportAlerts struct {
	Notifier  *Notifier
	Directory AdminDirectory
	Log       *slog.Logger
}

// AccessRequested e-mails the tenant's active admins. Failures are logged:
// the request stands, and admins also see it in the app.
func (a SupportAlerts) AccessRequested(ctx context.Context, tid tenant.ID, g supportaccess.Grant) {
	t, err := a.Directory.Tenant(ctx, tid)
	if err != nil {
		a.Log.Error("access request notice: tenant", "tenant_id", tid, "grant_id", g.ID, "err", err)
		return
	}
	after := ""
	for {
		users, err := a.Directory.Users(ctx, tid, after, 200)
		if err != nil {
			a.Log.Error("access request notice: admins", "tenant_id", tid, "grant_id", g.ID, "err", err)
			return
		}
		for _, u := range users {
			after = u.ID
			if u.Role != "admin" || u.Status != identity.StatusActive {
				continue
			}
			if err := a.Notifier.AccessRequest(ctx, t, u, g); err != nil {
				a.Log.Error("access request notice not queued", "tenant_id", tid, "grant_id", g.ID, "err", err)
			}
		}
		if len(users) < 200 {
			return
		}
	}
}
