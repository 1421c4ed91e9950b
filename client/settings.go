package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// SecuritySettings returns the tenant's security settings (admins only).
func (c *Client) SecuritySettings(ctx context.Context) (*api.SecuritySettingsDTO, error) {
	var out api.SecuritySettingsDTO
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "settings", "security"), nil, nil, &out))
}

// PutSecuritySettings replaces the tenant's security settings (admins
// only) and returns those in force.
func (c *Client) PutSecuritySettings(ctx context.Context, req api.PutSecuritySettingsRequest) (*api.SecuritySettingsDTO, error) {
	var out api.SecuritySettingsDTO
	return ptr(&out, c.do(ctx, http.MethodPut, joinPath("api", "v1", "settings", "security"), nil, req, &out))
}
