package operators

import (
	"context"
	"fmt"
	"strings"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
)

// ActionOperatorDeactivated is the platform trail's record of an
// operator's removal.
const ActionOperatorDeactivated = "operator.deactivate"

// Deactivate removes an operator who leaves or should no longer reach
// tenants: every session ends at once, sign-in is refused from now on, and
// any grant they hold is useless because every request under it starts
// with an authenticated operator. The operator's row stays, so the trails
// that name them keep a name. reason is recorded in the platform trail.
func (s *Service) Deactivate(ctx context.Context, email, reason string, by audit.PlatformActor) (Operator, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Operator{}, apperr.InvalidFields(map[string]string{"reason": "required: why the operator is deactivated"})
	}
	o, err := s.store.OperatorByEmail(ctx, email)
	if err != nil {
		return Operator{}, err
	}
	now := s.now().UTC()
	done, err := s.store.DeactivateOperator(ctx, o.ID, now)
	if err != nil {
		return Operator{}, err
	}
	// Sessions end even when the operator was deactivated before, in
	// case an earlier run stopped between the two steps.
	if err := s.store.RevokeOperatorSessions(ctx, o.ID, "", now); err != nil {
		return Operator{}, err
	}
	if !done {
		return o, apperr.Conflict("the operator %s is already deactivated", email)
	}
	o.DeactivatedAt = &now
	ev := s.platform.Event(by, ActionOperatorDeactivated, "operator", o.ID, o.Email)
	ev.Changes = map[string]audit.Change{"reason": {After: reason}}
	if err := s.platform.Append(ctx, ev); err != nil {
		return o, fmt.Errorf("%w: %w", ErrPlatformAudit, err)
	}
	return o, nil
}
