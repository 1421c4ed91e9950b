package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/havencrm/haven/internal/httpx"
)

// SMS is one text message. Text is the whole message in the chosen
// language; Template and Params are the same message as a template name
// and its values, for gateways (common in China) that only send
// pre-registered templates.
type SMS struct {
	To       string            `json:"to"`
	Kind     string            `json:"kind"`
	Lang     string            `json:"lang"`
	Text     string            `json:"text"`
	Template string            `json:"template"`
	Params   map[string]string `json:"params"`
}

// SMSProvider sends text messages.
type SMSProvider interface {
	SendSMS(ctx context.Context, m SMS) error
}

// Webhook signature headers.
const (
	HeaderTimestamp = "X-Haven-Timestamp"
	HeaderSignature = "X-Haven-Signature"
)

// WebhookSMS POSTs each text as JSON to a URL: a small adapter in front of
// the SMS gateway of the operator's choice. With a secret, each request
// carries X-Haven-Timestamp (Unix seconds) and X-Haven-Signature
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), so the
// adapter can reject forged and replayed requests.
type WebhookSMS struct {
	URL    string
	Secret string
	Client *http.Client // nil: a client with a 10 s timeout that follows no redirects
	Log    *slog.Logger
	Now    func() time.Time
}

// Sign returns the signature header value of body sent at timestamp ts.
func Sign(secret string, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature made by Sign, in constant time.
func Verify(secret, ts string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}

var defaultWebhookClient = &http.Client{
	Timeout: 10 * time.Second,
	// A redirect could send the code elsewhere; the adapter must answer
	// itself.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// SendSMS posts m. Errors name neither the number nor the text.
func (w *WebhookSMS) SendSMS(ctx context.Context, m SMS) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("sms webhook: invalid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Haven")
	if w.Secret != "" {
		now := time.Now
		if w.Now != nil {
			now = w.Now
		}
		ts := strconv.FormatInt(now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	}
	hc := w.Client
	if hc == nil {
		hc = defaultWebhookClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The *url.Error would repeat the URL, which may hold a token.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("sms webhook: %w", err)
		}
		return errors.New("sms webhook: request failed")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sms webhook answered %d", resp.StatusCode)
	}
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("sms sent", "request_id", httpx.RequestID(ctx), "kind", m.Kind, "recipient", maskPhone(m.To))
	return nil
}

// LogSMS is the development provider: it logs that a text would have been
// sent, with its kind and the number's last two digits, and never its
// content (which may hold a code).
type LogSMS struct {
	Log *slog.Logger
}

// SendSMS logs the message's kind.
func (l LogSMS) SendSMS(ctx context.Context, m SMS) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("sms not sent: log provider", "request_id", httpx.RequestID(ctx), "kind", m.Kind, "recipient", maskPhone(m.To))
	return nil
}

// maskPhone keeps only the last two digits of a number.
func maskPhone(p string) string {
	if len(p) <= 2 {
		return "**"
	}
	return "…" + p[len(p)-2:]
}
