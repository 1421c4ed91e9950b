package tenant_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/havencrm/haven/tenant"
)

func TestValidSlug(t *testing.T) {
	cases := []struct {
		slug string
		ok   bool
	}{
		{"acme", true},
		{"a1-b2", true},
		{"a", true},
		{"1", true},
		{"a--b", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"-", false},
		{"A", false},
		{"Acme", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"a/b", false},
		{strings.Repeat("a", 64), false},
		{"acmé", false},
		{"ａｃｍｅ", false}, // full-width letters
		{"аcme", false}, // Cyrillic a
		{"acme\n", false},
		{"\nacme", false},
		{"acme ", false},
	}
	for _, c := range cases {
		if got := tenant.ValidSlug(c.slug); got != c.ok {
			t.Errorf("ValidSlug(%q) = %v, want %v", c.slug, got, c.ok)
		}
	}
}

func TestNewIDIsUUIDv7AndTimeOrdered(t *testing.T) {
	const n = 2000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = tenant.NewID()
	}
	for _, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("NewID %q: %v", id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("NewID %q: version %d variant %v", id, u.Version(), u.Variant())
		}
		if id != strings.ToLower(id) || !tenant.ValidID(id) {
			t.Fatalf("NewID %q not canonical", id)
		}
	}
	if !slices.IsSorted(ids) {
		t.Fatal("IDs from successive calls are not in string order")
	}
	sorted := slices.Compact(slices.Clone(ids))
	if len(sorted) != n {
		t.Fatalf("duplicate IDs: %d unique of %d", len(sorted), n)
	}
}

func TestValidID(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{tenant.NewID(), true},
		{"0190a0a0-0000-7000-8000-000000000000", true},
		{"", false},
		{"not-a-uuid", false},
		{"0190a0a0000070008000000000000000", false},              // no hyphens
		{"{0190a0a0-0000-7000-8000-000000000000}", false},        // braces
		{"urn:uuid:0190a0a0-0000-7000-8000-000000000000", false}, // URN
		{"0190a0a0-0000-7000-8000-00000000000", false},           // short
		{"0190a0a0-0000-7000-8000-0000000000000", false},         // long
		{"0190a0a0-0000-7000-8000-00000000000g", false},          // not hex
		{"0190a0a0-0000-7000-8000-000000000000' OR '1'='1", false},
	}
	for _, c := range cases {
		if got := tenant.ValidID(c.id); got != c.ok {
			t.Errorf("ValidID(%q) = %v, want %v", c.id, got, c.ok)
		}
	}
}

func TestSystemActor(t *testing.T) {
	a := tenant.System("t1", "req-1")
	if a.Kind != tenant.ActorSystem || a.TenantID != "t1" || a.RequestID != "req-1" || a.Name != "system" {
		t.Fatalf("System actor %+v", a)
	}
	// The system actor is no user: it has no user ID and no role.
	if a.UserID != "" || a.Role != "" || a.SessionID != "" {
		t.Fatalf("System actor carries user facts: %+v", a)
	}
}
