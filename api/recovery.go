package api

import (
	"context"
	"net/http"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
)

// RecoveryService is what the API needs for password recovery.
type RecoveryService interface {
	StartRecovery(ctx context.Context, in identity.RecoveryStartInput) (identity.RecoveryStart, error)
	FinishRecovery(ctx context.Context, in identity.RecoveryFinishInput) error
}

// RecoveryStartRequest is the body of POST /api/v1/auth/recovery/start.
type RecoveryStartRequest struct {
	Tenant  string `json:"tenant"`
	Login   string `json:"login"`
	Channel string `json:"channel"`
}

// RecoveryStartResponse is the one answer to a recovery start, whether or
// not a code was sent.
type RecoveryStartResponse struct {
	Status         string `json:"status"`
	Message        string `json:"message"`
	CodeTTLSeconds int    `json:"code_ttl_seconds"`
}

// RecoveryFinishRequest is the body of POST /api/v1/auth/recovery/finish.
type RecoveryFinishRequest struct {
	Tenant      string `json:"tenant"`
	Login       string `json:"login"`
	Code        string `json:"code"`
	NewPassword string `json:"new_password"`
}

// recoveryAccepted is the same for every accepted start.
var recoveryAccepted = RecoveryStartResponse{
	Status:         "accepted",
	Message:        "If the account exists and can receive messages over this channel, a code is on its way.",
	CodeTTLSeconds: int(identity.RecoveryCodeTTL / time.Second),
}

// recoveryRoutes lists this feature's endpoints.
func (a *API) recoveryRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/auth/recovery/start", Public: true, handler: a.recoveryStart},
		{Method: "POST", Pattern: "/api/v1/auth/recovery/finish", Public: true, handler: a.recoveryFinish},
	}
}

func (a *API) recoveryService(w http.ResponseWriter, r *http.Request) (RecoveryService, bool) {
	if a.d.Recovery == nil {
		a.writeError(w, r, apperr.NotFound("endpoint"))
		return nil, false
	}
	return a.d.Recovery, true
}

// recoveryStart answers 202 with the same body whether or not the tenant,
// the login or the channel exist; only malformed requests (400) and the
// caller's own rate limits (429) answer otherwise.
func (a *API) recoveryStart(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	start := time.Now()
	svc, ok := a.recoveryService(w, r)
	if !ok {
		return
	}
	var req RecoveryStartRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	rid := httpx.RequestID(ctx)
	res, err := svc.StartRecovery(ctx, identity.RecoveryStartInput{
		TenantSlug: req.Tenant, Login: req.Login, Channel: req.Channel,
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: rid,
	})
	identity.PadRecoveryResponse(ctx, start)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if res.DeliveryErr != nil {
		a.d.Log.Error("recovery code not handed over for delivery", "request_id", rid, "channel", req.Channel, "err", res.DeliveryErr)
	}
	writeJSON(w, http.StatusAccepted, recoveryAccepted)
}

// recoveryFinish answers 204 when the password was set; a wrong, unknown,
// expired, used or dead code answers 401 invalid_credentials.
func (a *API) recoveryFinish(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	start := time.Now()
	svc, ok := a.recoveryService(w, r)
	if !ok {
		return
	}
	var req RecoveryFinishRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	err := svc.FinishRecovery(ctx, identity.RecoveryFinishInput{
		TenantSlug: req.Tenant, Login: req.Login, Code: req.Code, NewPassword: req.NewPassword,
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(ctx),
	})
	identity.PadRecoveryResponse(ctx, start)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
