package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// SupportAccess lists operator access requests and grants (admins).
func (c *Client) SupportAccess(ctx context.Context) (*api.GrantList, error) {
	var out api.GrantList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/support-access", nil, nil, &out))
}

// DecideSupportAccess approves, denies or revokes (verb) a grant with a
// written statement.
func (c *Client) DecideSupportAccess(ctx context.Context, id, verb string, req api.GrantDecisionRequest) (*api.GrantDTO, error) {
	var out api.GrantDTO
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "support-access", id, verb), nil, req, &out))
}
