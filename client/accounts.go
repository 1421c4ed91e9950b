package client

import (
	"context"
	"net/http"

	"github.com/havencrm/haven/api"
)

// UserSessions lists a user's live sessions (your own, or anyone's as an admin).
func (c *Client) UserSessions(ctx context.Context, userID string) (*api.SessionList, error) {
	var out api.SessionList
	return ptr(&out, c.do(ctx, http.MethodGet, joinPath("api", "v1", "users", userID, "sessions"), nil, nil, &out))
}

// EndSession ends one session.
func (c *Client) EndSession(ctx context.Context, sessionID string) error {
	return c.do(ctx, http.MethodDelete, joinPath("api", "v1", "sessions", sessionID), nil, nil, nil)
}

// OffboardUser deactivates a user, ends their sessions and gives their
// records to transferTo.
func (c *Client) OffboardUser(ctx context.Context, userID, transferTo string) (*api.OffboardResponse, error) {
	var out api.OffboardResponse
	return ptr(&out, c.do(ctx, http.MethodPost, joinPath("api", "v1", "users", userID, "offboard"), nil, api.OffboardRequest{TransferTo: transferTo}, &out))
}
