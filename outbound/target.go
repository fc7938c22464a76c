package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"

	"code.dny.dev/ssrf"
	webhooks "github.com/empfio/webhooks"
)

// TargetPolicy decides which URLs endpoints may have and which addresses deliveries
// may dial. The same guard runs twice: when an endpoint is saved (CheckURL, for a
// clear 422) and at every dial (Control), so DNS rebinding cannot get around it.
type TargetPolicy struct {
	// AllowInsecure lifts the https-only and the address rules, for development
	// and tests (ALLOW_INSECURE_TARGETS).
	AllowInsecure bool
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

// ErrForbiddenTarget is returned (wrapped) when an address may not be dialed.
var ErrForbiddenTarget = errors.New("target address is not allowed")

// CheckURL validates raw for an endpoint: its syntax, then every address its host
// resolves to. Returns EINVALID naming the url field. It never dials.
func (p TargetPolicy) CheckURL(ctx context.Context, raw string) error {
	if err := webhooks.CheckURLSyntax(raw, !p.AllowInsecure); err != nil {
		return webhooks.Invalid(webhooks.FieldError{Field: "url", Message: err.Error()})
	}
	if p.AllowInsecure {
		return nil
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		return webhooks.Invalid(webhooks.FieldError{Field: "url", Message: fmt.Sprintf("host %q does not resolve", host)})
	}
	for _, a := range addrs {
		if err := guardian.SafeAddr(a.Unmap()); err != nil {
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
// DNS resolution, right before the socket connects. With AllowInsecure it permits all.
func (p TargetPolicy) Control(network, address string, _ syscall.RawConn) error {
	if p.AllowInsecure {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenTarget, address)
	}
	if err := guardian.SafeAddr(ap.Addr().Unmap()); err != nil {
		return fmt.Errorf("%w: %v", ErrForbiddenTarget, err)
	}
	return nil
}
