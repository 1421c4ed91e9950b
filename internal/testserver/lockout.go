package testserver

import (
	"context"
	"testing"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// CaptchaAnswer reads the answer of a live CAPTCHA challenge from the
// server's database, as a test standing in for a person reading the
// image. It needs the challenge's ID (which only its client holds) to
// open the sealed answer; there is no such path over HTTP.
func (s *Server) CaptchaAnswer(t testing.TB, captchaID string) string {
	t.Helper()
	c, err := s.App.DB.Captcha(context.Background(), identity.CaptchaIDHash(captchaID), s.now().UTC())
	if err != nil {
		t.Fatalf("captcha %s: %v", captchaID, err)
	}
	answer, err := identity.OpenCaptcha(captchaID, c)
	if err != nil {
		t.Fatalf("open captcha: %v", err)
	}
	return answer
}

// SetSecuritySettings changes a tenant's security settings as its admin
// would (a custom preset starting from the settings in force).
func (s *Server) SetSecuritySettings(t testing.TB, tn Tenant, change func(*identity.SecuritySettings)) identity.SecuritySettings {
	t.Helper()
	ctx := context.Background()
	tid := tenant.ID(tn.ID)
	admin, err := s.App.DB.UserByLogin(ctx, tid, tn.AdminLogin)
	if err != nil {
		t.Fatalf("admin of %s: %v", tn.Slug, err)
	}
	st, err := s.App.Settings.Effective(ctx, tid)
	if err != nil {
		t.Fatalf("settings of %s: %v", tn.Slug, err)
	}
	change(&st)
	st.Preset = identity.PresetCustom
	actor := tenant.Actor{Kind: tenant.ActorUser, TenantID: tid, UserID: admin.ID, Name: admin.Name, Role: admin.Role, RequestID: "test"}
	out, err := s.App.Settings.Put(ctx, actor, st)
	if err != nil {
		t.Fatalf("put settings of %s: %v", tn.Slug, err)
	}
	return out
}
