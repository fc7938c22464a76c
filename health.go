package webhooks

import (
	"fmt"
	"time"
)

// Defaults of the HealthPolicy (ENDPOINT_DISABLE_AFTER, ENDPOINT_DISABLE_AFTER_FAILURES).
const (
	DefaultDisableAfter         = 5 * 24 * time.Hour
	DefaultDisableAfterFailures = 100
)

// HealthPolicy decides when an endpoint whose deliveries keep failing for good is
// disabled, so that a receiver that is gone stops costing attempts. A 410 Gone
// disables at once (see Decide); this is the rule for every other failure.
type HealthPolicy struct {
	Period   time.Duration // every delivery failed for this long
	Failures int           // this many deliveries failed for good in a row
}

// FailureStreak is an endpoint's run of deliveries that failed for good, with no
// success between them, as the store keeps it.
type FailureStreak struct {
	Failures int
	Since    time.Time // when the first of them failed
}

// DisableReason returns why an endpoint with streak s is disabled at now, or ""
// when it stays enabled: Failures failed deliveries in a row, or failures only
// for longer than Period.
func (p HealthPolicy) DisableReason(s FailureStreak, now time.Time) string {
	if s.Failures == 0 || (s.Failures < p.Failures && now.Sub(s.Since) <= p.Period) {
		return ""
	}
	return fmt.Sprintf("every delivery failed since %s (%d in a row)", FormatTime(s.Since), s.Failures)
}
