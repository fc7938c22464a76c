package api

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/jobs"
	"github.com/gofiber/fiber/v2"
)

// authGuard limits failed authentications per client address (see
// clientAddr), for every credential (API keys, portal links, admin and
// internal tokens, Cal.com signatures, the queues' login), so that none can be
// guessed by trying. The failures are counted in
// Redis (GCRA), shared by every api process. An address over the limit is refused
// with 429 and Retry-After until the limit lets it in again — even with a valid
// credential, or a 200 among the 429s would tell a guesser it has won. Each
// process remembers the refusal locally, so checking costs a valid request
// nothing; another process refuses the address at its own first failure.
type authGuard struct {
	failures *jobs.RateLimiter // nil: no limit
	trusted  []netip.Prefix    // proxies whose X-Forwarded-For is believed

	mu     sync.Mutex
	locked map[string]time.Time // client address → refused until
}

// check refuses an address locked by earlier failures.
func (g *authGuard) check(c *fiber.Ctx) error {
	if g.failures == nil {
		return nil
	}
	addr := clientAddr(c, g.trusted)
	g.mu.Lock()
	until, ok := g.locked[addr]
	if ok && !time.Now().Before(until) {
		delete(g.locked, addr)
		ok = false
	}
	g.mu.Unlock()
	if ok {
		return rateLimited(c, webhooks.Errorf(webhooks.ERATELIMITED, "Too many failed authentications from this address; retry later."),
			time.Until(until).Seconds())
	}
	return nil
}

// failed counts a failed authentication and returns err, or a 429 once the
// address is over its limit.
func (g *authGuard) failed(c *fiber.Ctx, err error) error {
	if g.failures == nil {
		return err
	}
	addr := clientAddr(c, g.trusted)
	after, lerr := g.failures.Allow(c.UserContext(), "authfail:"+addr)
	if webhooks.ErrorCode(lerr) != webhooks.ERATELIMITED {
		return err // under the limit, or Redis is down: the 401 stands
	}
	g.mu.Lock()
	if g.locked == nil {
		g.locked = map[string]time.Time{}
	}
	g.locked[addr] = time.Now().Add(after)
	g.mu.Unlock()
	return rateLimited(c, webhooks.Errorf(webhooks.ERATELIMITED, "Too many failed authentications from this address; retry later."), after.Seconds())
}

// clientAddr is the address a request came from. Behind a load balancer the
// connecting address is the balancer's, the same for every client: when it is
// one of trusted (TRUSTED_PROXIES), the client is the right-most address of
// X-Forwarded-For that is not a trusted proxy itself. The entries left of it
// are whatever the client wrote, so they are never believed.
func clientAddr(c *fiber.Ctx, trusted []netip.Prefix) string {
	remote, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	addr := remote.Unmap()
	isTrusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	if !isTrusted(addr) {
		return addr.String()
	}
	hops := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled entry: what is left of it cannot be believed
		}
		if addr = hop.Unmap(); !isTrusted(addr) {
			break
		}
	}
	return addr.String()
}
