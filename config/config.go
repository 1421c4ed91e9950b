// Package config loads Haven's typed configuration: defaults, then a JSON
// file, then HAVEN_* environment variables, then command-line flags. The
// result is passed explicitly; there is no global configuration.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the whole server configuration.
type Config struct {
	Addr        string
	MetricsAddr string
	DataDir     string
	// KeyDir holds the local key-encryption keys; empty means <data>/keys.
	// Keep it out of database backups: a copy of the database without
	// these files reveals no encrypted value.
	KeyDir      string
	DatabaseURL string
	// DBAppRole is the PostgreSQL role transactions switch to so that
	// row-level security applies.
	DBAppRole string

	SessionIdle time.Duration
	SessionMax  time.Duration

	Argon2MemoryKiB   uint32
	Argon2Iterations  uint32
	Argon2Parallelism uint8

	MaxBodyBytes    int64
	ShutdownTimeout time.Duration

	TLSCert string
	TLSKey  string

	LogLevel  string
	LogFormat string

	Demo bool

	// Notify configures outbound e-mail and SMS.
	Notify Notify

	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client; empty trusts none.
	TrustedProxies CIDRList

	// Attachments configures files attached to records.
	Attachments Attachments

	// ChangeRetentionDays is how long the change feed keeps a change
	// (records.DefaultChangeRetention unless set); a client whose cursor
	// is older must take a full copy again.
	ChangeRetentionDays uint32

	// KEK selects the key-encryption-key provider (local key files or a
	// PKCS#11 HSM) and the tokens of tenants that bring their own key.
	KEK KEK
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		DataDir:           "./haven-data",
		DBAppRole:         "haven_app",
		SessionIdle:       30 * time.Minute,
		SessionMax:        12 * time.Hour,
		Argon2MemoryKiB:   19 * 1024,
		Argon2Iterations:  2,
		Argon2Parallelism: 1,
		MaxBodyBytes:      1 << 20,
		ShutdownTimeout:   15 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
		Notify:            defaultNotify(),
		Attachments:       defaultAttachments(),
		KEK:               defaultKEK(),
		// 90 days: records.DefaultChangeRetention (config imports no
		// domain package).
		ChangeRetentionDays: 90,
	}
}

// KeyDirPath is where the local key-encryption keys live.
func (c Config) KeyDirPath() string {
	if c.KeyDir != "" {
		return c.KeyDir
	}
	return filepath.Join(c.DataDir, "keys")
}

// SQLitePath is where the embedded database lives.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "haven.db") }

// setting binds one configuration key to its file key, environment
// variable and flag.
type setting struct {
	key   string // file key and flag name
	usage string
	get   func(*Config) string
	set   func(*Config, string) error
}

func str(p func(*Config) *string) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return *p(c) }, func(c *Config, v string) error { *p(c) = v; return nil }
}

func dur(p func(*Config) *time.Duration, min time.Duration) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return p(c).String() }, func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("must be a duration like 30m or 12h")
		}
		if d < min {
			return fmt.Errorf("must be at least %s", min)
		}
		*p(c) = d
		return nil
	}
}

func uintv[T uint8 | uint32](p func(*Config) *T, min, max uint64) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return strconv.FormatUint(uint64(*p(c)), 10) }, func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < min || n > max {
			return fmt.Errorf("must be a whole number between %d and %d", min, max)
		}
		*p(c) = T(n)
		return nil
	}
}

func settings() []setting {
	mk := func(key, usage string, gs func() (func(*Config) string, func(*Config, string) error)) setting {
		g, s := gs()
		return setting{key: key, usage: usage, get: g, set: s}
	}
	return append([]setting{
		mk("addr", "address the web UI and API listen on", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.Addr })
		}),
		mk("metrics-addr", "address of the Prometheus metrics listener (empty: off)", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.MetricsAddr })
		}),
		mk("data", "directory for the embedded SQLite database", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.DataDir })
		}),
		mk("key-dir", "directory of the local key-encryption keys (default <data>/keys; keep it out of database backups)", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.KeyDir })
		}),
		mk("database-url", "PostgreSQL URL (postgres://...); empty: embedded SQLite", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.DatabaseURL })
		}),
		mk("db-app-role", "PostgreSQL role bound by row-level security", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.DBAppRole })
		}),
		mk("session-idle", "sign out after this much inactivity", func() (func(*Config) string, func(*Config, string) error) {
			return dur(func(c *Config) *time.Duration { return &c.SessionIdle }, time.Minute)
		}),
		mk("session-max", "sign out this long after login, active or not", func() (func(*Config) string, func(*Config, string) error) {
			return dur(func(c *Config) *time.Duration { return &c.SessionMax }, time.Minute)
		}),
		mk("argon2-memory-kib", "argon2id memory in KiB", func() (func(*Config) string, func(*Config, string) error) {
			return uintv(func(c *Config) *uint32 { return &c.Argon2MemoryKiB }, 8192, 4<<20)
		}),
		mk("argon2-iterations", "argon2id iterations", func() (func(*Config) string, func(*Config, string) error) {
			return uintv(func(c *Config) *uint32 { return &c.Argon2Iterations }, 1, 100)
		}),
		mk("argon2-parallelism", "argon2id parallelism", func() (func(*Config) string, func(*Config, string) error) {
			return uintv(func(c *Config) *uint8 { return &c.Argon2Parallelism }, 1, 64)
		}),
		mk("shutdown-timeout", "how long in-flight requests may take to finish on shutdown", func() (func(*Config) string, func(*Config, string) error) {
			return dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, time.Second)
		}),
		mk("tls-cert", "TLS certificate file (enables HTTPS and HSTS)", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.TLSCert })
		}),
		mk("tls-key", "TLS private key file", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.TLSKey })
		}),
		mk("change-retention-days", "days the change feed keeps a change; older cursors must take a full copy again", func() (func(*Config) string, func(*Config, string) error) {
			return uintv(func(c *Config) *uint32 { return &c.ChangeRetentionDays }, 1, 3650)
		}),
		mk("log-level", "debug, info, warn or error", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.LogLevel })
		}),
		mk("log-format", "text or json", func() (func(*Config) string, func(*Config, string) error) {
			return str(func(c *Config) *string { return &c.LogFormat })
		}),
	}, append(append(append(notifySettings(), proxySettings()...), attachmentSettings()...), kekSettings()...)...)
}

// EnvName is the environment variable of a setting key.
func EnvName(key string) string {
	return "HAVEN_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// Loader registers the settings on a flag set and resolves them in order.
type Loader struct {
	fs     *flag.FlagSet
	flags  map[string]*string
	file   *string
	only   map[string]bool
	getenv func(string) string
}

// NewLoader registers the named settings (all when keys is empty) plus
// --config on fs.
func NewLoader(fs *flag.FlagSet, getenv func(string) string, keys ...string) *Loader {
	l := &Loader{fs: fs, flags: map[string]*string{}, getenv: getenv, only: map[string]bool{}}
	for _, k := range keys {
		l.only[k] = true
	}
	def := Default()
	for _, s := range settings() {
		if len(l.only) > 0 && !l.only[s.key] {
			continue
		}
		l.flags[s.key] = fs.String(s.key, "", fmt.Sprintf("%s (default %q, env %s)", s.usage, s.get(&def), EnvName(s.key)))
	}
	l.file = fs.String("config", "", "JSON configuration file (env HAVEN_CONFIG)")
	return l
}

// Load resolves defaults, file, environment and flags, after fs.Parse.
func (l *Loader) Load() (Config, error) {
	cfg := Default()
	all := settings()
	byKey := map[string]setting{}
	for _, s := range all {
		byKey[s.key] = s
	}
	file := *l.file
	if file == "" {
		file = l.getenv("HAVEN_CONFIG")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", file, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s, ok := byKey[strings.ReplaceAll(k, "_", "-")]
			if !ok {
				return cfg, fmt.Errorf("config file %s: unknown setting %q", file, k)
			}
			var v string
			switch x := m[k].(type) {
			case string:
				v = x
			case json.Number:
				v = x.String()
			case bool:
				v = strconv.FormatBool(x)
			default:
				return cfg, fmt.Errorf("config file %s: %s must be a string or a number", file, k)
			}
			if err := s.set(&cfg, v); err != nil {
				return cfg, fmt.Errorf("config file %s: %s %w", file, k, err)
			}
		}
	}
	for _, s := range all {
		if v := l.getenv(EnvName(s.key)); v != "" {
			if err := s.set(&cfg, v); err != nil {
				return cfg, fmt.Errorf("%s %w", EnvName(s.key), err)
			}
		}
	}
	// The PIN is read from the environment only, never from a flag (shown
	// by ps) or the configuration file (often shared, copied, committed).
	if v := l.getenv(EnvPKCS11PIN); v != "" {
		cfg.KEK.PKCS11PIN = v
	}
	var flagErr error
	l.fs.Visit(func(f *flag.Flag) {
		if s, ok := byKey[f.Name]; ok && flagErr == nil {
			if err := s.set(&cfg, f.Value.String()); err != nil {
				flagErr = fmt.Errorf("--%s %w", f.Name, err)
			}
		}
	})
	if flagErr != nil {
		return cfg, flagErr
	}
	return cfg, cfg.Validate()
}

// Validate checks settings that depend on each other.
func (c Config) Validate() error {
	if c.SessionIdle > c.SessionMax {
		return errors.New("session-idle must not exceed session-max")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key go together")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return errors.New("log-level must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return errors.New("log-format must be text or json")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return errors.New("database-url must start with postgres:// or postgresql://")
	}
	if err := c.Notify.Validate(); err != nil {
		return err
	}
	if err := c.KEK.Validate(); err != nil {
		return err
	}
	return nil
}
