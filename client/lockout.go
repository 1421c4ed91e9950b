package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// UnlockUser clears a user's failed sign-ins and lock (admins).
func (c *Client) UnlockUser(ctx context.Context, userID string) (*api.UnlockResponse, error) {
	var out api.UnlockResponse
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "users", userID, "unlock"), nil, nil, &out))
}

// CaptchaImage fetches the PNG of a CAPTCHA challenge named by the
// captcha_id of a captcha_required error.
func (c *Client) CaptchaImage(ctx context.Context, captchaID string) ([]byte, error) {
	var out []byte
	if err := c.do(ctx, http.MethodGet, joinPath("api", "v1", "auth", "captcha", captchaID+".png"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}
