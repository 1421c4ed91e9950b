package client

import (
	"context"
	"fmt"
	"io"
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
	q := opts.values()
	q.Set("format", format)
	filename, header, err := c.download(ctx, "/api/v1/objects/"+url.PathEscape(object)+"/records/export", q, "", w)
	if header != nil {
		exportID = header.Get("X-Haven-Export-Id")
	}
	return exportID, filename, err
}
