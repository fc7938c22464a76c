package outbound_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/outbound"
)

// stubResolver maps names to addresses without any DNS traffic.
type stubResolver map[string][]string

func (s stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := s[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

var resolver = stubResolver{
	"hooks.example.com":    {"93.184.215.14"},
	"internal.example.com": {"10.1.2.3"},
	"rebind.example.com":   {"93.184.215.14", "192.168.1.1"},
	"metadata.example.com": {"169.254.169.254"},
	"v6.example.com":       {"2606:4700::6810:84e5"},
	"cgnat.example.com":    {"100.64.0.1"},
}

func TestCheckURL_RefusesPrivateAndReservedTargetsWithoutDialing(t *testing.T) {
	p := outbound.TargetPolicy{Resolver: resolver}
	refused := []string{
		"http://hooks.example.com/x",           // not https
		"https://127.0.0.1/x",                  // loopback
		"https://10.0.0.1/x",                   // private
		"https://[::1]/x",                      // loopback v6
		"https://169.254.169.254/latest/",      // metadata, link-local
		"https://internal.example.com/x",       // name → private
		"https://rebind.example.com/x",         // one private address is enough
		"https://metadata.example.com/x",       // name → link-local
		"https://cgnat.example.com/x",          // CGNAT
		"https://0.0.0.0/x",                    // unspecified
		"https://224.0.0.1/x",                  // multicast
		"https://[::ffff:127.0.0.1]/x",         // v4-mapped loopback
		"https://nowhere.example.com/x",        // does not resolve
		"https://user:pass@hooks.example.com/", // credentials
		"ftp://hooks.example.com/x",
		"hooks.example.com/x",
		"https://hooks.example.com/" + strings.Repeat("a", 2048),
	}
	for _, u := range refused {
		err := p.CheckURL(context.Background(), u)
		if webhooks.ErrorCode(err) != webhooks.EINVALID {
			t.Errorf("CheckURL(%.60s) = %v, want EINVALID", u, err)
		}
		// The answer never says which address a name resolved to: that would
		// map the internal DNS for whoever asks.
		for _, addr := range []string{"10.1.2.3", "192.168.1.1", "169.254.169.254", "100.64.0.1"} {
			if strings.Contains(string(mustJSON(webhooks.ErrorFields(err))), addr) && !strings.Contains(u, addr) {
				t.Errorf("CheckURL(%s) reveals %s: %v", u, addr, webhooks.ErrorFields(err))
			}
		}
	}
	for _, u := range []string{"https://hooks.example.com/x", "https://v6.example.com:8443/x", "https://93.184.215.14/x"} {
		if err := p.CheckURL(context.Background(), u); err != nil {
			t.Errorf("CheckURL(%s) = %v, want nil", u, err)
		}
	}
}

func TestCheckURL_InsecureAllowsHTTPAndLoopback(t *testing.T) {
	p := outbound.TargetPolicy{AllowInsecure: true, Resolver: resolver}
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://hooks.example.com/x"} {
		if err := p.CheckURL(context.Background(), u); err != nil {
			t.Errorf("insecure policy refused %s: %v", u, err)
		}
	}
	if err := p.CheckURL(context.Background(), "http://u:p@127.0.0.1/"); webhooks.ErrorCode(err) != webhooks.EINVALID {
		t.Fatalf("credentials must stay refused, got %v", err)
	}
	// Insecure opens loopback, not the private ranges nor the metadata service.
	for _, u := range []string{"http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://internal.example.com/x",
		"http://metadata.example.com/x", "http://[fd00:ec2::254]/x", "http://192.168.1.1/x"} {
		if err := p.CheckURL(context.Background(), u); webhooks.ErrorCode(err) != webhooks.EINVALID {
			t.Errorf("insecure CheckURL(%s) = %v, want EINVALID", u, err)
		}
	}
}

// The dialer's rules, checked on the Control function itself: nothing is
// dialled. Insecure allows loopback only; private ranges need
// ALLOWED_TARGET_CIDRS; link-local and metadata addresses are refused whatever
// the settings.
func TestControl_InsecureAndAllowedRanges(t *testing.T) {
	ten := netip.MustParsePrefix("10.0.0.0/8")
	all := netip.MustParsePrefix("0.0.0.0/0")
	cases := []struct {
		policy  outbound.TargetPolicy
		address string
		allowed bool
	}{
		{outbound.TargetPolicy{AllowInsecure: true}, "127.0.0.1:80", true},
		{outbound.TargetPolicy{AllowInsecure: true}, "[::1]:80", true},
		{outbound.TargetPolicy{AllowInsecure: true}, "93.184.215.14:80", true},
		{outbound.TargetPolicy{AllowInsecure: true}, "10.0.0.1:80", false},
		{outbound.TargetPolicy{AllowInsecure: true}, "192.168.1.1:80", false},
		{outbound.TargetPolicy{AllowInsecure: true}, "169.254.169.254:80", false},
		{outbound.TargetPolicy{AllowInsecure: true}, "[fe80::1]:80", false},
		{outbound.TargetPolicy{AllowInsecure: true}, "[fd00:ec2::254]:80", false},
		{outbound.TargetPolicy{AllowInsecure: true}, "0.0.0.0:80", false},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{ten}}, "10.1.2.3:443", true},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{ten}}, "[::ffff:10.1.2.3]:443", true},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{ten}}, "192.168.1.1:443", false},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{ten}}, "127.0.0.1:443", false},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{all}, AllowInsecure: true}, "169.254.169.254:80", false},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{all}}, "100.100.100.200:80", false},
		{outbound.TargetPolicy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}, "169.254.169.254:80", false},
	}
	for _, c := range cases {
		err := c.policy.Control("tcp", c.address, nil)
		if c.allowed && err != nil || !c.allowed && !errors.Is(err, outbound.ErrForbiddenTarget) {
			t.Errorf("Control(%s) with insecure=%v, cidrs=%v: %v, want allowed=%v", c.address, c.policy.AllowInsecure, c.policy.AllowedCIDRs, err, c.allowed)
		}
	}
}

func TestControl_GuardsARealDialerBeforeConnecting(t *testing.T) {
	// The listener proves the refusal happens before connect: it must see nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	d := net.Dialer{Control: outbound.TargetPolicy{}.Control}
	if _, err := d.Dial("tcp", ln.Addr().String()); !errors.Is(err, outbound.ErrForbiddenTarget) {
		t.Fatalf("dial loopback = %v, want ErrForbiddenTarget", err)
	}
	select {
	case <-accepted:
		t.Fatal("the listener accepted a connection the guard should have refused")
	default:
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
