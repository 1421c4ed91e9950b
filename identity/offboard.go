package identity

import (
	"context"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// Actions of sessions and offboarding.
const (
	ActionSessionRevoked = "session.revoke"
	ActionUserOffboarded = "user.offboard"
	ActionOwnerChanged   = "record.transfer"
)

// TransferredRecord is one record whose owner offboarding changed.
type TransferredRecord struct {
	Object  string
	ID      string
	Name    string
	Version int64 // the new version
}

// SessionAdmin lists and ends individual sessions.
type SessionAdmin interface {
	UserSessions(ctx context.Context, tenantID tenant.ID, userID string, now time.Time) ([]Session, error)
	SessionByID(ctx context.Context, tenantID tenant.ID, id string) (Session, error)
}

// OwnershipTransfer moves every record of one owner to another.
type OwnershipTransfer interface {
	TransferRecords(ctx context.Context, tenantID tenant.ID, from, to, by string, at time.Time) ([]TransferredRecord, error)
}

// Sessions lists the live sessions of a user: users see their own,
// admins anyone's.
func (s *Service) Sessions(ctx context.Context, actor tenant.Actor, userID string) ([]Session, error) {
	if userID != actor.UserID && !access.CanManageUsers(actor) {
		return nil, apperr.NotFound("user")
	}
	if _, err := s.lookup(ctx, actor.TenantID, userID); err != nil {
		return nil, err
	}
	return s.store.UserSessions(ctx, actor.TenantID, userID, s.now().UTC())
}

// EndSession ends one session: the user's own, or any of the tenant's for
// an admin. Another user's session of a non-admin answers not_found.
func (s *Service) EndSession(ctx context.Context, actor tenant.Actor, sessionID string) error {
	if !tenant.ValidID(sessionID) {
		return apperr.NotFound("session")
	}
	now := s.now().UTC()
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		sess, err := s.store.SessionByID(ctx, actor.TenantID, sessionID)
		if err != nil {
			return err
		}
		if sess.UserID != actor.UserID && !access.CanManageUsers(actor) {
			return apperr.NotFound("session")
		}
		if sess.RevokedAt != nil {
			return nil
		}
		if err := s.store.RevokeSession(ctx, actor.TenantID, sess.ID, now); err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionSessionRevoked, "session", sess.ID, sess.UserAgent)
		ev.Changes = map[string]audit.Change{"user_id": {Before: sess.UserID}, "ip": {Before: sess.IP}}
		return s.store.AppendAudit(ctx, ev)
	})
}

// OffboardResult says what offboarding did.
type OffboardResult struct {
	User            User
	Transferred     []TransferredRecord
	SessionsRevoked int
}

// Offboard deactivates a leaving user, ends their sessions and gives all
// their records to another active user, in one transaction and one
// audited action (plus one ownership event per record, so each record's
// own history shows the change).
func (s *Service) Offboard(ctx context.Context, actor tenant.Actor, userID, transferTo string) (OffboardResult, error) {
	if !access.CanManageUsers(actor) {
		return OffboardResult{}, apperr.Forbidden()
	}
	if userID == actor.UserID {
		return OffboardResult{}, apperr.Conflict("you cannot offboard yourself")
	}
	if userID == transferTo {
		return OffboardResult{}, apperr.InvalidFields(map[string]string{"transfer_to": "must be another user"})
	}
	now := s.now().UTC()
	var res OffboardResult
	err := s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		if err := s.store.LockTenant(ctx, actor.TenantID); err != nil {
			return err
		}
		u, err := s.lookup(ctx, actor.TenantID, userID)
		if err != nil {
			return err
		}
		heir, err := s.lookup(ctx, actor.TenantID, transferTo)
		if apperr.Is(err, apperr.KindNotFound) || (err == nil && heir.Status != StatusActive) {
			return apperr.InvalidFields(map[string]string{"transfer_to": "must be an active user of this tenant"})
		}
		if err != nil {
			return err
		}
		if u.Role == access.RoleAdmin && u.Status == StatusActive {
			if err := s.keepOneAdmin(ctx, actor.TenantID); err != nil {
				return err
			}
		}
		before := userAuditFields(u)
		if u.Status != StatusDeactivated {
			u.Status, u.UpdatedAt = StatusDeactivated, now
			if err := s.store.UpdateUser(ctx, actor.TenantID, u); err != nil {
				return err
			}
		}
		n, err := s.store.RevokeUserSessions(ctx, actor.TenantID, u.ID, "", now)
		if err != nil {
			return err
		}
		moved, err := s.store.TransferRecords(ctx, actor.TenantID, u.ID, heir.ID, actor.UserID, now)
		if err != nil {
			return err
		}
		for _, r := range moved {
			ev := audit.New(actor, now, ActionOwnerChanged, r.Object, r.ID, r.Name)
			ev.Changes = map[string]audit.Change{"owner_id": {Before: u.ID, After: heir.ID}}
			if err := s.store.AppendAudit(ctx, ev); err != nil {
				return err
			}
		}
		perObject := map[string]int{}
		for _, r := range moved {
			perObject[r.Object]++
		}
		ev := audit.New(actor, now, ActionUserOffboarded, "user", u.ID, u.Name)
		ev.Changes = audit.Diff(before, userAuditFields(u))
		ev.Changes["records_transferred_to"] = audit.Change{After: heir.ID}
		ev.Changes["records_transferred"] = audit.Change{After: perObject}
		ev.Changes["sessions_revoked"] = audit.Change{After: n}
		if err := s.store.AppendAudit(ctx, ev); err != nil {
			return err
		}
		res = OffboardResult{User: u, Transferred: moved, SessionsRevoked: n}
		return nil
	})
	return res, err
}
