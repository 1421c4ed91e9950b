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

// SupportSettings reads how many admins must approve an operator's
// request (admins).
func (c *Client) SupportSettings(ctx context.Context) (*api.SupportSettingsDTO, error) {
	var out api.SupportSettingsDTO
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/settings/support-access", nil, nil, &out))
}

// SetSupportSettings sets how many admins must approve (1 or 2).
func (c *Client) SetSupportSettings(ctx context.Context, required int) (*api.SupportSettingsDTO, error) {
	var out api.SupportSettingsDTO
	return ptr(&out, c.do(ctx, http.MethodPut, "/api/v1/settings/support-access", nil, api.PutSupportSettingsRequest{RequiredApprovals: &required}, &out))
}
