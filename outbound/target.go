package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"syscall"

	"code.dny.dev/ssrf"
	webhooks "github.com/empfio/webhooks"
)

// TargetPolicy decides which URLs endpoints may have and which addresses deliveries
// may dial. The same guard runs twice: when an endpoint is saved (CheckURL, for a
// clear 422) and at every dial (Control), so DNS rebinding cannot get around it.
//
// The rules, in order (Permit):
//  1. link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata
//     addresses are never dialled, whatever the settings;
//  2. an address inside AllowedCIDRs is dialled;
//  3. with AllowInsecure, a loopback address is dialled;
//  4. any other loopback, private, CGNAT, multicast, unspecified or reserved
//     address of the IANA registries is refused; public ones are dialled.
type TargetPolicy struct {
	// AllowInsecure lifts the https-only rule and lets loopback addresses be
	// dialled, for development and tests (ALLOW_INSECURE_TARGETS). It opens no
	// private range: those are AllowedCIDRs'.
	AllowInsecure bool
	// AllowedCIDRs are private ranges endpoints may point into
	// (ALLOWED_TARGET_CIDRS): receivers inside one's own network.
	AllowedCIDRs []netip.Prefix
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver Resolver
}

// Resolver is the part of *net.Resolver that TargetPolicy uses; tests stub it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guardian refuses loopback, private, link-local, CGNAT, multicast, unspecified
// and every other special-purpose address of the IANA registries, on any port.
var guardian = ssrf.New(ssrf.WithAnyPort())

// metadataAddrs are the cloud providers' instance metadata services outside
// the link-local range (AWS's over IPv6, Alibaba Cloud's), never dialled.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// ErrForbiddenTarget is returned (wrapped) when an address may not be dialed.
var ErrForbiddenTarget = errors.New("target address is not allowed")

// Permit returns nil when a may be dialled, else ErrForbiddenTarget (see
// TargetPolicy for the rules).
func (p TargetPolicy) Permit(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || slices.Contains(metadataAddrs, a):
		return fmt.Errorf("%w: link-local and metadata addresses are never dialled", ErrForbiddenTarget)
	case slices.ContainsFunc(p.AllowedCIDRs, func(r netip.Prefix) bool { return r.Contains(a) }):
		return nil
	case p.AllowInsecure && a.IsLoopback():
		return nil
	}
	if err := guardian.SafeAddr(a); err != nil {
		return fmt.Errorf("%w: %v", ErrForbiddenTarget, err)
	}
	return nil
}

// CheckURL validates raw for an endpoint: its syntax, then every address its host
// resolves to. Returns EINVALID naming the url field. It never dials.
func (p TargetPolicy) CheckURL(ctx context.Context, raw string) error {
	if err := webhooks.CheckURLSyntax(raw, !p.AllowInsecure); err != nil {
		return webhooks.Invalid(webhooks.FieldError{Field: "url", Message: err.Error()})
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		return webhooks.Invalid(webhooks.FieldError{Field: "url", Message: fmt.Sprintf("host %q does not resolve", host)})
	}
	for _, a := range addrs {
		if err := p.Permit(a); err != nil {
			// The address is not named: it would reveal internal DNS.
			return webhooks.Invalid(webhooks.FieldError{Field: "url", Message: fmt.Sprintf("host %q resolves to a private or reserved address", host)})
		}
	}
	return nil
}

func (p TargetPolicy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	return addrs, err
}

// Control is a net.Dialer Control function: it refuses forbidden addresses after
// DNS resolution, right before the socket connects (see Permit).
func (p TargetPolicy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, address)
	}
	return p.Permit(ap.Addr())
}
