package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
	"github.com/havencrm/haven/tenant"
)

// Slug is the demo tenant's slug.
const Slug = "demo"

// AdminEmail is the demo admin's login.
const AdminEmail = "admin@demo.example.com"

// Deps are what seeding needs.
type Deps struct {
	Tx interface {
		WriteTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	}
	Tenants interface {
		TenantBySlug(ctx context.Context, slug string) (tenant.Tenant, error)
	}
	Provisioner interface {
		CreateTenant(ctx context.Context, in provision.Input) (provision.Result, error)
	}
	Users interface {
		CreateUser(ctx context.Context, actor tenant.Actor, in identity.UserInput) (identity.NewUser, error)
	}
	Records interface {
		Create(ctx context.Context, actor tenant.Actor, object, ownerID string, in records.Values) (records.Record, error)
	}
}

// Result says what Seed did.
type Result struct {
	Created         bool
	AdminLogin      string
	OneTimePassword string // only when Created
	Records         int
}

// Seed creates the demo tenant with its users and sample records, once,
// in a single transaction: either all of it exists afterwards or none.
func Seed(ctx context.Context, d Deps) (Result, error) {
	if _, err := d.Tenants.TenantBySlug(ctx, Slug); err == nil {
		return Result{AdminLogin: AdminEmail}, nil
	} else if !apperr.Is(err, apperr.KindNotFound) {
		return Result{}, err
	}
	tid := tenant.ID(tenant.NewID())
	var res Result
	err := d.Tx.WriteTx(ctx, tid, func(ctx context.Context) error {
		created, err := d.Provisioner.CreateTenant(ctx, provision.Input{
			ID: tid, Slug: Slug, Name: "Haven Demo 示例公司", AdminEmail: AdminEmail, AdminName: "Demo Admin 管理员",
		})
		if err != nil {
			return err
		}
		admin := tenant.Actor{Kind: tenant.ActorUser, TenantID: tid, UserID: created.Admin.ID, Name: created.Admin.Name,
			Role: created.Admin.Role, UserAgent: "haven serve --demo", RequestID: "demo-seed"}
		owners := map[string]string{"admin": created.Admin.ID}
		for _, u := range Users() {
			email, phone, name, role := u.Email, u.Phone, u.Name, u.Role
			nu, err := d.Users.CreateUser(ctx, admin, identity.UserInput{Email: &email, Phone: &phone, Name: &name, Role: &role})
			if err != nil {
				return fmt.Errorf("demo user %s: %w", u.Key, err)
			}
			owners[u.Key] = nu.User.ID
		}
		ids := map[string]string{}
		for _, s := range Records(1) {
			values := records.Values{}
			for k, v := range s.Fields {
				raw, err := json.Marshal(v)
				if err != nil {
					return err
				}
				values[k] = raw
			}
			for field, key := range s.Lookups {
				raw, _ := json.Marshal(ids[key])
				values[field] = raw
			}
			rec, err := d.Records.Create(ctx, admin, s.Object, owners[s.Owner], values)
			if err != nil {
				return fmt.Errorf("demo record %s: %w", s.Key, err)
			}
			ids[s.Key] = rec.ID
		}
		res = Result{Created: true, AdminLogin: created.Admin.Email, OneTimePassword: created.OneTimePassword, Records: len(ids)}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}
