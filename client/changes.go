package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/havencrm/haven/api"
)

// ChangeHead returns the cursor of the change feed's current end. Take it
// before copying every record, then read Changes from it, so nothing
// written during the copy is missed.
func (c *Client) ChangeHead(ctx context.Context) (string, error) {
	var out api.ChangeHeadDTO
	if err := c.do(ctx, http.MethodGet, "/api/v1/changes/head", nil, nil, &out); err != nil {
		return "", err
	}
	return out.Cursor, nil
}

// Changes returns the page of the change feed after cursor ("" for the
// beginning), at most limit items (0: the server's default). Continue
// from the page's NextCursor; HasMore tells whether more were waiting.
func (c *Client) Changes(ctx context.Context, cursor string, limit int) (*api.ChangeList, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("since", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out api.ChangeList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/changes", q, nil, &out))
}
