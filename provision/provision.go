// Package provision creates tenants: the tenant row, its standard objects,
// its first admin with a one-time password and the audit event, all in
// one transaction so a tenant is never half made.
package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Store is what provisioning needs from storage.
type Store interface {
	WriteTx(ctx context.Context, tenantID tenant.ID, fn func(ctx context.Context) error) error
	InsertTenant(ctx context.Context, t tenant.Tenant) error
	AppendAudit(ctx context.Context, e audit.Event) error
}

// ObjectSeeder creates a new tenant's standard objects.
type ObjectSeeder interface {
	SeedStandardObjects(ctx context.Context, tid tenant.ID) error
}

// AdminCreator creates a tenant's first admin.
type AdminCreator interface {
	CreateFirstAdmin(ctx context.Context, actor tenant.Actor, email, phone, name string) (identity.NewUser, error)
}

// KeyIssuer gives a new tenant its first data key.
type KeyIssuer interface {
	EnsureTenantKey(ctx context.Context, tid tenant.ID) (uint32, error)
}

// PlatformRecorder records tenant creation in the platform's audit trail.
type PlatformRecorder interface {
	TenantCreated(ctx context.Context, actor audit.PlatformActor, t tenant.Tenant) error
}

// Provisioner creates tenants.
type Provisioner struct {
	store   Store
	objects ObjectSeeder
	admins  AdminCreator
	keys    KeyIssuer // nil: keys are made on first use
	// platform records creations in the platform trail (nil: not wired).
	platform PlatformRecorder
	now      func() time.Time
}

// SetPlatformRecorder makes every creation also land in the platform's
// audit trail.
func (p *Provisioner) SetPlatformRecorder(r PlatformRecorder) { p.platform = r }

// SetKeyIssuer makes every new tenant get its data key in the same
// transaction that creates it.
func (p *Provisioner) SetKeyIssuer(k KeyIssuer) { p.keys = k }

// New returns a Provisioner.
func New(store Store, objects ObjectSeeder, admins AdminCreator, now func() time.Time) *Provisioner {
	if now == nil {
		now = time.Now
	}
	return &Provisioner{store: store, objects: objects, admins: admins, now: now}
}

// Input describes a tenant to create.
type Input struct {
	// ID is the new tenant's ID; empty means a fresh one. Callers that
	// must put more work into the same transaction choose it up front.
	ID          tenant.ID
	Slug        string
	Name        string
	AdminEmail  string
	AdminPhone  string
	AdminName   string
	ContractEnd *time.Time
	// By names who asked, for the platform trail (e.g. the command and
	// the operating-system user that ran it); the zero value is the
	// system.
	By audit.PlatformActor
}

// Result is a created tenant with its admin's one-time password, which
// is shown once and stored only as a hash.
type Result struct {
	Tenant          tenant.Tenant
	Admin           identity.User
	OneTimePassword string
}

// ErrPlatformAudit marks a failure to record, in the platform trail, a
// creation that has committed: the tenant exists and the Result is valid
// (its one-time password is shown nowhere else).
var ErrPlatformAudit = errors.New("provision: the tenant was created, but recording it in the platform audit trail failed")

// CreateTenant creates a tenant and its first admin, then records the
// creation in the platform trail. When only that record fails it returns
// the Result together with an error wrapping ErrPlatformAudit.
func (p *Provisioner) CreateTenant(ctx context.Context, in Input) (Result, error) {
	in.Slug = strings.ToLower(strings.TrimSpace(in.Slug))
	in.Name = strings.TrimSpace(in.Name)
	bad := map[string]string{}
	if !tenant.ValidSlug(in.Slug) {
		bad["slug"] = "lower-case letters, digits and inner hyphens, at most 63 characters"
	}
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 {
		bad["name"] = "required, at most 200 characters"
	}
	if in.AdminEmail == "" && in.AdminPhone == "" {
		bad["admin_email"] = "an admin e-mail or phone is required"
	}
	now := p.now().UTC()
	if in.ContractEnd != nil && !in.ContractEnd.After(now) {
		bad["contract_end"] = "must be in the future"
	}
	if len(bad) > 0 {
		return Result{}, apperr.InvalidFields(bad)
	}
	if in.AdminName == "" {
		in.AdminName = "Administrator"
	}
	if in.ID == "" {
		in.ID = tenant.ID(tenant.NewID())
	}
	t := tenant.Tenant{ID: in.ID, Slug: in.Slug, Name: in.Name, Status: tenant.StatusActive,
		ContractStart: now, ContractEnd: in.ContractEnd, CreatedAt: now}
	var res Result
	err := p.store.WriteTx(ctx, t.ID, func(ctx context.Context) error {
		if err := p.store.InsertTenant(ctx, t); err != nil {
			return err
		}
		if err := p.objects.SeedStandardObjects(ctx, t.ID); err != nil {
			return err
		}
		if p.keys != nil {
			if _, err := p.keys.EnsureTenantKey(ctx, t.ID); err != nil {
				return fmt.Errorf("tenant data key: %w", err)
			}
		}
		system := tenant.System(t.ID, "")
		ev := audit.New(system, now, audit.ActionTenantCreated, "tenant", string(t.ID), t.Name)
		ev.Changes = map[string]audit.Change{"slug": {After: t.Slug}, "name": {After: t.Name}}
		if err := p.store.AppendAudit(ctx, ev); err != nil {
			return err
		}
		admin, err := p.admins.CreateFirstAdmin(ctx, system, in.AdminEmail, in.AdminPhone, in.AdminName)
		if err != nil {
			return err
		}
		res = Result{Tenant: t, Admin: admin.User, OneTimePassword: admin.OneTimePassword}
		return nil
	})
	if err != nil {
		return res, err
	}
	// A transaction serves one trail, so the platform's record follows
	// the commit of the tenant's own. Inside a caller's transaction that
	// commit is the caller's: it records the creation afterwards.
	if probe, ok := p.store.(interface{ InTx(context.Context) bool }); ok && probe.InTx(ctx) {
		return res, nil
	}
	if err := p.RecordCreated(ctx, in.By, t); err != nil {
		return res, err
	}
	return res, nil
}

// RecordCreated records a committed tenant creation in the platform
// trail (the zero actor is the system). CreateTenant does it itself,
// except inside a caller's transaction, whose owner calls this after
// the commit.
func (p *Provisioner) RecordCreated(ctx context.Context, by audit.PlatformActor, t tenant.Tenant) error {
	if p.platform == nil {
		return nil
	}
	if by.Type == "" {
		by = audit.SystemActor("", "")
	}
	if err := p.platform.TenantCreated(ctx, by, t); err != nil {
		return fmt.Errorf("%w: %w", ErrPlatformAudit, err)
	}
	return nil
}
