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
	a.toAdmins(ctx, tid, g.ID, "access request notice", func(t tenant.Tenant, u identity.User) error {
		return a.Notifier.AccessRequest(ctx, t, u, g)
	})
}

// AccessEnded e-mails the tenant's active admins the digest of a grant
// that ended (supportaccess.EndNotifier).
func (a SupportAlerts) AccessEnded(ctx context.Context, tid tenant.ID, d supportaccess.Digest) {
	a.toAdmins(ctx, tid, d.Grant.ID, "access digest", func(t tenant.Tenant, u identity.User) error {
		return a.Notifier.AccessEnded(ctx, t, u, d)
	})
}

// toAdmins calls send for every active admin of the tenant, logging
// failures (what as the message's name) without the message's content.
func (a SupportAlerts) toAdmins(ctx context.Context, tid tenant.ID, grantID, what string, send func(tenant.Tenant, identity.User) error) {
	t, err := a.Directory.Tenant(ctx, tid)
	if err != nil {
		a.Log.Error(what+": tenant", "tenant_id", tid, "grant_id", grantID, "err", err)
		return
	}
	after := ""
	for {
		users, err := a.Directory.Users(ctx, tid, after, 200)
		if err != nil {
			a.Log.Error(what+": admins", "tenant_id", tid, "grant_id", grantID, "err", err)
			return
		}
		for _, u := range users {
			after = u.ID
			if u.Role != "admin" || u.Status != identity.StatusActive {
				continue
			}
			if err := send(t, u); err != nil {
				a.Log.Error(what+" not queued", "tenant_id", tid, "grant_id", grantID, "err", err)
			}
		}
		if len(users) < 200 {
			return
		}
	}
}
