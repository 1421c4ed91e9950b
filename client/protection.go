package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// UpdateFieldProtection replaces a field's encryption, search and
// visibility settings (admins). JobID in the answer names the background
// conversion, when one was needed.
func (c *Client) UpdateFieldProtection(ctx context.Context, object, field string, p api.FieldProtectionDTO) (*api.UpdateFieldResponse, error) {
	var out api.UpdateFieldResponse
	return ptr(&out, c.do(ctx, http.MethodPatch, joinPath("api", "v1", "objects", object, "fields", field), nil, p, &out))
}

// Reveal shows one masked value; the reason goes to the audit trail.
func (c *Client) Reveal(ctx context.Context, object, id, field, reason string) (*api.RevealResponse, error) {
	var out api.RevealResponse
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "objects", object, "records", id, "reveal"), nil,
		api.RevealRequest{Field: field, Reason: reason}, &out))
}

// DataKeys lists the tenant's data-key terms (admins).
func (c *Client) DataKeys(ctx context.Context) (*api.DataKeyList, error) {
	var out api.DataKeyList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/keys", nil, nil, &out))
}

// RotateDataKey starts a data-key rotation (admins).
func (c *Client) RotateDataKey(ctx context.Context) (*api.RotateKeyResponse, error) {
	var out api.RotateKeyResponse
	return ptr(&out, c.do(ctx, http.MethodPost, "/api/v1/keys/rotate", nil, nil, &out))
}
