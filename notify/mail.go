package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/internal/httpx"
)

// Mail is one plain-text e-mail.
type Mail struct {
	To      string
	Kind    string // what it is, for logs: "recovery_code", "account_locked"
	Subject string
	Text    string
}

// Mailer sends e-mail.
type Mailer interface {
	SendMail(ctx context.Context, m Mail) error
}

// SMTPOptions configure SMTPMailer.
type SMTPOptions struct {
	Host     string
	Port     int
	Username string // empty: no authentication
	Password string
	From     string
	TLS      string // config.SMTPTLS*
	// TLSConfig overrides the TLS settings (e.g. a private CA); nil uses
	// the system roots with the host's name, TLS 1.2 or later.
	TLSConfig *tls.Config
	Timeout   time.Duration // per message; 0: 15 s
	Log       *slog.Logger
}

// SMTPMailer sends through an SMTP server with go-mail, one connection
// per message.
type SMTPMailer struct {
	o SMTPOptions
}

// NewSMTPMailer checks the options and returns the mailer.
func NewSMTPMailer(o SMTPOptions) (*SMTPMailer, error) {
	if o.Host == "" || o.From == "" {
		return nil, errors.New("notify: SMTP host and sender are required")
	}
	if o.Port == 0 {
		o.Port = 587
	}
	if o.TLS == "" {
		o.TLS = config.SMTPTLSStartTLS
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if _, err := gomail.NewClient(o.Host, o.clientOptions()...); err != nil {
		return nil, fmt.Errorf("notify: SMTP settings: %w", err)
	}
	return &SMTPMailer{o: o}, nil
}

func (o SMTPOptions) clientOptions() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(o.Port), gomail.WithTimeout(o.Timeout)}
	switch o.TLS {
	case config.SMTPTLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case config.SMTPTLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case config.SMTPTLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	tc := o.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	if o.Username != "" {
		// The strongest mechanism the server offers over TLS. Without TLS
		// (allowed with credentials only for a relay on loopback, see
		// config.Notify.Validate) PLAIN is the one that works.
		mech := gomail.SMTPAuthAutoDiscover
		if o.TLS == config.SMTPTLSNone {
			mech = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(o.Username), gomail.WithPassword(o.Password))
	}
	return opts
}

// SendMail sends m. Errors name neither the recipient nor the content.
func (s *SMTPMailer) SendMail(ctx context.Context, m Mail) error {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.o.From); err != nil {
		return errors.New("invalid sender address")
	}
	if err := msg.To(m.To); err != nil {
		return errors.New("invalid recipient address")
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetDate()
	// RFC 3834: an automatic message, not to be answered by autoresponders.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	c, err := gomail.NewClient(s.o.Host, s.o.clientOptions()...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %s", s.o.Host, s.o.Port, strings.ReplaceAll(err.Error(), m.To, "<recipient>"))
	}
	s.o.Log.Info("mail sent", "request_id", httpx.RequestID(ctx), "kind", m.Kind, "recipient_domain", domainOf(m.To))
	return nil
}

// LogMailer stands in when no SMTP server is configured: it logs that a
// message would have been sent, with its kind and the recipient's domain,
// and never its content (which may hold a code).
type LogMailer struct {
	Log *slog.Logger
}

// SendMail logs the message's kind and recipient domain.
func (l LogMailer) SendMail(ctx context.Context, m Mail) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("mail not sent: no SMTP server configured", "request_id", httpx.RequestID(ctx), "kind", m.Kind, "recipient_domain", domainOf(m.To))
	return nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
