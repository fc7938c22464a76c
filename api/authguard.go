package api

import (
	"sync"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/jobs"
	"github.com/gofiber/fiber/v2"
)

// authGuard limits failed authentications per client address, for every
// credential (API keys, portal links, admin and internal tokens, Cal.com
// signatures), so that none can be guessed by trying. The failures are counted in
// Redis (GCRA), shared by every api process. An address over the limit is refused
// with 429 and Retry-After until the limit lets it in again — even with a valid
// credential, or a 200 among the 429s would tell a guesser it has won. Each
// process remembers the refusal locally, so checking costs a valid request
// nothing; another process refuses the address at its own first failure.
type authGuard struct {
	failures *jobs.RateLimiter // nil: no limit

	mu     sync.Mutex
	locked map[string]time.Time // client address → refused until
}

// check refuses an address locked by earlier failures.
func (g *authGuard) check(c *fiber.Ctx) error {
	if g.failures == nil {
		return nil
	}
	g.mu.Lock()
	until, ok := g.locked[c.IP()]
	if ok && !time.Now().Before(until) {
		delete(g.locked, c.IP())
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
	after, lerr := g.failures.Allow(c.UserContext(), "authfail:"+c.IP())
	if webhooks.ErrorCode(lerr) != webhooks.ERATELIMITED {
		return err // under the limit, or Redis is down: the 401 stands
	}
	g.mu.Lock()
	if g.locked == nil {
		g.locked = map[string]time.Time{}
	}
	g.locked[c.IP()] = time.Now().Add(after)
	g.mu.Unlock()
	return rateLimited(c, webhooks.Errorf(webhooks.ERATELIMITED, "Too many failed authentications from this address; retry later."), after.Seconds())
}
