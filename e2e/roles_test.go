package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/api"
	"github.com/havencrm/haven/client"
	"github.com/havencrm/haven/internal/testserver"
)

func TestRoles(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		tn := srv.NewTenant(t, "roles")
		adminMe := must[*api.MeResponse](t)(tn.Admin.Me(ctx))
		mgr, mgrU := srv.NewUser(t, tn, "manager@example.com", "Mia Manager", "manager")
		s1, s1U := srv.NewUser(t, tn, "sales1@example.com", "Sam Sales", "sales")
		s2, s2U := srv.NewUser(t, tn, "sales2@example.com", "Sue Sales", "sales")

		acc1 := create(t, s1, "account", map[string]any{"name": "S1 Account"})
		acc2 := create(t, s2, "account", map[string]any{"name": "S2 Account"})
		acc3 := create(t, tn.Admin, "account", map[string]any{"name": "Admin Account"})
		if acc1.OwnerID != s1U.ID || acc2.OwnerID != s2U.ID || acc3.OwnerID != adminMe.User.ID {
			t.Fatalf("owners default to the creator: %s %s %s", acc1.OwnerID, acc2.OwnerID, acc3.OwnerID)
		}

		t.Run("sales sees and edits only own records", func(t *testing.T) {
			for _, opts := range []client.ListOptions{{}, {Sort: "name"}, {Q: "Account"}, {Filter: map[string]string{"owner_id": s2U.ID}}, {Filter: map[string]string{"owner_id": adminMe.User.ID}}} {
				got := allRecords(t, s1, "account", opts)
				for _, r := range got {
					if r.OwnerID != s1U.ID {
						t.Errorf("sales list %+v shows %q owned by %s", opts, r.Name, r.OwnerID)
					}
				}
				if opts.Filter == nil && !slices.Contains(ids(got), acc1.ID) {
					t.Errorf("sales list %+v misses the own record", opts)
				}
			}
			for _, other := range []*api.RecordDTO{acc2, acc3} {
				_, err := s1.GetRecord(ctx, "account", other.ID)
				checkErr(t, "get "+other.Name, err, 404, "not_found")
				_, err = s1.UpdateRecord(ctx, "account", other.ID, other.Version, map[string]any{"name": "Stolen"})
				checkErr(t, "update "+other.Name, err, 404, "not_found")
				err = s1.DeleteRecord(ctx, "account", other.ID, 0)
				checkErr(t, "delete "+other.Name, err, 404, "not_found")
				err = s1.DeleteRecord(ctx, "account", other.ID, other.Version)
				checkErr(t, "delete ?version "+other.Name, err, 404, "not_found")
				_, err = s1.RecordHistory(ctx, "account", other.ID)
				checkErr(t, "history "+other.Name, err, 404, "not_found")
				// Taking the record over by sending oneself as owner.
				r := do(t, srv, rawReq{Method: "PATCH", Path: "/api/v1/objects/account/records/" + other.ID, Token: s1.Token(), ContentType: "application/json",
					Body: jsonBody(t, map[string]any{"version": other.Version, "owner_id": s1U.ID, "fields": map[string]any{}})})
				wantRaw(t, "take over "+other.Name, r, 404, "not_found")
				got := must[*api.RecordDTO](t)(tn.Admin.GetRecord(ctx, "account", other.ID))
				if got.Version != other.Version || got.OwnerID != other.OwnerID || got.Name != other.Name {
					t.Errorf("%s changed by another sales user: %+v", other.Name, got)
				}
			}
			// Own records: full access.
			upd := must[*api.RecordDTO](t)(s1.UpdateRecord(ctx, "account", acc1.ID, acc1.Version, map[string]any{"city": "Hangzhou"}))
			if upd.Fields["city"] != "Hangzhou" {
				t.Errorf("own update: %+v", upd)
			}
			must[*api.AuditList](t)(s1.RecordHistory(ctx, "account", acc1.ID))
			tmp := create(t, s1, "lead", map[string]any{"name": "Own lead"})
			noErr(t, s1.DeleteRecord(ctx, "lead", tmp.ID, tmp.Version))
		})

		t.Run("sales cannot assign records to others", func(t *testing.T) {
			for _, owner := range []string{s2U.ID, adminMe.User.ID, mgrU.ID} {
				_, err := s1.CreateRecord(ctx, "account", client.RecordInput{OwnerID: owner, Fields: map[string]any{"name": "Gift"}})
				checkErr(t, "create for "+owner, err, 403, "forbidden")
			}
			own := create(t, s1, "lead", map[string]any{"name": "Mine"})
			r := do(t, srv, rawReq{Method: "PATCH", Path: "/api/v1/objects/lead/records/" + own.ID, Token: s1.Token(), ContentType: "application/json",
				Body: jsonBody(t, map[string]any{"version": own.Version, "owner_id": s2U.ID, "fields": map[string]any{"name": "Given away"}})})
			wantRaw(t, "give own record away", r, 403, "forbidden")
			got := must[*api.RecordDTO](t)(s1.GetRecord(ctx, "lead", own.ID))
			if got.OwnerID != s1U.ID || got.Version != own.Version || got.Name != "Mine" {
				t.Errorf("record changed by a refused update: %+v", got)
			}
			// Naming oneself is fine.
			rec := must[*api.RecordDTO](t)(s1.CreateRecord(ctx, "account", client.RecordInput{OwnerID: s1U.ID, Fields: map[string]any{"name": "Explicitly mine"}}))
			if rec.OwnerID != s1U.ID {
				t.Errorf("owner %s", rec.OwnerID)
			}
			// Nothing was created for anyone else.
			for _, r := range allRecords(t, tn.Admin, "account", client.ListOptions{Q: "Gift"}) {
				t.Errorf("refused create left %+v", r)
			}
		})

		t.Run("sales administration is refused", func(t *testing.T) {
			name, role := "Boss", "admin"
			_, err := s1.ListUsers(ctx, client.ListOptions{})
			checkErr(t, "list users", err, 403, "forbidden")
			_, err = s1.ListAudit(ctx, client.AuditQuery{})
			checkErr(t, "audit", err, 403, "forbidden")
			_, err = s1.ListAudit(ctx, client.AuditQuery{Actor: s1U.ID})
			checkErr(t, "own audit", err, 403, "forbidden")
			_, err = s1.CreateUser(ctx, api.CreateUserRequest{Email: "friend@example.com", Name: "Friend", Role: "admin"})
			checkErr(t, "create user", err, 403, "forbidden")
			_, err = s1.UpdateUser(ctx, s1U.ID, api.UpdateUserRequest{Role: &role})
			checkErr(t, "promote self", err, 403, "forbidden")
			_, err = s1.UpdateUser(ctx, s2U.ID, api.UpdateUserRequest{Name: &name})
			checkErr(t, "rename other", err, 403, "forbidden")
			_, err = s1.DeactivateUser(ctx, s2U.ID)
			checkErr(t, "deactivate", err, 403, "forbidden")
			_, err = s1.ResetPassword(ctx, s2U.ID)
			checkErr(t, "reset password", err, 403, "forbidden")
			_, err = s1.CreateField(ctx, "account", api.CreateFieldRequest{Name: "x", Label: "X", Type: "text"})
			checkErr(t, "create field", err, 403, "forbidden")
			_, err = s1.GetUser(ctx, s2U.ID)
			checkErr(t, "get other user", err, 404, "not_found")
			if u, err := s1.GetUser(ctx, s1U.ID); err != nil || u.ID != s1U.ID {
				t.Errorf("get self: %+v %v", u, err)
			}
			me := must[*api.MeResponse](t)(s1.Me(ctx))
			if me.User.Role != "sales" || me.Permissions["account"].Scope != "own" {
				t.Errorf("sales me: %+v", me)
			}
			// Nothing changed.
			if u := must[*api.UserDTO](t)(tn.Admin.GetUser(ctx, s1U.ID)); u.Role != "sales" {
				t.Errorf("sales promoted themselves: %+v", u)
			}
			if u := must[*api.UserDTO](t)(tn.Admin.GetUser(ctx, s2U.ID)); u.Status != "active" || u.Name != s2U.Name {
				t.Errorf("other user changed: %+v", u)
			}
			if _, err := s2.Me(ctx); err != nil {
				t.Errorf("s2's session: %v", err)
			}
		})

		t.Run("manager sees all but administers nothing", func(t *testing.T) {
			got := allRecords(t, mgr, "account", client.ListOptions{})
			for _, r := range []*api.RecordDTO{acc1, acc2, acc3} {
				if !slices.Contains(ids(got), r.ID) {
					t.Errorf("manager list misses %q", r.Name)
				}
			}
			cur := must[*api.RecordDTO](t)(mgr.GetRecord(ctx, "account", acc2.ID))
			must[*api.RecordDTO](t)(mgr.UpdateRecord(ctx, "account", acc2.ID, cur.Version, map[string]any{"city": "Shenzhen"}))
			// A manager may assign owners.
			given := must[*api.RecordDTO](t)(mgr.CreateRecord(ctx, "lead", client.RecordInput{OwnerID: s1U.ID, Fields: map[string]any{"name": "Assigned by manager"}}))
			if given.OwnerID != s1U.ID {
				t.Errorf("owner %s", given.OwnerID)
			}
			if _, err := s1.GetRecord(ctx, "lead", given.ID); err != nil {
				t.Errorf("assignee cannot read the record: %v", err)
			}
			// Only to active users of the tenant.
			gone := must[*api.CreateUserResponse](t)(tn.Admin.CreateUser(ctx, api.CreateUserRequest{Email: "gone-owner@example.com", Name: "Gone Owner", Role: "sales"}))
			must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, gone.User.ID))
			for what, owner := range map[string]string{"deactivated user": gone.User.ID, "unknown user": uuid.Must(uuid.NewV7()).String(), "not an id": "admin"} {
				_, err := mgr.CreateRecord(ctx, "lead", client.RecordInput{OwnerID: owner, Fields: map[string]any{"name": "Orphan"}})
				if e := checkErr(t, "create owned by "+what, err, 400, "invalid_request"); e != nil {
					if f, _ := e.Details["fields"].(map[string]any); f["owner_id"] == nil {
						t.Errorf("create owned by %s: details %v", what, e.Details)
					}
				}
				r := do(t, srv, rawReq{Method: "PATCH", Path: "/api/v1/objects/lead/records/" + given.ID, Token: mgr.Token(), ContentType: "application/json",
					Body: jsonBody(t, map[string]any{"version": given.Version, "owner_id": owner, "fields": map[string]any{}})})
				wantRaw(t, "reassign to "+what, r, 400, "invalid_request")
			}
			for _, r := range allRecords(t, tn.Admin, "lead", client.ListOptions{Q: "Orphan"}) {
				t.Errorf("refused create left %+v", r)
			}
			users := must[*api.UserList](t)(mgr.ListUsers(ctx, client.ListOptions{}))
			for _, id := range []string{adminMe.User.ID, mgrU.ID, s1U.ID, s2U.ID} {
				if !slices.Contains(userIDs(users.Items), id) {
					t.Errorf("manager's user list misses %s", id)
				}
			}
			must[*api.UserDTO](t)(mgr.GetUser(ctx, s1U.ID))

			name, role := "Renamed", "admin"
			_, err := mgr.CreateUser(ctx, api.CreateUserRequest{Email: "new@example.com", Name: "New", Role: "sales"})
			checkErr(t, "create user", err, 403, "forbidden")
			_, err = mgr.CreateField(ctx, "account", api.CreateFieldRequest{Name: "x", Label: "X", Type: "text"})
			checkErr(t, "create field", err, 403, "forbidden")
			_, err = mgr.UpdateUser(ctx, mgrU.ID, api.UpdateUserRequest{Role: &role})
			checkErr(t, "promote self", err, 403, "forbidden")
			_, err = mgr.UpdateUser(ctx, s1U.ID, api.UpdateUserRequest{Name: &name})
			checkErr(t, "rename", err, 403, "forbidden")
			_, err = mgr.DeactivateUser(ctx, s1U.ID)
			checkErr(t, "deactivate", err, 403, "forbidden")
			_, err = mgr.ResetPassword(ctx, s1U.ID)
			checkErr(t, "reset password", err, 403, "forbidden")
			_, err = mgr.ListAudit(ctx, client.AuditQuery{})
			checkErr(t, "audit", err, 403, "forbidden")
			obj := must[*api.ObjectDTO](t)(tn.Admin.GetObject(ctx, "account"))
			for _, f := range obj.Fields {
				if f.Custom {
					t.Errorf("a refused create left field %s", f.Name)
				}
			}
			if me := must[*api.MeResponse](t)(mgr.Me(ctx)); me.Permissions["account"].Scope != "all" {
				t.Errorf("manager permissions %+v", me.Permissions)
			}
		})

		t.Run("admin does everything", func(t *testing.T) {
			cur := must[*api.RecordDTO](t)(tn.Admin.GetRecord(ctx, "account", acc2.ID))
			cur = must[*api.RecordDTO](t)(tn.Admin.UpdateRecord(ctx, "account", acc2.ID, cur.Version, map[string]any{"city": "Wuhan"}))
			must[*api.AuditList](t)(tn.Admin.RecordHistory(ctx, "account", acc2.ID))
			must[*api.UserList](t)(tn.Admin.ListUsers(ctx, client.ListOptions{}))
			must[*api.AuditList](t)(tn.Admin.ListAudit(ctx, client.AuditQuery{}))
			must[*api.FieldDTO](t)(tn.Admin.CreateField(ctx, "lead", api.CreateFieldRequest{Name: "score", Label: "Score", Type: "number"}))
			nu := must[*api.CreateUserResponse](t)(tn.Admin.CreateUser(ctx, api.CreateUserRequest{Email: "temp@example.com", Name: "Temp", Role: "sales"}))
			name := "Temporary"
			must[*api.UserDTO](t)(tn.Admin.UpdateUser(ctx, nu.User.ID, api.UpdateUserRequest{Name: &name}))
			must[*api.ResetPasswordResponse](t)(tn.Admin.ResetPassword(ctx, nu.User.ID))
			must[*api.UserDTO](t)(tn.Admin.DeactivateUser(ctx, nu.User.ID))
			noErr(t, tn.Admin.DeleteRecord(ctx, "account", acc2.ID, cur.Version))
			_, err := s2.GetRecord(ctx, "account", acc2.ID)
			wantErr(t, err, 404, "not_found")
		})

		t.Run("role changes apply to live sessions", func(t *testing.T) {
			c, u := srv.NewUser(t, tn, "demoted@example.com", "Demoted", "manager")
			if got := allRecords(t, c, "account", client.ListOptions{}); !slices.Contains(ids(got), acc1.ID) {
				t.Fatalf("manager does not see s1's account")
			}
			sales := "sales"
			must[*api.UserDTO](t)(tn.Admin.UpdateUser(ctx, u.ID, api.UpdateUserRequest{Role: &sales}))
			for _, r := range allRecords(t, c, "account", client.ListOptions{}) {
				t.Errorf("demoted user still sees %q", r.Name)
			}
			_, err := c.ListUsers(ctx, client.ListOptions{})
			wantErr(t, err, 403, "forbidden")
			_, err = c.GetRecord(ctx, "account", acc1.ID)
			wantErr(t, err, 404, "not_found")
		})
	})
}

// TestLastAdmin checks that a tenant always keeps an active admin.
func TestLastAdmin(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		manager, sales := "manager", "sales"

		t.Run("sequential", func(t *testing.T) {
			tn := srv.NewTenant(t, "solo")
			me := must[*api.MeResponse](t)(tn.Admin.Me(ctx))
			_, err := tn.Admin.UpdateUser(ctx, me.User.ID, api.UpdateUserRequest{Role: &manager})
			wantErr(t, err, 409, "conflict")
			_, err = tn.Admin.UpdateUser(ctx, me.User.ID, api.UpdateUserRequest{Role: &sales})
			wantErr(t, err, 409, "conflict")
			_, err = tn.Admin.DeactivateUser(ctx, me.User.ID)
			wantErr(t, err, 409, "conflict")
			if me := must[*api.MeResponse](t)(tn.Admin.Me(ctx)); me.User.Role != "admin" || me.User.Status != "active" {
				t.Fatalf("the last admin lost their role: %+v", me.User)
			}

			a2, a2U := srv.NewUser(t, tn, "second-admin@example.com", "Second Admin", "admin")
			// Two admins: still nobody deactivates themselves.
			_, err = tn.Admin.DeactivateUser(ctx, me.User.ID)
			wantErr(t, err, 409, "conflict")
			_, err = a2.DeactivateUser(ctx, a2U.ID)
			wantErr(t, err, 409, "conflict")
			// Demoting one of two admins is fine; then the other is the last.
			must[*api.UserDTO](t)(tn.Admin.UpdateUser(ctx, a2U.ID, api.UpdateUserRequest{Role: &manager}))
			_, err = tn.Admin.UpdateUser(ctx, me.User.ID, api.UpdateUserRequest{Role: &manager})
			wantErr(t, err, 409, "conflict")
			admin := "admin"
			must[*api.UserDTO](t)(tn.Admin.UpdateUser(ctx, a2U.ID, api.UpdateUserRequest{Role: &admin}))
			// The second admin deactivates the first, and is then the last.
			must[*api.UserDTO](t)(a2.DeactivateUser(ctx, me.User.ID))
			_, err = tn.Admin.Me(ctx)
			wantErr(t, err, 401, "unauthenticated")
			_, err = a2.UpdateUser(ctx, a2U.ID, api.UpdateUserRequest{Role: &manager})
			wantErr(t, err, 409, "conflict")
			_, err = a2.DeactivateUser(ctx, a2U.ID)
			wantErr(t, err, 409, "conflict")
			// A deactivated admin does not count as one.
			if u := must[*api.UserDTO](t)(a2.GetUser(ctx, a2U.ID)); u.Role != "admin" || u.Status != "active" {
				t.Errorf("last admin: %+v", u)
			}
		})

		// Two admins removing each other at the same moment must not
		// leave the tenant without an admin.
		t.Run("concurrent", func(t *testing.T) {
			tn := srv.NewTenant(t, "duel")
			keeper := tn.Admin
			keeperMe := must[*api.MeResponse](t)(keeper.Me(ctx))
			var prev string // the admin left over from the previous round
			for round := range 6 {
				deactivate := round%2 == 0
				x, xU := srv.NewUser(t, tn, fmt.Sprintf("x%d@example.com", round), "X", "admin")
				y, yU := srv.NewUser(t, tn, fmt.Sprintf("y%d@example.com", round), "Y", "admin")
				// Everyone else steps down, so that x and y are the only admins.
				for _, id := range []string{keeperMe.User.ID, prev} {
					if id != "" {
						must[*api.UserDTO](t)(x.UpdateUser(ctx, id, api.UpdateUserRequest{Role: &manager}))
					}
				}
				if n := activeAdmins(t, x); n != 2 {
					t.Fatalf("round %d: %d active admins before the duel, want 2", round, n)
				}
				var errX, errY error
				parallel(
					func() { errX = remove(ctx, x, yU.ID, deactivate) },
					func() { errY = remove(ctx, y, xU.ID, deactivate) },
				)
				if errX == nil && errY == nil {
					t.Fatalf("round %d (deactivate=%v): both admins removed each other; the tenant has no admin left", round, deactivate)
				}
				if errX != nil && errY != nil {
					t.Errorf("round %d: both removals failed: %v / %v", round, errX, errY)
				}
				for _, err := range []error{errX, errY} {
					var e *client.Error
					if err != nil && (!errors.As(err, &e) || (e.Code != "conflict" && e.Code != "unauthenticated" && e.Code != "forbidden")) {
						t.Errorf("round %d: unexpected error %v", round, err)
					}
				}
				survivor, survivorID := x, xU.ID
				if errX != nil {
					survivor, survivorID = y, yU.ID
				}
				if n := activeAdmins(t, survivor); n != 1 {
					t.Fatalf("round %d: %d active admins after the duel, want 1", round, n)
				}
				admin := "admin"
				must[*api.UserDTO](t)(survivor.UpdateUser(ctx, keeperMe.User.ID, api.UpdateUserRequest{Role: &admin}))
				prev = survivorID
			}
		})
	})
}

func remove(ctx context.Context, c *client.Client, id string, deactivate bool) error {
	if deactivate {
		_, err := c.DeactivateUser(ctx, id)
		return err
	}
	sales := "sales"
	_, err := c.UpdateUser(ctx, id, api.UpdateUserRequest{Role: &sales})
	return err
}

func activeAdmins(t *testing.T, c *client.Client) int {
	t.Helper()
	users := must[*api.UserList](t)(c.ListUsers(context.Background(), client.ListOptions{Limit: 200}))
	n := 0
	for _, u := range users.Items {
		if u.Role == "admin" && u.Status == "active" {
			n++
		}
	}
	return n
}
