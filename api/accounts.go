package api

import (
	"context"
	"net/http"
	"time"

	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/tenant"
)

// AccountService manages a user's credentials (sessions, API tokens) and
// offboards users.
type AccountService interface {
	CreateToken(ctx context.Context, actor tenant.Actor, in identity.TokenInput) (identity.NewToken, error)
	Tokens(ctx context.Context, actor tenant.Actor, userID string) ([]identity.APIToken, error)
	RevokeToken(ctx context.Context, actor tenant.Actor, id string) error
	LiveTokensByUser(ctx context.Context, actor tenant.Actor) (map[string][]identity.APIToken, error)
	Sessions(ctx context.Context, actor tenant.Actor, userID string) ([]identity.Session, error)
	EndSession(ctx context.Context, actor tenant.Actor, sessionID string) error
	Offboard(ctx context.Context, actor tenant.Actor, userID, transferTo string) (identity.OffboardResult, error)
}

// SessionDTO is one signed-in session; its token is never shown again.
type SessionDTO struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

// SessionList answers GET /api/v1/users/{id}/sessions.
type SessionList struct {
	Items []SessionDTO `json:"items"`
}

// OffboardRequest is the body of POST /api/v1/users/{id}/offboard.
type OffboardRequest struct {
	TransferTo string `json:"transfer_to"`
}

// OffboardResponse says what offboarding did.
type OffboardResponse struct {
	User               UserDTO        `json:"user"`
	TransferredTo      string         `json:"transferred_to"`
	RecordsTransferred int            `json:"records_transferred"`
	RecordsByObject    map[string]int `json:"records_by_object"`
	SessionsRevoked    int            `json:"sessions_revoked"`
}

func (a *API) accountRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/users/{id}/sessions", handler: a.listSessions},
		{Method: "DELETE", Pattern: "/api/v1/sessions/{id}", handler: a.endSession},
		{Method: "POST", Pattern: "/api/v1/users/{id}/offboard", handler: a.offboard},
	}
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	sessions, err := a.d.Accounts.Sessions(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := SessionList{Items: make([]SessionDTO, 0, len(sessions))}
	for _, s := range sessions {
		out.Items = append(out.Items, SessionDTO{ID: s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt,
			IP: s.IP, UserAgent: s.UserAgent, Current: s.ID == p.Actor.SessionID})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if err := a.d.Accounts.EndSession(r.Context(), p.Actor, r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) offboard(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req OffboardRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.TransferTo == "" {
		a.writeError(w, r, apperr.InvalidFields(map[string]string{"transfer_to": "required: the user who takes over the records"}))
		return
	}
	res, err := a.d.Accounts.Offboard(r.Context(), p.Actor, r.PathValue("id"), req.TransferTo)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	byObject := map[string]int{}
	for _, t := range res.Transferred {
		byObject[t.Object]++
	}
	writeJSON(w, http.StatusOK, OffboardResponse{User: userDTO(res.User), TransferredTo: req.TransferTo,
		RecordsTransferred: len(res.Transferred), RecordsByObject: byObject, SessionsRevoked: res.SessionsRevoked})
}
