package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// SMTP TLS modes.
const (
	SMTPTLSStartTLS      = "starttls"      // STARTTLS required (default)
	SMTPTLSImplicit      = "tls"           // TLS from the first byte (SMTPS, usually port 465)
	SMTPTLSOpportunistic = "opportunistic" // STARTTLS when offered, else plain text
	SMTPTLSNone          = "none"          // plain text (a relay on localhost, tests)
)

// SMS providers.
const (
	SMSProviderLog     = "log"     // development: logs that a text would have been sent, never its content
	SMSProviderWebhook = "webhook" // POSTs JSON to a gateway adapter
)

// Notify configures outbound e-mail and SMS (recovery codes, lock
// notices). Without an SMTP host, e-mail is only logged as sent (the kind
// and the recipient's domain, never the content).
type Notify struct {
	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	// SMTPPassword is a secret: it is never logged or printed.
	SMTPPassword string
	SMTPFrom     string
	SMTPTLS      string

	SMSProvider   string
	SMSWebhookURL string
	// SMSWebhookSecret, when set, signs each webhook request with
	// HMAC-SHA256 (X-Haven-Signature); it is never logged or printed.
	SMSWebhookSecret string

	// Language of messages: "bilingual" (zh-CN then English), "zh-CN" or "en".
	Language string
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func defaultNotify() Notify {
	return Notify{SMTPPort: 587, SMTPTLS: SMTPTLSStartTLS, SMSProvider: SMSProviderLog, Language: "bilingual"}
}

func port(p func(*Config) *int) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strconv.Itoa(*p(c)) }, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return errors.New("must be a port number between 1 and 65535")
		}
		*p(c) = n
		return nil
	}
}

// secret is str for a value that must never be shown: its "current value"
// (used for the flag's default in --help) is always empty.
func secret(p func(*Config) *string) (func(*Config) string, func(*Config, string) error) {
	return func(*Config) string { return "" }, func(c *Config, v string) error { *p(c) = v; return nil }
}

func notifySettings() []setting {
	type gs = func() (func(*Config) string, func(*Config, string) error)
	mk := func(key, usage string, f gs) setting {
		g, s := f()
		return setting{key: key, usage: usage, get: g, set: s}
	}
	strOf := func(p func(n *Notify) *string) gs {
		return func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return p(&c.Notify) })
		}
	}
	return []setting{
		mk("smtp-host", "SMTP server for outgoing e-mail (empty: e-mail is only logged as sent)", strOf(func(n *Notify) *string { return &n.SMTPHost })),
		mk("smtp-port", "SMTP server port", func() (func(*Config) string, func(*Config, string) error) {
			return port(func(c *Config) *int { return &c.Notify.SMTPPort })
		}),
		mk("smtp-username", "SMTP user name (empty: no authentication)", strOf(func(n *Notify) *string { return &n.SMTPUsername })),
		mk("smtp-password", "SMTP password (prefer the environment variable; never logged)", func() (func(*Config) string, func(*Config, string) error) {
			return secret(func(c *Config) *string { return &c.Notify.SMTPPassword })
		}),
		mk("smtp-from", "sender address of outgoing e-mail, e.g. Haven <no-reply@example.com>", strOf(func(n *Notify) *string { return &n.SMTPFrom })),
		mk("smtp-tls", "starttls (required), tls (implicit, port 465), opportunistic or none", strOf(func(n *Notify) *string { return &n.SMTPTLS })),
		mk("sms-provider", "log (development: logs only that a text was sent) or webhook", strOf(func(n *Notify) *string { return &n.SMSProvider })),
		mk("sms-webhook-url", "URL the webhook SMS provider POSTs each text to as JSON", strOf(func(n *Notify) *string { return &n.SMSWebhookURL })),
		mk("sms-webhook-secret", "key signing webhook requests with HMAC-SHA256 in X-Haven-Signature (never logged)", func() (func(*Config) string, func(*Config, string) error) {
			return secret(func(c *Config) *string { return &c.Notify.SMSWebhookSecret })
		}),
		mk("notify-language", "language of e-mail and SMS: bilingual (zh-CN and English), zh-CN or en", strOf(func(n *Notify) *string { return &n.Language })),
	}
}

// Validate checks the outbound messaging settings.
func (n Notify) Validate() error {
	if n.SMTPHost != "" {
		if n.SMTPFrom == "" {
			return errors.New("smtp-from is required with smtp-host")
		}
		if _, err := mail.ParseAddress(n.SMTPFrom); err != nil {
			return fmt.Errorf("smtp-from %q is not an e-mail address", n.SMTPFrom)
		}
	}
	switch n.SMTPTLS {
	case SMTPTLSStartTLS, SMTPTLSImplicit, SMTPTLSOpportunistic, SMTPTLSNone:
	default:
		return errors.New("smtp-tls must be starttls, tls, opportunistic or none")
	}
	if n.SMTPPassword != "" && n.SMTPUsername == "" {
		return errors.New("smtp-password needs smtp-username")
	}
	if n.SMTPTLS == SMTPTLSNone && n.SMTPUsername != "" && n.SMTPHost != "" && !isLoopback(n.SMTPHost) {
		return errors.New("smtp-tls none would send the SMTP password in clear text: use starttls or tls, or a relay on localhost")
	}
	switch n.SMSProvider {
	case SMSProviderLog:
		if n.SMSWebhookURL != "" {
			return errors.New("sms-webhook-url is set but sms-provider is log")
		}
	case SMSProviderWebhook:
		u, err := url.Parse(n.SMSWebhookURL)
		if n.SMSWebhookURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			// Never echo the URL: it may carry a token.
			return errors.New("sms-webhook-url must be an http(s) URL without credentials when sms-provider is webhook")
		}
	default:
		return errors.New("sms-provider must be log or webhook")
	}
	switch n.Language {
	case "bilingual", "zh-CN", "en":
	default:
		return errors.New("notify-language must be bilingual, zh-CN or en")
	}
	return nil
}

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// String describes the settings with their secrets redacted, so that a
// configuration printed by mistake (%v, %+v) does not leak them.
func (n Notify) String() string {
	type plain Notify
	p := plain(n)
	p.SMTPPassword, p.SMSWebhookSecret = redacted(p.SMTPPassword), redacted(p.SMSWebhookSecret)
	return fmt.Sprintf("%+v", p)
}

// GoString is String for %#v.
func (n Notify) GoString() string { return "config.Notify" + n.String() }

// LogValue is String for log/slog.
func (n Notify) LogValue() slog.Value { return slog.StringValue(n.String()) }
