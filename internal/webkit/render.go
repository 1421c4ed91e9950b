package webkit

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/havencrm/haven/internal/httpx"
)

// Render executes the "page" template of t into a buffer first, so a
// template failure never sends half a page, then writes it with status
// and the headers every page needs. kind names the pages in log messages
// ("page", "ops page") so an operator can tell the two UIs apart; name is
// the page's template name. A nil t (an unknown page) is a plain 500.
func Render(rw http.ResponseWriter, r *http.Request, log *slog.Logger, kind string, t *template.Template, name string, status int, data any) {
	var buf bytes.Buffer
	if t == nil {
		log.Error("unknown "+kind+" template", "request_id", httpx.RequestID(r.Context()), "page", name)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "page", data); err != nil {
		rid := httpx.RequestID(r.Context())
		log.Error("render "+kind, "request_id", rid, "page", name, "err", err)
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write([]byte("Internal error. Request ID: " + rid + "\n"))
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show tenant data (in the console, under a grant): no cache
	// keeps a copy.
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, Accept-Language")
	// The middleware's no-referrer makes browsers send "Origin: null" on
	// form posts, which would defeat the origin check. same-origin still
	// sends nothing to other sites.
	h.Set("Referrer-Policy", "same-origin")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// LogInternal logs an internal error with the request ID under msg; a
// canceled request (the client went away) is only noted, since it is not
// a fault. The caller then shows the error page with the ID alone.
func LogInternal(log *slog.Logger, r *http.Request, msg string, err error) {
	rid := httpx.RequestID(r.Context())
	if errors.Is(err, context.Canceled) {
		log.Info("request canceled", "request_id", rid)
	} else {
		log.Error(msg, "request_id", rid, "path", r.URL.Path, "err", err)
	}
}

// NavItem is one link of a side navigation.
type NavItem struct {
	Label  string
	Href   string
	Active bool
}

// Option is one choice of a select or a radio group.
type Option struct {
	Value    string
	Label    string
	Selected bool
}

// LangOptions lists the languages for the language switch, each labelled
// by label ("lang.en", "lang.zh" in the page's language), the current one
// selected.
func LangOptions(current Lang, label func(key string) string) []Option {
	var out []Option
	for _, l := range []Lang{LangEN, LangZH} {
		key := "lang.en"
		if l == LangZH {
			key = "lang.zh"
		}
		out = append(out, Option{Value: l.Tag(), Label: label(key), Selected: l == current})
	}
	return out
}
