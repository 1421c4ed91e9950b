package identity_test

import (
	"context"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/testdb"
	"github.com/havencrm/haven/provision"
	"github.com/havencrm/haven/records"
)

// BenchmarkLogin measures successful sign-ins through Service.Login with
// the production argon2id parameters (19 MiB, t=2, p=1) on SQLite: the
// throttling transactions, the session and the audit event included.
// Compare with BenchmarkArgon2id: the hash should dominate.
//
//	go test ./identity -run '^$' -bench 'Login|Argon2id' -benchtime 3s
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	db := testdb.Open(b, "sqlite")
	hasher, err := identity.NewHasher(identity.DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	ids := identity.NewService(db, hasher, identity.SessionConfig{IdleTimeout: idle, AbsoluteTimeout: absolute}, nil)
	ids.SetSettings(identity.NewSettings(db, nil))
	res, err := provision.New(db, records.NewService(db, nil, nil), ids, nil).CreateTenant(ctx,
		provision.Input{Slug: "bench", Name: "Bench", AdminEmail: "admin@bench.example.com", AdminName: "Admin"})
	if err != nil {
		b.Fatal(err)
	}
	in := identity.LoginInput{TenantSlug: "bench", Login: "admin@bench.example.com", Password: res.OneTimePassword, IP: "203.0.113.1"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ids.Login(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkArgon2id is one raw argon2id hash with the production
// parameters, as Login computes once per attempt.
func BenchmarkArgon2id(b *testing.B) {
	p := identity.DefaultHashParams
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	pw := []byte("Correct-Horse-9-Battery")
	for b.Loop() {
		argon2.IDKey(pw, salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}
