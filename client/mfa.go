package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// UserMFA returns a user's multi-factor status.
func (c *Client) UserMFA(ctx context.Context, userID string) (*api.MFAStatusDTO, error) {
	var out api.MFAStatusDTO
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "users", userID, "mfa"), nil, nil, &out))
}

// BeginTOTP starts enrolling an authenticator app.
func (c *Client) BeginTOTP(ctx context.Context) (*api.TOTPSetupDTO, error) {
	var out api.TOTPSetupDTO
	return ptr(&out, c.do(ctx, http.MethodPost, "/api/v1/auth/mfa/totp", nil, nil, &out))
}

// ConfirmTOTP enables the authenticator and returns recovery codes.
func (c *Client) ConfirmTOTP(ctx context.Context, code string) (*api.RecoveryCodesDTO, error) {
	var out api.RecoveryCodesDTO
	return ptr(&out, c.do(ctx, http.MethodPost, "/api/v1/auth/mfa/totp/confirm", nil, api.ConfirmTOTPRequest{Code: code}, &out))
}

// DisableTOTP removes your authenticator.
func (c *Client) DisableTOTP(ctx context.Context, currentPassword string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/auth/mfa/totp/disable", nil, api.DisableTOTPRequest{CurrentPassword: currentPassword}, nil)
}

// ResetUserMFA removes a user's authenticator (admins).
func (c *Client) ResetUserMFA(ctx context.Context, userID string) error {
	return c.do(ctx, http.MethodPost, joinPath("api", "v1", "users", userID, "mfa", "reset"), nil, nil, nil)
}
