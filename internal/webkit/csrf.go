package webkit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// CSRFTokenFor derives the synchronizer token of a session: an HMAC keyed
// with a hash of the session token. It is stable for the session's life,
// reveals nothing about the session token and dies with the session.
//
// label separates the realms: the key is hashed from "haven-"+label and
// the MAC is over label, so the tenant UI ("csrf") and the operator
// console ("ops-csrf") never derive the same token, even from the same
// session token. Changing a label invalidates every open form.
func CSRFTokenFor(label, sessionToken string) string {
	key := sha256.Sum256([]byte("haven-" + label + sessionToken))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(label))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TokensEqual compares two tokens in constant time; empty never matches.
func TokensEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// RandomToken returns 32 random bytes, base64url without padding (43
// characters).
func RandomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// SameOrigin rejects requests a browser marks as coming from another
// origin: an Origin header naming another host, or Sec-Fetch-Site
// cross-site. Requests without either header (old clients, scripts)
// still need the CSRF token.
func SameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	return true
}

// SessionToken returns the value of the session cookie named name, or
// false when there is none or it is empty or longer than maxLen (no
// realm's token is that long, so it is not worth a lookup).
func SessionToken(r *http.Request, name string, maxLen int) (string, bool) {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > maxLen {
		return "", false
	}
	return c.Value, true
}

// FormToken returns the double-submit token for a sign-in form: the
// cookie's value when it is a well-formed token, so two open sign-in tabs
// both work, or a new random one. The caller sets the cookie, with its
// realm's attributes.
func FormToken(r *http.Request, cookie string) string {
	if c, err := r.Cookie(cookie); err == nil && len(c.Value) == 43 {
		if _, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	return RandomToken()
}

// DoubleSubmitOK checks the posted form field against the double-submit
// cookie. The form must have been parsed.
func DoubleSubmitOK(r *http.Request, cookie, field string) bool {
	c, err := r.Cookie(cookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	return TokensEqual(c.Value, r.PostForm.Get(field))
}

// Refusal says why a form post stops before its handler, as the page to
// show: a cross-origin post gets the CSRF page, an unreadable form a 400
// and an oversized one a 413.
type Refusal struct {
	CrossOrigin       bool
	Status            int
	TitleKey, TextKey string // catalog keys; both UIs' catalogs have them
}

// CheckPost checks the origin, limits the body to maxBytes and parses the
// form. It returns nil when the handler may run.
func CheckPost(rw http.ResponseWriter, r *http.Request, maxBytes int64) *Refusal {
	if !SameOrigin(r) {
		return &Refusal{CrossOrigin: true, Status: http.StatusForbidden, TitleKey: "error.csrf.title", TextKey: "error.csrf.text"}
	}
	r.Body = http.MaxBytesReader(rw, r.Body, maxBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Refusal{Status: http.StatusRequestEntityTooLarge, TitleKey: "error.413.title", TextKey: "error.413.text"}
		}
		return &Refusal{Status: http.StatusBadRequest, TitleKey: "error.400.title", TextKey: "error.400.text"}
	}
	return nil
}

// SignedInOrOutCSRFOK checks a form that is shown both before and after
// sign-in (the language switch): it carries the double-submit cookie's
// token or the session's. sessionCSRF returns the session's token ("" when
// there is no session) and is only asked when the cookie's does not match,
// since it costs a session lookup. The form must have been parsed.
func SignedInOrOutCSRFOK(r *http.Request, cookie, field string, sessionCSRF func() string) bool {
	if DoubleSubmitOK(r, cookie, field) {
		return true
	}
	return TokensEqual(sessionCSRF(), r.PostForm.Get(field))
}
