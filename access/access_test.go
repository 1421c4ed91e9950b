package access_test

import (
	"testing"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/tenant"
)

const (
	me    = "0190a0a0-0000-7000-8000-000000000001"
	other = "0190a0a0-0000-7000-8000-000000000002"
)

func user(role string) tenant.Actor {
	return tenant.Actor{Kind: tenant.ActorUser, TenantID: "t", UserID: me, Role: role}
}

var allActions = []access.Action{access.Read, access.Create, access.Edit, access.Delete}

func TestValidRole(t *testing.T) {
	for _, r := range []string{"admin", "manager", "sales"} {
		if !access.ValidRole(r) {
			t.Errorf("ValidRole(%q) false", r)
		}
	}
	for _, r := range []string{"", "Admin", "root", "superuser", "system", "admin "} {
		if access.ValidRole(r) {
			t.Errorf("ValidRole(%q) true", r)
		}
	}
}

func TestCanRecordMatrix(t *testing.T) {
	cases := []struct {
		role        string
		own, others bool
	}{
		{access.RoleAdmin, true, true},
		{access.RoleManager, true, true},
		{access.RoleSales, true, false},
		{"", false, false},
		{"auditor", false, false},
		{"ADMIN", false, false},
	}
	for _, obj := range []string{"account", "contact", "opportunity"} {
		for _, c := range cases {
			a := user(c.role)
			for _, act := range allActions {
				if got := access.CanRecord(a, obj, act, me); got != c.own {
					t.Errorf("%s %s own %s: %v, want %v", c.role, act, obj, got, c.own)
				}
				if got := access.CanRecord(a, obj, act, other); got != c.others {
					t.Errorf("%s %s others' %s: %v, want %v", c.role, act, obj, got, c.others)
				}
				// A record not yet created (no owner) is reachable by every known role.
				if got := access.CanRecord(a, obj, act, ""); got != c.own {
					t.Errorf("%s %s new %s: %v, want %v", c.role, act, obj, got, c.own)
				}
			}
		}
	}
	// An unknown action is never allowed.
	if access.CanRecord(user(access.RoleAdmin), "account", access.Action("export"), me) {
		t.Error("unknown action allowed")
	}
}

func TestSystemActorGetsNoRecordAccess(t *testing.T) {
	sys := tenant.System("t", "")
	// Even with a role and a user ID smuggled in, a non-user principal gets nothing.
	sneaky := sys
	sneaky.Role, sneaky.UserID = access.RoleAdmin, me
	for _, a := range []tenant.Actor{sys, sneaky, {Kind: "operator", Role: access.RoleAdmin, UserID: me}} {
		for _, act := range allActions {
			for _, owner := range []string{"", me, other} {
				if access.CanRecord(a, "account", act, owner) {
					t.Errorf("%+v may %s owner %q", a, act, owner)
				}
			}
		}
		if _, ok := access.OwnerFilter(a, "account"); ok {
			t.Errorf("%+v gets a list filter", a)
		}
		if access.CanAssignOwner(a) || access.CanManageUsers(a) || access.CanManageSchema(a) ||
			access.CanManageSettings(a) || access.CanReadAudit(a) || access.CanListUsers(a) {
			t.Errorf("%+v has an admin permission", a)
		}
	}
}

func TestOwnerFilter(t *testing.T) {
	cases := []struct {
		role  string
		owner string
		ok    bool
	}{
		{access.RoleAdmin, "", true},
		{access.RoleManager, "", true},
		{access.RoleSales, me, true},
		{"", "", false},
		{"guest", "", false},
	}
	for _, c := range cases {
		owner, ok := access.OwnerFilter(user(c.role), "account")
		if owner != c.owner || ok != c.ok {
			t.Errorf("OwnerFilter(%q) = %q %v, want %q %v", c.role, owner, ok, c.owner, c.ok)
		}
	}
}

// A sales actor whose user ID is missing must not fall through to the
// "sees every record" answer (""): an own-scope filter needs an owner.
func TestOwnerFilterFailsClosedWithoutUserID(t *testing.T) {
	a := tenant.Actor{Kind: tenant.ActorUser, TenantID: "t", Role: access.RoleSales}
	owner, ok := access.OwnerFilter(a, "account")
	if ok && owner == "" {
		t.Fatal("a sales actor without a user ID is given the unrestricted list filter")
	}
	if access.CanRecord(a, "account", access.Read, other) {
		t.Fatal("a sales actor without a user ID may read others' records")
	}
}

func TestAdministrativePermissions(t *testing.T) {
	type perms struct{ assign, users, schema, settings, audit, list bool }
	cases := map[string]perms{
		access.RoleAdmin:   {true, true, true, true, true, true},
		access.RoleManager: {true, false, false, false, false, true},
		access.RoleSales:   {false, false, false, false, false, false},
		"":                 {},
		"root":             {},
	}
	for role, want := range cases {
		a := user(role)
		got := perms{access.CanAssignOwner(a), access.CanManageUsers(a), access.CanManageSchema(a),
			access.CanManageSettings(a), access.CanReadAudit(a), access.CanListUsers(a)}
		if got != want {
			t.Errorf("%q: got %+v want %+v", role, got, want)
		}
	}
}

func TestForObject(t *testing.T) {
	p := access.ForObject(access.RoleSales, "lead")
	if p.Scope != access.ScopeOwn || !p.Allows(access.Read) || !p.Allows(access.Delete) {
		t.Fatalf("sales: %+v", p)
	}
	p = access.ForObject(access.RoleManager, "lead")
	if p.Scope != access.ScopeAll {
		t.Fatalf("manager: %+v", p)
	}
	p = access.ForObject("nobody", "lead")
	if p.Scope != access.ScopeNone || p.Allows(access.Read) || len(p.Actions) != 0 {
		t.Fatalf("unknown role: %+v", p)
	}
}

func TestRolesOrder(t *testing.T) {
	if len(access.Roles) != 3 || access.Roles[0] != access.RoleAdmin || access.Roles[2] != access.RoleSales {
		t.Fatalf("Roles = %v", access.Roles)
	}
}

func TestOperatorUnderGrant(t *testing.T) {
	read := tenant.Operator("t1", "op-1", "Olga", tenant.Grant{ID: "g1", Objects: []string{"contact"}}, "", "", "")
	write := tenant.Operator("t1", "op-1", "Olga", tenant.Grant{ID: "g2", Objects: []string{"contact"}, Write: true}, "", "", "")
	none := tenant.Actor{Kind: tenant.ActorOperator, TenantID: "t1", UserID: "op-1"}
	cases := []struct {
		name   string
		actor  tenant.Actor
		object string
		action access.Action
		want   bool
	}{
		{"read grant reads", read, "contact", access.Read, true},
		{"read grant cannot edit", read, "contact", access.Edit, false},
		{"read grant outside scope", read, "lead", access.Read, false},
		{"write grant edits", write, "contact", access.Edit, true},
		{"write grant edits only its objects", write, "lead", access.Edit, false},
		{"write grant never creates", write, "contact", access.Create, false},
		{"write grant never deletes", write, "contact", access.Delete, false},
		{"no grant reads nothing", none, "contact", access.Read, false},
	}
	for _, c := range cases {
		if got := access.CanRecord(c.actor, c.object, c.action, "someone"); got != c.want {
			t.Errorf("%s: CanRecord = %v", c.name, got)
		}
	}
	plain := access.FieldPolicy{}
	protected := access.SensitivePolicy(access.MaskMobile, true)
	if access.CanSetField(read, plain) || !access.CanSetField(write, plain) {
		t.Error("plain field: only a write grant sets it")
	}
	// Masked for the operator, so never set blind, even with write.
	if access.CanSetField(write, protected) || access.FieldAccess(write, protected) != access.FieldMasked {
		t.Error("an operator may set a protected field")
	}
	// A tenant user with masked access still may type a value blind.
	sales := tenant.Actor{Kind: tenant.ActorUser, TenantID: "t1", UserID: "u1", Role: access.RoleSales}
	if !access.CanSetField(sales, protected) {
		t.Error("masked sales user cannot set the field")
	}
}
