package config_test

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/havencrm/haven/config"
)

func TestNotifyDefaults(t *testing.T) {
	n := config.Default().Notify
	if n.SMTPHost != "" || n.SMTPPort != 587 || n.SMTPTLS != "starttls" || n.SMSProvider != "log" || n.Language != "bilingual" {
		t.Fatalf("defaults %+v", n)
	}
}

func TestNotifyFromEnvironmentAndFile(t *testing.T) {
	env := map[string]string{
		"HAVEN_SMTP_HOST": "smtp.example.com", "HAVEN_SMTP_PORT": "465", "HAVEN_SMTP_USERNAME": "haven",
		"HAVEN_SMTP_PASSWORD": "s3cret-Pass", "HAVEN_SMTP_FROM": "Haven <no-reply@example.com>", "HAVEN_SMTP_TLS": "tls",
		"HAVEN_SMS_PROVIDER": "webhook", "HAVEN_SMS_WEBHOOK_URL": "https://sms.example.com/send?token=t", "HAVEN_SMS_WEBHOOK_SECRET": "k",
		"HAVEN_NOTIFY_LANGUAGE": "zh-CN",
	}
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Notify{SMTPHost: "smtp.example.com", SMTPPort: 465, SMTPUsername: "haven", SMTPPassword: "s3cret-Pass",
		SMTPFrom: "Haven <no-reply@example.com>", SMTPTLS: "tls", SMSProvider: "webhook", SMSWebhookURL: "https://sms.example.com/send?token=t",
		SMSWebhookSecret: "k", Language: "zh-CN"}
	if c.Notify != want {
		t.Fatalf("got %+v", c.Notify)
	}
	f := writeFile(t, `{"smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_from": "a@b.example", "smtp_tls": "none", "smtp_username": "u"}`)
	c, err = load(t, nil, "--config", f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Notify.SMTPHost != "127.0.0.1" || c.Notify.SMTPPort != 2525 || c.Notify.SMTPTLS != "none" {
		t.Fatalf("got %+v", c.Notify)
	}
}

func TestNotifyValidation(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HAVEN_SMTP_HOST": "smtp.example.com"}, "smtp-from is required"},
		{map[string]string{"HAVEN_SMTP_HOST": "smtp.example.com", "HAVEN_SMTP_FROM": "not an address"}, "not an e-mail address"},
		{map[string]string{"HAVEN_SMTP_TLS": "ssl3"}, "smtp-tls must be"},
		{map[string]string{"HAVEN_SMTP_PORT": "0"}, "port number"},
		{map[string]string{"HAVEN_SMTP_PORT": "70000"}, "port number"},
		{map[string]string{"HAVEN_SMTP_PASSWORD": "x"}, "needs smtp-username"},
		{map[string]string{"HAVEN_SMTP_HOST": "smtp.example.com", "HAVEN_SMTP_FROM": "a@b.example", "HAVEN_SMTP_TLS": "none", "HAVEN_SMTP_USERNAME": "u"}, "clear text"},
		{map[string]string{"HAVEN_SMS_PROVIDER": "carrier-pigeon"}, "sms-provider must be"},
		{map[string]string{"HAVEN_SMS_PROVIDER": "webhook"}, "sms-webhook-url must be"},
		{map[string]string{"HAVEN_SMS_PROVIDER": "webhook", "HAVEN_SMS_WEBHOOK_URL": "ftp://x.example"}, "sms-webhook-url must be"},
		{map[string]string{"HAVEN_SMS_PROVIDER": "webhook", "HAVEN_SMS_WEBHOOK_URL": "https://user:tok3n@x.example"}, "without credentials"},
		{map[string]string{"HAVEN_SMS_WEBHOOK_URL": "https://x.example"}, "sms-provider is log"},
		{map[string]string{"HAVEN_NOTIFY_LANGUAGE": "fr"}, "notify-language"},
	} {
		_, err := load(t, tc.env)
		mustErr(t, err, tc.want)
		if err != nil && strings.Contains(err.Error(), "tok3n") {
			t.Errorf("the error repeats the URL's credentials: %v", err)
		}
	}
	// A relay on loopback may take a password without TLS.
	if _, err := load(t, map[string]string{"HAVEN_SMTP_HOST": "localhost", "HAVEN_SMTP_FROM": "a@b.example", "HAVEN_SMTP_TLS": "none", "HAVEN_SMTP_USERNAME": "u"}); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsAreNotShownInUsage(t *testing.T) {
	fs := flag.NewFlagSet("haven", flag.ContinueOnError)
	config.NewLoader(fs, func(string) string { return "" })
	for _, name := range []string{"smtp-password", "sms-webhook-secret"} {
		f := fs.Lookup(name)
		if f == nil || !strings.Contains(f.Usage, `(default ""`) || !strings.Contains(f.Usage, "never logged") {
			t.Errorf("%s usage %q", name, f.Usage)
		}
	}
}

func TestNotifySecretsAreRedactedWhenPrinted(t *testing.T) {
	c := config.Default()
	c.Notify.SMTPPassword, c.Notify.SMSWebhookSecret, c.Notify.SMTPHost = "pw-Secret-1", "hook-Secret-2", "smtp.example.com"
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("config", "notify", c.Notify)
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.Notify), buf.String()} {
		if strings.Contains(s, "pw-Secret-1") || strings.Contains(s, "hook-Secret-2") || !strings.Contains(s, "smtp.example.com") {
			t.Errorf("printed as %s", s)
		}
	}
}
