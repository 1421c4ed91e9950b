// Package access makes every authorization decision: which role may do
// what with which object, and whose records it reaches.
package access

import (
	"slices"

	"github.com/havencrm/haven/tenant"
)

// Standard roles.
const (
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleSales   = "sales"
)

// Roles lists the standard roles, most powerful first.
var Roles = []string{RoleAdmin, RoleManager, RoleSales}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }

// Action is something done to a record.
type Action string

const (
	Read   Action = "read"
	Create Action = "create"
	Edit   Action = "edit"
	Delete Action = "delete"
)

// Scope says whose records a permission reaches.
type Scope string

const (
	ScopeNone Scope = ""
	ScopeOwn  Scope = "own"
	ScopeAll  Scope = "all"
)

// ObjectPermission is what a role may do with one object.
type ObjectPermission struct {
	Actions []Action
	Scope   Scope
}

// Allows reports whether the permission includes action.
func (p ObjectPermission) Allows(a Action) bool { return slices.Contains(p.Actions, a) }

var allActions = []Action{Read, Create, Edit, Delete}

// ForObject returns the permission of role on object. Sales users work
// on the records they own; managers and admins on all records.
func ForObject(role, object string) ObjectPermission {
	switch role {
	case RoleAdmin, RoleManager:
		return ObjectPermission{Actions: allActions, Scope: ScopeAll}
	case RoleSales:
		return ObjectPermission{Actions: allActions, Scope: ScopeOwn}
	}
	return ObjectPermission{}
}

// CanRecord decides whether actor may perform action on a record of
// object owned by ownerID (empty ownerID for a record not yet created).
func CanRecord(actor tenant.Actor, object string, action Action, ownerID string) bool {
	if actor.Kind == tenant.ActorOperator {
		// Operators read inside their grant's objects, and change existing
		// records there only when the tenant granted write; they never
		// create or delete (a data-fix grant kind will decide that).
		switch action {
		case Read:
			return actor.Grant.Reaches(object, false)
		case Edit:
			return actor.Grant.Reaches(object, true)
		}
		return false
	}
	if actor.Kind != tenant.ActorUser {
		return false
	}
	p := ForObject(actor.Role, object)
	if !p.Allows(action) {
		return false
	}
	switch p.Scope {
	case ScopeAll:
		return true
	case ScopeOwn:
		return ownerID == "" || ownerID == actor.UserID
	}
	return false
}

// OwnerFilter returns the owner ID lists must be restricted to for actor
// on object, or "" when it sees every record.
func OwnerFilter(actor tenant.Actor, object string) (ownerID string, ok bool) {
	if actor.Kind == tenant.ActorOperator {
		return "", actor.Grant.Reaches(object, false)
	}
	p := ForObject(actor.Role, object)
	if actor.Kind != tenant.ActorUser || !p.Allows(Read) {
		return "", false
	}
	if p.Scope == ScopeOwn {
		if actor.UserID == "" {
			return "", false
		}
		return actor.UserID, true
	}
	return "", true
}

// CanAssignOwner reports whether actor may give a record to another user.
func CanAssignOwner(actor tenant.Actor) bool {
	return actor.Kind == tenant.ActorUser && (actor.Role == RoleAdmin || actor.Role == RoleManager)
}

// CanManageUsers reports whether actor administers users.
func CanManageUsers(actor tenant.Actor) bool { return isAdmin(actor) }

// CanManageSchema reports whether actor may add fields to objects.
func CanManageSchema(actor tenant.Actor) bool { return isAdmin(actor) }

// CanReadAudit reports whether actor may read the tenant's audit log.
func CanReadAudit(actor tenant.Actor) bool { return isAdmin(actor) }

// CanManageSettings reports whether actor may change tenant settings.
func CanManageSettings(actor tenant.Actor) bool { return isAdmin(actor) }

// CanListUsers reports whether actor may see the tenant's user directory
// (needed to pick record owners).
func CanListUsers(actor tenant.Actor) bool {
	return actor.Kind == tenant.ActorUser && (actor.Role == RoleAdmin || actor.Role == RoleManager)
}

func isAdmin(actor tenant.Actor) bool {
	return actor.Kind == tenant.ActorUser && actor.Role == RoleAdmin
}
