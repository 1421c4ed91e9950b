package client

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/havencrm/haven/api"
)

// StartFullExport queues an export of all of the tenant's data and
// returns its ID. Set Recipient (an age X25519 public key) or Passphrase
// to have the file encrypted.
func (c *Client) StartFullExport(ctx context.Context, req api.CreateExportRequest) (string, error) {
	var out api.CreateExportResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/exports", nil, req, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// FullExport returns the state of one of the caller's exports.
func (c *Client) FullExport(ctx context.Context, id string) (*api.ExportDTO, error) {
	var out api.ExportDTO
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/exports/"+url.PathEscape(id), nil, nil, &out))
}

// DownloadFullExport streams a finished export to w and returns the file
// name the server suggests. An expired export answers an *Error with code
// "gone" (410). A transfer cut short returns an error: check the file
// against the export's sha256 before trusting it.
func (c *Client) DownloadFullExport(ctx context.Context, id string, w io.Writer) (filename string, err error) {
	filename, _, err = c.download(ctx, "/api/v1/exports/"+url.PathEscape(id)+"/download", nil, "", w)
	return filename, err
}
