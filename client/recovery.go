package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// StartRecovery asks for a password recovery code. It succeeds (202) the
// same way whether or not the account exists; a rate_limited *Error
// carries RetryAfter.
func (c *Client) StartRecovery(ctx context.Context, req api.RecoveryStartRequest) (*api.RecoveryStartResponse, error) {
	var out api.RecoveryStartResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/recovery/start", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FinishRecovery sets a new password with a recovery code. It does not
// sign in: every session of the user ends, and the caller signs in again
// with Login.
func (c *Client) FinishRecovery(ctx context.Context, req api.RecoveryFinishRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v1/auth/recovery/finish", nil, req, nil)
}
