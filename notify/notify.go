// Package notify sends Haven's outbound messages: e-mail through an SMTP
// server (go-mail) and text messages through an SMS provider (an HTTP
// webhook, or a log-only provider for development). Its Notifier is the
// identity.Notifier the server wires in: it writes recovery codes and lock
// notices in Simplified Chinese and English and hands them to a bounded
// pool of background senders, so that a slow mail server never holds up an
// HTTP response (and cannot reveal by timing whether an account exists).
//
// Nothing secret is logged: a sent message is logged with its kind and the
// recipient's e-mail domain (or a phone number's last two digits), never
// its content; failures are logged with the request ID that caused them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"github.com/havencrm/haven/supportaccess"
	"log/slog"
	"sync"
	"time"

	"github.com/havencrm/haven/config"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/tenant"
)

// Options configure a Notifier.
type Options struct {
	Mailer Mailer      // nil: LogMailer
	SMS    SMSProvider // nil: LogSMS
	Log    *slog.Logger
	// Language picks a message's language; nil: Default for everyone.
	Language func(t tenant.Tenant, u identity.User) Language
	Default  Language // "" is Bilingual
	// SendTimeout bounds one delivery; 0: 30 s.
	SendTimeout time.Duration
	// Senders is how many messages are sent at once; 0: 4.
	Senders int
	// MaxPending is how many messages may wait or be in flight; past it new
	// messages are dropped (and the drop is logged). 0: 256.
	MaxPending int
	// Now is the clock for "valid for N minutes"; nil: time.Now.
	Now func() time.Time
}

// Notifier implements identity.Notifier with background delivery.
type Notifier struct {
	o        Options
	pending  chan struct{}
	sending  chan struct{}
	mu       sync.Mutex
	closed   bool
	inflight int
	idle     []chan struct{} // closed when inflight drops to 0
}

var _ identity.Notifier = (*Notifier)(nil)

// ErrQueueFull is returned when too many messages are already pending.
var ErrQueueFull = errors.New("notify: too many messages pending; message dropped")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("notify: notifier closed")

// New returns a Notifier.
func New(o Options) *Notifier {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Mailer == nil {
		o.Mailer = LogMailer{Log: o.Log}
	}
	if o.SMS == nil {
		o.SMS = LogSMS{Log: o.Log}
	}
	if o.Default == "" {
		o.Default = Bilingual
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Senders <= 0 {
		o.Senders = 4
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o, pending: make(chan struct{}, o.MaxPending), sending: make(chan struct{}, o.Senders)}
}

// FromConfig builds the Notifier the configuration describes: the SMTP
// mailer when an SMTP host is set (else the log mailer), and the
// configured SMS provider.
func FromConfig(c config.Notify, log *slog.Logger) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	o := Options{Log: log, Default: ParseLanguage(c.Language)}
	if c.SMTPHost != "" {
		m, err := NewSMTPMailer(SMTPOptions{Host: c.SMTPHost, Port: c.SMTPPort, Username: c.SMTPUsername, Password: c.SMTPPassword,
			From: c.SMTPFrom, TLS: c.SMTPTLS, Log: log})
		if err != nil {
			return nil, err
		}
		o.Mailer = m
	}
	if c.SMSProvider == config.SMSProviderWebhook {
		o.SMS = &WebhookSMS{URL: c.SMSWebhookURL, Secret: c.SMSWebhookSecret, Log: log}
	}
	return New(o), nil
}

func (n *Notifier) lang(t tenant.Tenant, u identity.User) Language {
	if n.o.Language != nil {
		if l := n.o.Language(t, u); l != "" {
			return l
		}
	}
	return n.o.Default
}

// RecoveryCode queues a recovery code for delivery over channel.
func (n *Notifier) RecoveryCode(ctx context.Context, t tenant.Tenant, u identity.User, channel, code string, expires time.Time) error {
	l := n.lang(t, u)
	now := n.o.Now()
	switch channel {
	case identity.ChannelEmail:
		if u.Email == "" {
			return errors.New("notify: the user has no e-mail address")
		}
		m := recoveryMail(l, t, u, code, expires, now)
		return n.enqueue(ctx, m.Kind, "email", func(ctx context.Context) error { return n.o.Mailer.SendMail(ctx, m) })
	case identity.ChannelSMS:
		if u.Phone == "" {
			return errors.New("notify: the user has no phone number")
		}
		m := recoverySMS(l, u, code, expires, now)
		return n.enqueue(ctx, m.Kind, "sms", func(ctx context.Context) error { return n.o.SMS.SendSMS(ctx, m) })
	}
	return fmt.Errorf("notify: unknown channel %q", channel)
}

// AccountLocked queues an e-mail telling the user their account is locked.
// A user without an e-mail address is not told (nil).
func (n *Notifier) AccountLocked(ctx context.Context, t tenant.Tenant, u identity.User, until *time.Time) error {
	if u.Email == "" {
		return nil
	}
	m := lockedMail(n.lang(t, u), t, u, until)
	return n.enqueue(ctx, m.Kind, "email", func(ctx context.Context) error { return n.o.Mailer.SendMail(ctx, m) })
}

// AccessRequest queues an e-mail telling an admin about an operator's
// access request. An admin without an e-mail address is not told (nil).
func (n *Notifier) AccessRequest(ctx context.Context, t tenant.Tenant, admin identity.User, g supportaccess.Grant) error {
	if admin.Email == "" {
		return nil
	}
	m := accessRequestMail(n.lang(t, admin), t, admin, g)
	return n.enqueue(ctx, m.Kind, "email", func(ctx context.Context) error { return n.o.Mailer.SendMail(ctx, m) })
}

// AccessEnded e-mails one admin the digest of an ended grant.
func (n *Notifier) AccessEnded(ctx context.Context, t tenant.Tenant, admin identity.User, d supportaccess.Digest) error {
	if admin.Email == "" {
		return nil
	}
	m := accessEndedMail(n.lang(t, admin), t, admin, d)
	return n.enqueue(ctx, m.Kind, "email", func(ctx context.Context) error { return n.o.Mailer.SendMail(ctx, m) })
}

// enqueue runs send in the background with the request's ID but not its
// cancellation (the response is gone by then), bounded in time and in
// concurrency. Failures are logged with the request ID.
func (n *Notifier) enqueue(ctx context.Context, kind, channel string, send func(context.Context) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	select {
	case n.pending <- struct{}{}:
	default:
		return ErrQueueFull
	}
	rid := httpx.RequestID(ctx)
	n.inflight++
	go func() {
		defer n.done()
		defer func() { <-n.pending }()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.o.SendTimeout)
		defer cancel()
		select {
		case n.sending <- struct{}{}:
		case <-sctx.Done():
			n.o.Log.Error("message not sent: timed out waiting for a sender", "request_id", rid, "kind", kind, "channel", channel)
			return
		}
		defer func() { <-n.sending }()
		if err := send(sctx); err != nil {
			n.o.Log.Error("message not sent", "request_id", rid, "kind", kind, "channel", channel, "err", err)
		}
	}()
	return nil
}

func (n *Notifier) done() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inflight--
	if n.inflight == 0 {
		for _, c := range n.idle {
			close(c)
		}
		n.idle = nil
	}
}

// Close stops accepting messages and waits until those queued are sent,
// or ctx ends.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	if err := n.Flush(ctx); err != nil {
		return fmt.Errorf("notify: messages still pending at shutdown: %w", err)
	}
	return nil
}

// Flush waits until every message queued so far has been handled, or ctx
// ends; the Notifier stays open.
func (n *Notifier) Flush(ctx context.Context) error {
	n.mu.Lock()
	if n.inflight == 0 {
		n.mu.Unlock()
		return nil
	}
	c := make(chan struct{})
	n.idle = append(n.idle, c)
	n.mu.Unlock()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
