package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// LockoutService serves CAPTCHA images and unlocks users.
type LockoutService interface {
	CaptchaImage(ctx context.Context, id string) ([]byte, error)
	Unlock(ctx context.Context, actor tenant.Actor, id string) (identity.User, identity.LockState, error)
}

// UnlockResponse answers POST /api/v1/users/{id}/unlock with the user and
// the state the unlock cleared.
type UnlockResponse struct {
	User            UserDTO    `json:"user"`
	WasLocked       bool       `json:"was_locked"`
	LockedUntil     *time.Time `json:"locked_until,omitempty"`
	FailuresCleared int        `json:"failures_cleared"`
}

// lockoutRoutes lists this feature's endpoints.
func (a *API) lockoutRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/auth/captcha/{file}", Public: true, handler: a.captchaImage},
		{Method: "POST", Pattern: "/api/v1/users/{id}/unlock", handler: a.unlockUser},
	}
}

// captchaImage serves GET /api/v1/auth/captcha/{id}.png.
func (a *API) captchaImage(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	if !ok || a.d.Lockout == nil {
		a.writeError(w, r, apperr.NotFound("captcha"))
		return
	}
	img, err := a.d.Lockout.CaptchaImage(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(img)
}

func (a *API) unlockUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if a.d.Lockout == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return
	}
	u, before, err := a.d.Lockout.Unlock(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, UnlockResponse{User: userDTO(u), WasLocked: before.Locked, LockedUntil: before.Until, FailuresCleared: before.Failures})
}
