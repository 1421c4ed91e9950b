package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// Lockout shows and clears users' sign-in locks.
type Lockout interface {
	LockStates(ctx context.Context, actor tenant.Actor, userIDs []string) (map[string]identity.LockState, error)
	Unlock(ctx context.Context, actor tenant.Actor, id string) (identity.User, identity.LockState, error)
}

func init() {
	flashKinds["user_unlocked"] = false
}

func (w *Web) registerLockout(mux *http.ServeMux) {
	mux.Handle("POST /users/{id}/unlock", w.authed(w.unlockUser))
}

// LoginCaptcha is the CAPTCHA step of the sign-in form.
type LoginCaptcha struct {
	ID  string
	Src string // the image, served by the API
}

// applyLoginError adds what the lockout feature shows for a failed
// sign-in: the CAPTCHA to solve, or when a lock ends in the reader's
// language and time zone.
func (w *Web) applyLoginError(p *LoginPage, lang Lang, e *apperr.Error) {
	// captcha_required, and invalid_credentials when the next attempt
	// will need one, carry a challenge to show.
	if id, _ := e.Details["captcha_id"].(string); id != "" {
		p.Captcha = LoginCaptcha{ID: id, Src: "/api/v1/auth/captcha/" + url.PathEscape(id) + ".png"}
	}
	switch e.Code {
	case apperr.CodeCaptchaRequired:
		p.Error = translate(lang, "login.captcha")
		if p.CaptchaAnswered {
			p.Error = translate(lang, "login.captcha_wrong")
		}
	case apperr.CodeAccountLocked:
		s, _ := e.Details["locked_until"].(string)
		until, err := time.Parse(time.RFC3339, s)
		if err != nil {
			p.Error = translate(lang, "login.locked_admin")
			return
		}
		p.Error = translate(lang, "login.locked_until", formatDateTime(lang, w.location(lang), until))
	}
}

// UserLock is a user's sign-in lock as the users page shows it.
type UserLock struct {
	Locked       bool
	Badge        string // "Locked until …", "Locked" or "3 failed sign-ins"
	UnlockAction string
	UnlockQ      string
}

// userLocks returns the lock state of the listed users, by ID; users
// without failed sign-ins are absent.
func (w *Web) userLocks(ctx context.Context, rc *reqCtx, users []identity.User) (map[string]UserLock, error) {
	out := map[string]UserLock{}
	if w.d.Lockout == nil || !access.CanManageUsers(rc.actor()) {
		return out, nil
	}
	ids := make([]string, len(users))
	names := map[string]string{}
	for i, u := range users {
		ids[i] = u.ID
		names[u.ID] = u.Name
	}
	states, err := w.d.Lockout.LockStates(ctx, rc.actor(), ids)
	if err != nil {
		return nil, err
	}
	l := rc.lang
	for id, st := range states {
		ul := UserLock{Locked: st.Locked, Badge: translate(l, "users.failures", st.Failures),
			UnlockAction: "/users/" + url.PathEscape(id) + "/unlock", UnlockQ: translate(l, "users.unlock_q", names[id])}
		switch {
		case st.Locked && st.Until != nil:
			ul.Badge = translate(l, "users.locked_until", formatDateTime(l, w.location(l), *st.Until))
		case st.Locked:
			ul.Badge = translate(l, "users.locked")
		}
		out[id] = ul
	}
	return out, nil
}

func (w *Web) unlockUser(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if w.d.Lockout == nil || !access.CanManageUsers(rc.actor()) {
		w.forbidden(rw, r, rc)
		return
	}
	if _, _, err := w.d.Lockout.Unlock(r.Context(), rc.actor(), r.PathValue("id")); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.setFlash(rw, "user_unlocked")
	http.Redirect(rw, r, "/users", http.StatusSeeOther)
}
