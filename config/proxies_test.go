package config_test

import (
	"flag"
	"testing"

	"github.com/havencrm/haven/config"
)

func TestTrustedProxies(t *testing.T) {
	load := func(env map[string]string, args ...string) (config.Config, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		l := config.NewLoader(fs, func(k string) string { return env[k] })
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return l.Load()
	}
	cfg, err := load(nil)
	if err != nil || cfg.TrustedProxies != "" || len(cfg.TrustedProxies.Prefixes()) != 0 {
		t.Fatalf("default: %q %v", cfg.TrustedProxies, err)
	}
	cfg, err = load(map[string]string{"HAVEN_TRUSTED_PROXIES": " 10.1.2.3/8, 127.0.0.1 ,::1, fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TrustedProxies != "10.0.0.0/8,127.0.0.1/32,::1/128,fd00::/8" || len(cfg.TrustedProxies.Prefixes()) != 4 {
		t.Fatalf("from the environment: %q", cfg.TrustedProxies)
	}
	cfg, err = load(map[string]string{"HAVEN_TRUSTED_PROXIES": "10.0.0.0/8"}, "--trusted-proxies", "192.0.2.0/24")
	if err != nil || cfg.TrustedProxies != "192.0.2.0/24" {
		t.Fatalf("flag over environment: %q %v", cfg.TrustedProxies, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "fe80::1%eth0", "10.0.0.0/8;rm"} {
		if _, err := load(map[string]string{"HAVEN_TRUSTED_PROXIES": bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
