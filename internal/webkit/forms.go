package webkit

import (
	"net/http"

	"github.com/havencrm/haven/apperr"
)

// TakeFlash reads the one-shot message left for this page in the cookie
// named cookie: its key and whether it reports a problem. Only keys in
// kinds count, so the cookie can never put text of its own on a page.
// clear is called when the cookie was sent, to expire it with the realm's
// attributes.
func TakeFlash(r *http.Request, cookie string, kinds map[string]bool, clear func()) (key string, isError bool) {
	c, err := r.Cookie(cookie)
	if err != nil {
		return "", false
	}
	clear()
	bad, ok := kinds[c.Value]
	if !ok {
		return "", false
	}
	return c.Value, bad
}

// LoginRefusal maps a refused sign-in to its status and the catalog key
// of its message, for the errors both sign-in forms know: missing fields,
// a locked account, too many attempts, and otherwise invalid credentials
// (never saying which of them was wrong). Internal errors are the
// caller's to handle first.
func LoginRefusal(e *apperr.Error) (status int, key string) {
	switch e.Kind {
	case apperr.KindInvalid:
		return http.StatusBadRequest, "login.missing"
	case apperr.KindLocked:
		return http.StatusLocked, "login.locked"
	case apperr.KindRateLimited:
		return http.StatusTooManyRequests, "login.rate"
	}
	return http.StatusUnauthorized, "login.invalid"
}

// PasswordErrors are a change-password form's messages, one a field;
// empty where the field is fine.
type PasswordErrors struct {
	Current, New, Confirm string
}

// CheckPasswordChange checks what a change-password form can check before
// the service does: every field given, the new password typed the same
// twice. required and mismatch are the messages in the page's language.
// It reports whether the form may go on to the service.
func CheckPasswordChange(current, next, confirm, required, mismatch string) (PasswordErrors, bool) {
	var e PasswordErrors
	if current == "" {
		e.Current = required
	}
	if next == "" {
		e.New = required
	}
	if confirm == "" {
		e.Confirm = required
	} else if next != confirm {
		e.Confirm = mismatch
	}
	return e, e == PasswordErrors{}
}
