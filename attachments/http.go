package attachments

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/havencrm/haven/internal/httpx"
)

// Serve sends an opened download: headers, then the authenticated
// plaintext as it is decrypted. The status is sent before the file is
// read to the end, so a failure (a corrupt chunk, a client gone) can only
// abort the response: the client sees a transfer cut short of its
// Content-Length, never one that looks complete.
func Serve(w http.ResponseWriter, r *http.Request, log *slog.Logger, d *Download) {
	SetDownloadHeaders(w.Header(), d.Attachment)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, d); err != nil {
		rid := httpx.RequestID(r.Context())
		if errors.Is(err, ErrCorrupt) {
			log.Error("attachment download aborted: the file failed authentication", "request_id", rid, "attachment_id", d.ID, "err", err)
		} else {
			log.Info("attachment download aborted", "request_id", rid, "attachment_id", d.ID, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// SetDownloadHeaders sets the headers of an attachment download, shared
// by the API and the web UI: the stored (allow-listed) type, the exact
// length, and everything that keeps a browser from rendering the file in
// the site's origin: Content-Disposition attachment, nosniff and a
// sandboxing CSP in case a browser displays it anyway.
func SetDownloadHeaders(h http.Header, a Attachment) {
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("Content-Disposition", ContentDisposition(a.Filename))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
}

// ContentDisposition returns an attachment disposition for a file name
// (RFC 6266): an ASCII filename for old clients and the exact UTF-8 name
// as filename* (RFC 8187), so "张三身份证.jpg" arrives intact.
func ContentDisposition(name string) string {
	var fallback strings.Builder
	plain := 0
	for _, r := range name {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' && r != '%' {
			fallback.WriteRune(r)
			plain++
		} else {
			fallback.WriteByte('_')
		}
	}
	ascii := fallback.String()
	if ext := path.Ext(name); plain <= len(ext) {
		// Nothing readable survives: a neutral name with the extension is
		// more use than a row of underscores.
		ascii = "attachment" + strings.Map(func(r rune) rune {
			if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' && r != '%' {
				return r
			}
			return '_'
		}, ext)
	}
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + encodeExtValue(name)
}

// encodeExtValue percent-encodes every byte outside RFC 8187's attr-char.
func encodeExtValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
