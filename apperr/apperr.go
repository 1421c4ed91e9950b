// Package apperr defines the error kinds Haven reports to its clients.
//
// Every error that may reach a client is an *Error with a Kind and a public
// message that is safe to show; anything else is reported as "internal"
// with only a request ID, so driver or stack details never leak.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the transport layer.
type Kind int

const (
	KindInternal Kind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindUnauthenticated
	KindForbidden
	KindLocked
	KindRateLimited
	// KindGone reports something that existed but is no longer kept
	// (a change-feed cursor past the feed's retention).
	KindGone
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindForbidden:
		return "forbidden"
	case KindLocked:
		return "locked"
	case KindRateLimited:
		return "rate_limited"
	case KindGone:
		return "gone"
	default:
		return "internal"
	}
}

// Stable public codes (see API.md).
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeUnauthenticated      = "unauthenticated"
	CodeMFARequired          = "mfa_required"
	CodeMFAEnrolmentRequired = "mfa_enrollment_required"
	CodeCaptchaRequired      = "captcha_required"
	CodePasswordExpired      = "password_expired"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeConflict             = "conflict"
	CodePasswordPolicy       = "password_policy"
	CodeAccountLocked        = "account_locked"
	CodeRateLimited          = "rate_limited"
	CodeCursorExpired        = "cursor_expired"
	CodeInternal             = "internal"
)

// Error is an error whose Code and Message may be shown to a client.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Details carries structured, client-safe information such as
	// per-field validation messages.
	Details map[string]any
	// cause is kept for logs and errors.Is/As; it is never shown to clients.
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// WithDetail returns a copy of e with one more detail entry.
func (e *Error) WithDetail(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// Wrap attaches a cause kept for logs only.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func newErr(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a request that fails validation.
func Invalid(format string, args ...any) *Error {
	return newErr(KindInvalid, CodeInvalidRequest, format, args...)
}

// InvalidFields reports per-field validation failures; fields maps a field
// name to a human readable reason.
func InvalidFields(fields map[string]string) *Error {
	e := newErr(KindInvalid, CodeInvalidRequest, "some fields are invalid")
	e.Details = map[string]any{"fields": fields}
	return e
}

// NotFound reports a missing resource. Resources of another tenant are
// reported exactly like missing ones.
func NotFound(what string) *Error {
	return newErr(KindNotFound, CodeNotFound, "%s not found", what)
}

// Conflict reports a concurrent modification or a uniqueness violation.
func Conflict(format string, args ...any) *Error {
	return newErr(KindConflict, CodeConflict, format, args...)
}

// Unauthenticated reports a missing, invalid or expired credential.
func Unauthenticated() *Error {
	return newErr(KindUnauthenticated, CodeUnauthenticated, "authentication required")
}

// InvalidCredentials is the single answer for an unknown login or a wrong
// password, so that the two cannot be told apart.
func InvalidCredentials() *Error {
	return newErr(KindUnauthenticated, CodeInvalidCredentials, "invalid login or password")
}

// MFARequired reports that the login needs a code from the user's
// authenticator (or a recovery code).
func MFARequired() *Error {
	return newErr(KindUnauthenticated, CodeMFARequired, "a code from your authenticator app is required")
}

// MFAEnrolmentRequired reports that the tenant requires two-step sign-in
// and the user must set up an authenticator before anything else.
func MFAEnrolmentRequired() *Error {
	return newErr(KindForbidden, CodeMFAEnrolmentRequired, "your organization requires two-step sign-in: set up an authenticator app first")
}

// Forbidden reports an authenticated actor without the needed permission.
func Forbidden() *Error {
	return newErr(KindForbidden, CodeForbidden, "you do not have permission to do this")
}

// PasswordExpired reports that the actor must change their password first.
func PasswordExpired() *Error {
	return newErr(KindForbidden, CodePasswordExpired, "the password must be changed before anything else")
}

// PasswordPolicy reports the rules a proposed password violates.
func PasswordPolicy(violations []string) *Error {
	e := newErr(KindInvalid, CodePasswordPolicy, "the password does not meet the password policy")
	e.Details = map[string]any{"violations": violations}
	return e
}

// CursorExpired reports a change-feed cursor older than the changes the
// feed still keeps: following it would silently skip changes, so the
// client must take a full copy again.
func CursorExpired(format string, args ...any) *Error {
	return newErr(KindGone, CodeCursorExpired, format, args...)
}

// Internal wraps an unexpected error; its cause is logged, never shown.
func Internal(cause error) *Error {
	return newErr(KindInternal, CodeInternal, "internal error").Wrap(cause)
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf returns the kind of err, KindInternal for foreign errors.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return KindInternal
}

// Is reports whether err is an *Error of the given kind.
func Is(err error, kind Kind) bool {
	return err != nil && KindOf(err) == kind
}
