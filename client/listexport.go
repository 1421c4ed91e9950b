package client

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/havencrm/haven/api"
)

// ExportRules returns the tenant's export rules (admins only).
func (c *Client) ExportRules(ctx context.Context) (*api.ExportSettingsDTO, error) {
	var out api.ExportSettingsDTO
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/settings/export", nil, nil, &out))
}

// PutExportRules replaces the tenant's export rules (admins only).
func (c *Client) PutExportRules(ctx context.Context, s api.ExportSettingsDTO) (*api.ExportSettingsDTO, error) {
	req := api.PutExportSettingsRequest{ListRoles: &s.ListRoles, FullRoles: &s.FullRoles, DailyRowQuota: &s.DailyRowQuota, NotifyThreshold: &s.NotifyThreshold}
	var out api.ExportSettingsDTO
	return ptr(&out, c.do(ctx, http.MethodPut, "/api/v1/settings/export", nil, req, &out))
}

// ExportList writes the whole list of object that opts describe (its Q,
// Sort and Filter; Limit and Cursor are not taken) as format ("csv" or
// "xlsx") to w, and returns the export's ID and the suggested file name.
// Refusals answer an *Error: "forbidden", "contract_ended" or
// "rate_limited" (the daily row quota; nothing was charged).
func (c *Client) ExportList(ctx context.Context, object, format string, opts ListOptions, w io.Writer) (exportID, filename string, err error) {
	if opts.Limit != 0 || opts.Cursor != "" {
		return "", "", fmt.Errorf("haven: ExportList: an export is the whole list; Limit and Cursor are not taken")
	}
	path := "/api/v1/objects/" + url.PathEscape(object) + "/records/export"
	q := opts.values()
	q.Set("format", format)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path+"?"+encodeQuery(q), nil)
	if err != nil {
		return "", "", fmt.Errorf("haven: GET %s: %w", path, err)
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
		return "", "", fmt.Errorf("haven: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", parseError(resp, token)
	}
	exportID = resp.Header.Get("X-Haven-Export-Id")
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		filename = params["filename"]
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return exportID, filename, fmt.Errorf("haven: GET %s: read the export: %w", path, err)
	}
	return exportID, filename, nil
}
