package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havencrm/haven/config"
)

// load parses args on a fresh flag set with the given environment and
// returns the loaded configuration.
func load(t *testing.T, env map[string]string, args ...string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("haven", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := config.NewLoader(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return l.Load()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "haven.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got none", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c != config.Default() {
		t.Fatalf("loaded %+v, want defaults %+v", c, config.Default())
	}
	d := config.Default()
	if d.Addr != "127.0.0.1:8080" || d.SessionIdle != 30*time.Minute || d.SessionMax != 12*time.Hour ||
		d.Argon2MemoryKiB != 19*1024 || d.Argon2Iterations != 2 || d.Argon2Parallelism != 1 ||
		d.LogLevel != "info" || d.LogFormat != "text" || d.DatabaseURL != "" || d.DBAppRole != "haven_app" {
		t.Fatalf("defaults changed: %+v", d)
	}
	// Defaults listen on loopback only and are themselves valid.
	if !strings.HasPrefix(d.Addr, "127.0.0.1:") {
		t.Fatalf("default address %q is not loopback", d.Addr)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := d.SQLitePath(); got != filepath.Join("./haven-data", "haven.db") {
		t.Fatalf("SQLitePath %q", got)
	}
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("session-idle"); got != "HAVEN_SESSION_IDLE" {
		t.Fatal(got)
	}
	if got := config.EnvName("argon2-memory-kib"); got != "HAVEN_ARGON2_MEMORY_KIB" {
		t.Fatal(got)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `{
		"addr": "file:1",
		"data": "/file/data",
		"log-level": "warn",
		"session_idle": "20m"
	}`)
	env := map[string]string{
		"HAVEN_CONFIG":       file,
		"HAVEN_DATA":         "/env/data",
		"HAVEN_LOG_LEVEL":    "error",
		"HAVEN_METRICS_ADDR": "env:9",
		"HAVEN_ADDR":         "", // empty env values do not override
	}
	c, err := load(t, env, "--log-level", "debug", "--session-max", "2h")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"addr from file over default", c.Addr, "file:1"},
		{"data from env over file", c.DataDir, "/env/data"},
		{"log-level from flag over env and file", c.LogLevel, "debug"},
		{"metrics-addr from env over default", c.MetricsAddr, "env:9"},
		{"session-idle from file (underscore key)", c.SessionIdle.String(), (20 * time.Minute).String()},
		{"session-max from flag", c.SessionMax.String(), (2 * time.Hour).String()},
		{"log-format default", c.LogFormat, "text"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q want %q", ch.name, ch.got, ch.want)
		}
	}
}

func TestConfigFlagBeatsEnvConfig(t *testing.T) {
	envFile := writeFile(t, `{"addr": "from-env-file:1"}`)
	flagFile := writeFile(t, `{"addr": "from-flag-file:1"}`)
	c, err := load(t, map[string]string{"HAVEN_CONFIG": envFile}, "--config", flagFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "from-flag-file:1" {
		t.Fatalf("addr %q", c.Addr)
	}
}

func TestFileNumbersAndStrings(t *testing.T) {
	file := writeFile(t, `{"argon2-iterations": 3, "argon2-parallelism": "2", "shutdown-timeout": "5s"}`)
	c, err := load(t, nil, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Argon2Iterations != 3 || c.Argon2Parallelism != 2 || c.ShutdownTimeout != 5*time.Second {
		t.Fatalf("%+v", c)
	}
}

// A JSON number of a million or more is formatted by fmt.Sprint as
// "1.048576e+06" and then rejected, although 1 GiB is a valid setting.
func TestFileLargeNumber(t *testing.T) {
	file := writeFile(t, `{"argon2-memory-kib": 1048576}`)
	c, err := load(t, nil, "--config", file)
	if err != nil {
		t.Fatalf("a valid 1 GiB argon2 memory in the config file was rejected: %v", err)
	}
	if c.Argon2MemoryKiB != 1048576 {
		t.Fatalf("memory %d", c.Argon2MemoryKiB)
	}
}

// Values that are neither strings nor numbers must not be stringified
// into settings ("<nil>", "map[...]", "[a b]").
func TestFileRejectsNonScalarValues(t *testing.T) {
	for _, body := range []string{
		`{"tls-cert": null, "tls-key": null}`,
		`{"addr": {"host": "0.0.0.0"}}`,
		`{"db-app-role": ["haven_app"]}`,
	} {
		file := writeFile(t, body)
		c, err := load(t, nil, "--config", file)
		if err == nil {
			t.Errorf("%s accepted: addr=%q role=%q cert=%q key=%q", body, c.Addr, c.DBAppRole, c.TLSCert, c.TLSKey)
		}
	}
}

func TestFileErrors(t *testing.T) {
	t.Run("unknown key", func(t *testing.T) {
		_, err := load(t, nil, "--config", writeFile(t, `{"addr": "x:1", "admin-password": "x"}`))
		mustErr(t, err, "unknown setting", "admin-password")
	})
	t.Run("malformed json", func(t *testing.T) {
		_, err := load(t, nil, "--config", writeFile(t, `{"addr": `))
		mustErr(t, err, "config file")
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := load(t, nil, "--config", filepath.Join(t.TempDir(), "nope.json"))
		mustErr(t, err, "read config file")
	})
	t.Run("bad duration", func(t *testing.T) {
		_, err := load(t, nil, "--config", writeFile(t, `{"session-idle": "soon"}`))
		mustErr(t, err, "session-idle", "duration")
	})
	t.Run("duration as bare number", func(t *testing.T) {
		_, err := load(t, nil, "--config", writeFile(t, `{"session-idle": 30}`))
		mustErr(t, err, "session-idle")
	})
	t.Run("number out of range", func(t *testing.T) {
		_, err := load(t, nil, "--config", writeFile(t, `{"argon2-memory-kib": 1024}`))
		mustErr(t, err, "argon2-memory-kib", "8192")
	})
	t.Run("fractional number", func(t *testing.T) {
		_, err := load(t, nil, "--config", writeFile(t, `{"argon2-iterations": 1.5}`))
		mustErr(t, err, "argon2-iterations")
	})
}

func TestEnvAndFlagErrorsNameTheSetting(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		parts []string
	}{
		{"env duration", map[string]string{"HAVEN_SESSION_MAX": "12 hours"}, nil, []string{"HAVEN_SESSION_MAX", "duration"}},
		{"env duration below minimum", map[string]string{"HAVEN_SESSION_IDLE": "30s"}, nil, []string{"HAVEN_SESSION_IDLE", "at least"}},
		{"env number", map[string]string{"HAVEN_ARGON2_ITERATIONS": "many"}, nil, []string{"HAVEN_ARGON2_ITERATIONS", "whole number"}},
		{"env negative", map[string]string{"HAVEN_ARGON2_PARALLELISM": "-1"}, nil, []string{"HAVEN_ARGON2_PARALLELISM"}},
		{"env parallelism overflow", map[string]string{"HAVEN_ARGON2_PARALLELISM": "300"}, nil, []string{"HAVEN_ARGON2_PARALLELISM"}},
		{"flag duration", nil, []string{"--shutdown-timeout", "forever"}, []string{"--shutdown-timeout", "duration"}},
		{"flag shutdown below minimum", nil, []string{"--shutdown-timeout", "10ms"}, []string{"--shutdown-timeout", "at least"}},
		{"flag number", nil, []string{"--argon2-memory-kib", "0x2000"}, []string{"--argon2-memory-kib"}},
		{"flag iterations zero", nil, []string{"--argon2-iterations", "0"}, []string{"--argon2-iterations"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.env, c.args...)
			mustErr(t, err, c.parts...)
		})
	}
}

func TestFlagErrorNotMaskedByValidEnv(t *testing.T) {
	// A valid environment value does not excuse an invalid flag.
	_, err := load(t, map[string]string{"HAVEN_SESSION_IDLE": "10m"}, "--session-idle", "x")
	mustErr(t, err, "--session-idle")
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		parts []string // empty: valid
	}{
		{"idle above max", nil, []string{"--session-idle", "13h"}, []string{"session-idle", "session-max"}},
		{"idle above max via env", map[string]string{"HAVEN_SESSION_MAX": "10m"}, nil, []string{"session-idle"}},
		{"idle equals max", nil, []string{"--session-idle", "1h", "--session-max", "1h"}, nil},
		{"cert without key", nil, []string{"--tls-cert", "c.pem"}, []string{"tls-cert", "tls-key"}},
		{"key without cert", nil, []string{"--tls-key", "k.pem"}, []string{"tls-cert", "tls-key"}},
		{"cert and key", nil, []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, nil},
		{"bad log level", nil, []string{"--log-level", "verbose"}, []string{"log-level"}},
		{"bad log format", nil, []string{"--log-format", "xml"}, []string{"log-format"}},
		{"mysql url", nil, []string{"--database-url", "mysql://u@h/db"}, []string{"database-url", "postgres://"}},
		{"sqlite url", nil, []string{"--database-url", "file:haven.db"}, []string{"database-url"}},
		{"postgres url with leading space", nil, []string{"--database-url", " postgres://h/db"}, []string{"database-url"}},
		{"uppercase scheme", nil, []string{"--database-url", "POSTGRES://h/db"}, []string{"database-url"}},
		{"postgres url", nil, []string{"--database-url", "postgres://h/db"}, nil},
		{"postgresql url", map[string]string{"HAVEN_DATABASE_URL": "postgresql://h/db"}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.env, c.args...)
			if len(c.parts) == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			mustErr(t, err, c.parts...)
		})
	}
}

func TestValidateDirect(t *testing.T) {
	c := config.Default()
	c.SessionIdle, c.SessionMax = 2*time.Hour, time.Hour
	if c.Validate() == nil {
		t.Fatal("idle > max accepted by Validate")
	}
}

func TestLoaderWithSubsetOfKeys(t *testing.T) {
	fs := flag.NewFlagSet("haven", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := config.NewLoader(fs, func(string) string { return "" }, "data", "database-url")
	if fs.Lookup("data") == nil || fs.Lookup("database-url") == nil || fs.Lookup("config") == nil {
		t.Fatal("requested flags not registered")
	}
	if fs.Lookup("addr") != nil || fs.Lookup("session-idle") != nil {
		t.Fatal("flags registered that were not asked for")
	}
	if err := fs.Parse([]string{"--addr", "0.0.0.0:1"}); err == nil {
		t.Fatal("unregistered flag accepted")
	}
	if err := fs.Parse([]string{"--data", "/d"}); err != nil {
		t.Fatal(err)
	}
	c, err := l.Load()
	if err != nil || c.DataDir != "/d" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestFlagUsageNamesDefaultAndEnv(t *testing.T) {
	fs := flag.NewFlagSet("haven", flag.ContinueOnError)
	config.NewLoader(fs, func(string) string { return "" })
	f := fs.Lookup("session-idle")
	if f == nil || !strings.Contains(f.Usage, "HAVEN_SESSION_IDLE") || !strings.Contains(f.Usage, "30m0s") {
		t.Fatalf("usage %q", f.Usage)
	}
}
