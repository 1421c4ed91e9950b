package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies trusted: the peer, whatever the header says", nil, "127.0.0.1:5000", []string{"198.51.100.1"}, "127.0.0.1"},
		{"untrusted peer: header ignored", proxies, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer without header", proxies, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer: the address it saw", proxies, "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged left-most entries ignored", proxies, "127.0.0.1:5000", []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, "198.51.100.1"},
		{"a chain of trusted proxies is skipped", proxies, "127.0.0.1:5000", []string{"1.2.3.4, 198.51.100.1, 10.1.2.3, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", proxies, "127.0.0.1:5000", []string{"1.2.3.4", "198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"every hop trusted: the left-most", proxies, "127.0.0.1:5000", []string{"10.0.0.7, 10.1.2.3"}, "10.0.0.7"},
		{"garbage stops the walk at the hop that wrote it", proxies, "127.0.0.1:5000", []string{"198.51.100.1, evil, 10.1.2.3"}, "10.1.2.3"},
		{"garbage right of the client is not believed", proxies, "127.0.0.1:5000", []string{"not-an-ip"}, "127.0.0.1"},
		{"ports and brackets", proxies, "127.0.0.1:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv4 with a port", proxies, "127.0.0.1:5000", []string{"198.51.100.1:1234"}, "198.51.100.1"},
		{"IPv4-mapped addresses are unmapped", proxies, "[::ffff:127.0.0.1]:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv6 proxy", proxies, "[fd00::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			h := TrustProxies(c.trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	// Without the middleware ClientIP is the peer.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := ClientIP(r); got != "127.0.0.1" {
		t.Errorf("without the middleware: %q", got)
	}
}
