package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/internal/testserver"
	"github.com/havencrm/haven/operators"
)

// TestOperatorSignInAddressLimit: failed operator sign-ins from one
// address, spread over many e-mails so that no account locks, stop that
// address for the window — a correct password and code included — while
// tenant sign-ins from the same address are not counted against it.
func TestOperatorSignInAddressLimit(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			clk := &opsClock{t: time.Now().UTC().Truncate(time.Second)}
			srv := testserver.Start(t, engine, testserver.Options{Now: clk.Now})
			t.Cleanup(func() { http.DefaultClient.CloseIdleConnections() })
			ctx := context.Background()
			created, err := srv.App.Operators.Create(ctx, operators.CreateInput{Email: "olga-a@vendor.example.com", Name: "Olga", Role: operators.RoleSupport},
				audit.SystemActor("test", ""))
			if err != nil {
				t.Fatal(err)
			}
			tn := srv.NewTenant(t, "addrlimit")
			for i := range operators.AddressLimit {
				// A different e-mail each time: no single account reaches its lock.
				r := opsLogin(t, srv, fmt.Sprintf("guess-%d@vendor.example.com", i), "Wrong-Password-123", "123456")
				wantRaw(t, "wrong guess", r, http.StatusUnauthorized, "invalid_credentials")
			}
			good := func() rawResp {
				return opsLogin(t, srv, created.Operator.Email, created.OneTimePassword, opsCode(t, created.TOTPSecret, clk.Now()))
			}
			e := wantRaw(t, "right credentials from a limited address", good(), http.StatusTooManyRequests, "rate_limited")
			if e.Details["retry_after_seconds"] == nil {
				t.Fatalf("no retry_after_seconds: %+v", e)
			}
			// The tenants' sign-in is a separate realm with its own counters.
			login(t, srv, tn.Slug, tn.AdminLogin, tn.Password)
			clk.Advance(operators.AddressWindow + time.Minute)
			opsToken(t, good())
		})
	}
}
