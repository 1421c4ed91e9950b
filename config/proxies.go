package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// CIDRList is a validated list of address ranges in its canonical written
// form: comma-separated CIDR ranges. (A string, so Config stays
// comparable.)
type CIDRList string

// Prefixes returns the ranges.
func (l CIDRList) Prefixes() []netip.Prefix {
	out, _ := parseCIDRs(string(l))
	return out
}

// ParseCIDRList reads a comma-separated list of CIDR ranges or single
// addresses (a single address is a range of one).
func ParseCIDRList(s string) (CIDRList, error) {
	ps, err := parseCIDRs(s)
	if err != nil {
		return "", err
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return CIDRList(strings.Join(parts, ",")), nil
}

func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an address or a CIDR range like 10.0.0.0/8", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func proxySettings() []setting {
	return []setting{{
		key:   "trusted-proxies",
		usage: "comma-separated CIDR ranges of reverse proxies whose X-Forwarded-For names the client (empty: trust none)",
		get:   func(c *Config) string { return string(c.TrustedProxies) },
		set: func(c *Config, v string) error {
			l, err := ParseCIDRList(v)
			if err != nil {
				return err
			}
			c.TrustedProxies = l
			return nil
		},
	}}
}
