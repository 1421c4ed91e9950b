package supportaccess

import (
	"context"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Withdraw lets the operator who asked take back a pending request. The
// state machine decides (only pending, only the requesting operator); the
// change and its event in the tenant's trail are written together, so the
// admins see who withdrew and when. Another operator's request answers
// not found, exactly like a missing one, so that an operator cannot learn
// which request IDs exist.
func (s *Service) Withdraw(ctx context.Context, op Operator, tid tenant.ID, id string) (Grant, error) {
	if op.ID == "" {
		return Grant{}, apperr.Unauthenticated()
	}
	now := s.now().UTC()
	var out Grant
	err := s.store.WriteTx(ctx, tid, func(ctx context.Context) error {
		g, version, err := s.store.Grant(ctx, tid, id)
		if err != nil {
			return err
		}
		if g.OperatorID != op.ID {
			return apperr.NotFound("access request")
		}
		next, err := g.At(now).Withdraw(op.ID, now)
		if err != nil {
			return asAppErr(err)
		}
		if err := s.store.UpdateGrant(ctx, tid, next, version, now); err != nil {
			return err
		}
		e := operatorEvent(op, tid, now, ActionWithdrawn, next)
		e.Changes = map[string]audit.Change{"state": {Before: string(g.State), After: string(next.State)}}
		out = next
		return s.store.AppendAudit(ctx, e)
	})
	return out, err
}
