package client

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// download streams the body of GET path?query to w, and returns the file
// name the server suggests and the response headers. An answer other than
// 200 is an *Error; a transfer cut short returns an error after what
// arrived was written. The file downloads (audit trail, exports) share it.
func (c *Client) download(ctx context.Context, path string, query url.Values, accept string, w io.Writer) (filename string, header http.Header, err error) {
	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + encodeQuery(query)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", nil, fmt.Errorf("haven: GET %s: %w", path, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	token := c.Token()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("haven: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, parseError(resp, token)
	}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		filename = params["filename"]
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return filename, resp.Header, fmt.Errorf("haven: GET %s: read the export: %w", path, err)
	}
	return filename, resp.Header, nil
}
