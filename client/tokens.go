package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// CreateToken creates an API token for a user; the secret is in the
// response only.
func (c *Client) CreateToken(ctx context.Context, userID string, req api.CreateTokenRequest) (*api.CreateTokenResponse, error) {
	var out api.CreateTokenResponse
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "users", userID, "tokens"), nil, req, &out))
}

// UserTokens lists a user's API tokens.
func (c *Client) UserTokens(ctx context.Context, userID string) (*api.TokenList, error) {
	var out api.TokenList
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "users", userID, "tokens"), nil, nil, &out))
}

// RevokeToken revokes an API token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, joinPath("api", "v1", "tokens", id), nil, nil, nil)
}
