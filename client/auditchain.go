package client

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/havencrm/haven/api"
)

// VerifyAudit recomputes the tenant's audit trail on the server (admins).
// A broken trail is not an error: the report has OK false and names the
// first event that does not verify.
func (c *Client) VerifyAudit(ctx context.Context) (*api.AuditVerifyDTO, error) {
	var out api.AuditVerifyDTO
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, &out))
}

// AuditKeys lists the platform's audit signing public keys (no credential
// needed).
func (c *Client) AuditKeys(ctx context.Context) (*api.AuditKeyList, error) {
	var out api.AuditKeyList
	return ptr(&out, c.do(ctx, http.MethodGet, "/api/v1/audit/keys", nil, nil, &out))
}

// AuditKeysText returns the public keys in the key file format that
// "haven audit verify --public-key" and audit.ParsePublicKeys read.
func (c *Client) AuditKeysText(ctx context.Context) ([]byte, error) {
	var out []byte
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit/keys", url.Values{"format": {"text"}}, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ExportAudit streams the tenant's whole audit trail (JSON Lines) to w
// (admins) and returns the file name the server suggests. The server
// records the export in the trail first. A transfer cut short returns an
// error; what reached w then lacks its end line and fails verification.
func (c *Client) ExportAudit(ctx context.Context, w io.Writer) (filename string, err error) {
	filename, _, err = c.download(ctx, "/api/v1/audit/export", nil, "application/x-ndjson, application/json", w)
	return filename, err
}
