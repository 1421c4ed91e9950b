package api

import (
	"net/http"
	"time"

	"github.com/havencrm/haven/identity"
)

// TokenDTO describes an API token; the secret is never shown again.
type TokenDTO struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Active     bool       `json:"active"`
}

// TokenList answers GET /api/v1/users/{id}/tokens.
type TokenList struct {
	Items []TokenDTO `json:"items"`
}

// CreateTokenRequest is the body of POST /api/v1/users/{id}/tokens.
type CreateTokenRequest struct {
	Name          string `json:"name"`
	Scope         string `json:"scope"`
	ExpiresInDays int    `json:"expires_in_days"`
}

// CreateTokenResponse carries the token secret, shown only here.
type CreateTokenResponse struct {
	Token  TokenDTO `json:"token"`
	Secret string   `json:"secret"`
}

func (a *API) tokenRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/api/v1/users/{id}/tokens", handler: a.listTokens},
		{Method: "POST", Pattern: "/api/v1/users/{id}/tokens", handler: a.createToken},
		{Method: "DELETE", Pattern: "/api/v1/tokens/{id}", handler: a.revokeToken},
	}
}

func tokenDTO(t identity.APIToken, now time.Time) TokenDTO {
	return TokenDTO{ID: t.ID, UserID: t.UserID, Name: t.Name, Scope: t.Scope, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, Active: t.Live(now)}
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	toks, err := a.d.Accounts.Tokens(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	now := time.Now()
	out := TokenList{Items: make([]TokenDTO, 0, len(toks))}
	for _, t := range toks {
		out.Items = append(out.Items, tokenDTO(t, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req CreateTokenRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	nt, err := a.d.Accounts.CreateToken(r.Context(), p.Actor, identity.TokenInput{Name: req.Name, Scope: req.Scope, Days: req.ExpiresInDays, ForUser: r.PathValue("id")})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, CreateTokenResponse{Token: tokenDTO(nt.Token, time.Now()), Secret: nt.Secret})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if err := a.d.Accounts.RevokeToken(r.Context(), p.Actor, r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
