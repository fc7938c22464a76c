package jobs

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	webhooks "github.com/empfio/webhooks"
)

// Defaults of the API's rate limit per client key (RATE_LIMIT_PER_SECOND,
// RATE_LIMIT_BURST).
const (
	DefaultRateLimitPerSecond = 50
	DefaultRateLimitBurst     = 100
)

// DefaultAuthFailuresPerMinute is how many failed authentications a client
// address may make a minute (AUTH_FAILURES_PER_MINUTE), all credentials
// together, before it is refused for a while: far above any honest mistake, far
// below a useful brute force.
const DefaultAuthFailuresPerMinute = 30

// RateLimiter limits requests per key with Redis-backed GCRA (a token bucket shared
// by every API process).
type RateLimiter struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
}

// NewRateLimiter allows perSecond requests a second per key, with bursts of burst.
func NewRateLimiter(rdb redis.UniversalClient, perSecond, burst int) *RateLimiter {
	return &RateLimiter{
		limiter: redis_rate.NewLimiter(rdb),
		limit:   redis_rate.Limit{Rate: perSecond, Burst: burst, Period: time.Second},
	}
}

// NewRateLimiterPer allows n requests per period per key, with bursts of burst.
func NewRateLimiterPer(rdb redis.UniversalClient, n, burst int, period time.Duration) *RateLimiter {
	return &RateLimiter{
		limiter: redis_rate.NewLimiter(rdb),
		limit:   redis_rate.Limit{Rate: n, Burst: burst, Period: period},
	}
}

// Allow takes one request from key's bucket. When none is left it returns
// ERATELIMITED and how long until one is.
func (l *RateLimiter) Allow(ctx context.Context, key string) (retryAfter time.Duration, err error) {
	res, err := l.limiter.Allow(ctx, "empfio:rate:"+key, l.limit)
	if err != nil {
		return 0, webhooks.Unavailable("Redis", err)
	}
	if res.Allowed == 0 {
		return res.RetryAfter, webhooks.Errorf(webhooks.ERATELIMITED, "Too many requests; retry later.")
	}
	return 0, nil
}
