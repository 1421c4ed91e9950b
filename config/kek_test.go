package config_test

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/havencrm/haven/config"
)

func TestKEKDefaultsToLocal(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.KEK.Provider != config.KEKProviderLocal || c.KEK.PKCS11Module != "/usr/lib/softhsm/libsofthsm2.so" || c.KEK.PKCS11KeyLabel != "haven-kek" {
		t.Fatalf("KEK defaults %+v", c.KEK)
	}
}

func TestKEKPKCS11(t *testing.T) {
	file := writeFile(t, `{"kek_provider": "pkcs11", "pkcs11-token": "haven", "pkcs11-tenant-pin-dir": "/etc/haven/tenant-pins"}`)
	c, err := load(t, map[string]string{"HAVEN_CONFIG": file, "HAVEN_PKCS11_PIN": "s3cret-pin"}, "--pkcs11-key-label", "prod-kek")
	if err != nil {
		t.Fatal(err)
	}
	k := c.KEK
	if k.Provider != "pkcs11" || k.PKCS11Token != "haven" || k.PKCS11PIN != "s3cret-pin" || k.PKCS11KeyLabel != "prod-kek" ||
		k.PKCS11TenantPINDir != "/etc/haven/tenant-pins" {
		t.Fatalf("%+v", k)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(k)} {
		if strings.Contains(s, "s3cret-pin") {
			t.Fatalf("printed configuration holds the PIN: %s", s)
		}
	}
	if _, err := load(t, map[string]string{"HAVEN_CONFIG": file}, "--pkcs11-pin-file", "/run/secrets/pin"); err != nil {
		t.Fatalf("PIN file instead of the environment: %v", err)
	}
}

// TestPKCS11PINOnlyFromTheEnvironment: a PIN in the config file or on the
// command line (visible in ps) is refused, not silently used.
func TestPKCS11PINOnlyFromTheEnvironment(t *testing.T) {
	_, err := load(t, nil, "--config", writeFile(t, `{"pkcs11-pin": "1234"}`))
	mustErr(t, err, "unknown setting", "pkcs11-pin")
	fs := flag.NewFlagSet("haven", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.NewLoader(fs, func(string) string { return "" })
	if fs.Lookup("pkcs11-pin") != nil {
		t.Fatal("a --pkcs11-pin flag exists")
	}
	if f := fs.Lookup("pkcs11-pin-file"); f == nil || !strings.Contains(f.Usage, "HAVEN_PKCS11_PIN") {
		t.Fatal("--pkcs11-pin-file does not point at HAVEN_PKCS11_PIN")
	}
}

func TestKEKValidate(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		parts []string
	}{
		{"unknown provider", nil, []string{"--kek-provider", "vault"}, []string{"kek-provider", "local or pkcs11"}},
		{"pkcs11 without token", map[string]string{"HAVEN_PKCS11_PIN": "1"}, []string{"--kek-provider", "pkcs11"}, []string{"pkcs11-token"}},
		{"pkcs11 without PIN", nil, []string{"--kek-provider", "pkcs11", "--pkcs11-token", "t"}, []string{"HAVEN_PKCS11_PIN", "pkcs11-pin-file"}},
		{"two PINs", map[string]string{"HAVEN_PKCS11_PIN": "1"}, []string{"--kek-provider", "pkcs11", "--pkcs11-token", "t", "--pkcs11-pin-file", "/p"}, []string{"use one"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.env, c.args...)
			mustErr(t, err, c.parts...)
			if strings.Contains(err.Error(), "HAVEN_PKCS11_PIN=") {
				t.Fatal(err)
			}
		})
	}
}
