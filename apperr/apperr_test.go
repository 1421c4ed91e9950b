package apperr_test

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/havencrm/haven/apperr"
)

func TestConstructorsKindAndCode(t *testing.T) {
	cases := []struct {
		name string
		err  *apperr.Error
		kind apperr.Kind
		code string
	}{
		{"invalid", apperr.Invalid("bad %s", "x"), apperr.KindInvalid, apperr.CodeInvalidRequest},
		{"invalid fields", apperr.InvalidFields(map[string]string{"a": "b"}), apperr.KindInvalid, apperr.CodeInvalidRequest},
		{"not found", apperr.NotFound("record"), apperr.KindNotFound, apperr.CodeNotFound},
		{"conflict", apperr.Conflict("dup"), apperr.KindConflict, apperr.CodeConflict},
		{"unauthenticated", apperr.Unauthenticated(), apperr.KindUnauthenticated, apperr.CodeUnauthenticated},
		{"invalid credentials", apperr.InvalidCredentials(), apperr.KindUnauthenticated, apperr.CodeInvalidCredentials},
		{"forbidden", apperr.Forbidden(), apperr.KindForbidden, apperr.CodeForbidden},
		{"password expired", apperr.PasswordExpired(), apperr.KindForbidden, apperr.CodePasswordExpired},
		{"password policy", apperr.PasswordPolicy([]string{"x"}), apperr.KindInvalid, apperr.CodePasswordPolicy},
		{"internal", apperr.Internal(errors.New("boom")), apperr.KindInternal, apperr.CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err.Kind != c.kind || c.err.Code != c.code {
				t.Fatalf("got kind %v code %q, want %v %q", c.err.Kind, c.err.Code, c.kind, c.code)
			}
			if c.err.Message == "" {
				t.Fatal("empty public message")
			}
			if !apperr.Is(c.err, c.kind) {
				t.Fatalf("Is(%v) false", c.kind)
			}
		})
	}
}

func TestKindStrings(t *testing.T) {
	want := map[apperr.Kind]string{
		apperr.KindInternal: "internal", apperr.KindInvalid: "invalid", apperr.KindNotFound: "not_found",
		apperr.KindConflict: "conflict", apperr.KindUnauthenticated: "unauthenticated", apperr.KindForbidden: "forbidden",
		apperr.KindLocked: "locked", apperr.KindRateLimited: "rate_limited", apperr.Kind(99): "internal",
	}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), s)
		}
	}
}

func TestMessagesAreFormatted(t *testing.T) {
	if got := apperr.NotFound("record").Message; got != "record not found" {
		t.Fatalf("NotFound message %q", got)
	}
	if got := apperr.Conflict("version %d", 3).Message; got != "version 3" {
		t.Fatalf("Conflict message %q", got)
	}
	// Unknown login and wrong password share this one answer; it must not
	// name either case.
	if msg := apperr.InvalidCredentials().Message; strings.Contains(msg, "unknown") || strings.Contains(msg, "wrong") {
		t.Fatalf("invalid credentials message %q tells the cases apart", msg)
	}
}

func TestInvalidFieldsAndPolicyDetails(t *testing.T) {
	e := apperr.InvalidFields(map[string]string{"email": "bad"})
	f, ok := e.Details["fields"].(map[string]string)
	if !ok || f["email"] != "bad" {
		t.Fatalf("details %#v", e.Details)
	}
	p := apperr.PasswordPolicy([]string{"a", "b"})
	v, ok := p.Details["violations"].([]string)
	if !ok || len(v) != 2 {
		t.Fatalf("violations %#v", p.Details)
	}
}

func TestWithDetailCopies(t *testing.T) {
	orig := apperr.Conflict("changed").WithDetail("a", 1)
	c := orig.WithDetail("current_version", int64(7))
	if c == orig {
		t.Fatal("WithDetail returned the same pointer")
	}
	if _, ok := orig.Details["current_version"]; ok {
		t.Fatal("WithDetail mutated the original's details")
	}
	if len(orig.Details) != 1 || orig.Details["a"] != 1 {
		t.Fatalf("original details changed: %#v", orig.Details)
	}
	if c.Details["a"] != 1 || c.Details["current_version"] != int64(7) {
		t.Fatalf("copy details: %#v", c.Details)
	}
	// Mutating the copy's map does not reach the original either.
	c.Details["a"] = 2
	if orig.Details["a"] != 1 {
		t.Fatal("copy shares its details map with the original")
	}
	// A package-level error reused many times must stay pristine.
	base := apperr.NotFound("x")
	_ = base.WithDetail("k", "v")
	if base.Details != nil {
		t.Fatalf("base got details %#v", base.Details)
	}
	if c.Kind != orig.Kind || c.Code != orig.Code || c.Message != orig.Message {
		t.Fatal("copy lost kind, code or message")
	}
}

func TestWrapKeepsCauseButNotPublicMessage(t *testing.T) {
	cause := fmt.Errorf("pq: duplicate key value violates unique constraint %q: %w", "users_email", sql.ErrNoRows)
	base := apperr.Conflict("already exists")
	w := base.Wrap(cause)
	if !errors.Is(w, sql.ErrNoRows) || !errors.Is(w, cause) {
		t.Fatal("cause not reachable with errors.Is")
	}
	if errors.Unwrap(base) != nil {
		t.Fatal("Wrap mutated the original")
	}
	if strings.Contains(w.Message, "users_email") {
		t.Fatalf("public message leaks cause: %q", w.Message)
	}
	if !strings.Contains(w.Error(), "users_email") {
		t.Fatalf("Error() should carry the cause for logs: %q", w.Error())
	}

	in := apperr.Internal(errors.New("secret dsn password=hunter2"))
	if in.Message != "internal error" || strings.Contains(in.Message, "hunter2") {
		t.Fatalf("internal public message %q", in.Message)
	}
	if in.Code != apperr.CodeInternal {
		t.Fatalf("code %q", in.Code)
	}
	if errors.Unwrap(in) == nil {
		t.Fatal("internal lost its cause")
	}
}

func TestErrorStringWithoutCause(t *testing.T) {
	if got := apperr.NotFound("user").Error(); got != "not_found: user not found" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestAsKindOfIsThroughWrapping(t *testing.T) {
	inner := apperr.Forbidden()
	wrapped := fmt.Errorf("handler: %w", fmt.Errorf("service: %w", inner))
	e, ok := apperr.As(wrapped)
	if !ok || e != inner {
		t.Fatalf("As = %v %v", e, ok)
	}
	if apperr.KindOf(wrapped) != apperr.KindForbidden {
		t.Fatalf("KindOf = %v", apperr.KindOf(wrapped))
	}
	if !apperr.Is(wrapped, apperr.KindForbidden) || apperr.Is(wrapped, apperr.KindNotFound) {
		t.Fatal("Is wrong through wrapping")
	}
	// errors.Join also exposes the apperr.
	joined := errors.Join(errors.New("other"), apperr.NotFound("x"))
	if apperr.KindOf(joined) != apperr.KindNotFound {
		t.Fatalf("KindOf(join) = %v", apperr.KindOf(joined))
	}
}

func TestForeignAndNilErrors(t *testing.T) {
	foreign := errors.New("driver: connection reset")
	if _, ok := apperr.As(foreign); ok {
		t.Fatal("As accepted a foreign error")
	}
	if apperr.KindOf(foreign) != apperr.KindInternal {
		t.Fatal("foreign error should be internal")
	}
	if !apperr.Is(foreign, apperr.KindInternal) {
		t.Fatal("foreign error is internal")
	}
	// nil is no error of any kind, in particular not "internal".
	if apperr.Is(nil, apperr.KindInternal) {
		t.Fatal("nil reported as internal")
	}
	if _, ok := apperr.As(nil); ok {
		t.Fatal("As(nil) ok")
	}
}

func TestWrappedAppErrorCauseIsNotMistakenForOuterKind(t *testing.T) {
	// A conflict caused by a not-found keeps its own kind: the outermost
	// *Error in the chain decides.
	e := apperr.Conflict("c").Wrap(apperr.NotFound("n"))
	if apperr.KindOf(e) != apperr.KindConflict {
		t.Fatalf("KindOf = %v", apperr.KindOf(e))
	}
}
