package webhooks

import (
	"fmt"
	"time"
)

// Circuit states of an endpoint. closed: deliveries flow. open: the endpoint
// kept failing; its deliveries are held (status held: waiting, spending no
// attempts) and one probe — the oldest held delivery, a real one — is sent every
// probe interval. half_open: that probe is on its way; its success closes the
// circuit, its failure opens it again for twice as long.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// Defaults of the Breaker (BREAKER_FAILURES, BREAKER_PROBE_INTERVAL,
// BREAKER_RELEASE_RATE, ENDPOINT_DISABLE_AFTER); MaxProbeInterval bounds the
// doubling of the probe interval.
const (
	DefaultBreakerFailures = 10
	DefaultProbeInterval   = time.Minute
	MaxProbeInterval       = 15 * time.Minute
	DefaultReleaseRate     = 50
	DefaultDisableAfter    = 5 * 24 * time.Hour
)

// Breaker is the circuit breaker's policy: it makes a broken receiver cheap (its
// deliveries wait instead of spending attempts) and lets a recovered one catch
// up on its own (held deliveries are released, in their original order, when a
// probe succeeds).
type Breaker struct {
	Failures      int           // failed attempts in a row that open the circuit
	ProbeInterval time.Duration // the first wait before a probe; doubles per failed probe up to MaxProbeInterval (store.ReopenCircuit)
	ReleaseRate   int           // held deliveries released a second after the circuit closes (an endpoint's rate_limit is used when it has one)
	DisableAfter  time.Duration // an endpoint whose circuit stays open this long is disabled
}

// Opens reports whether failures failed attempts in a row open a closed
// circuit; never when Failures is 0 (no breaker).
func (b Breaker) Opens(failures int) bool { return b.Failures > 0 && failures >= b.Failures }

// ReleaseRateFor is how many held deliveries of e are released a second.
func (b Breaker) ReleaseRateFor(e *Endpoint) int {
	if e.RateLimit != nil && e.RateLimit.PerSecond < b.ReleaseRate {
		return e.RateLimit.PerSecond
	}
	return b.ReleaseRate
}

// DisableReason is why an endpoint whose circuit opened at since is disabled.
func (b Breaker) DisableReason(since time.Time) string {
	return fmt.Sprintf("every delivery failed since %s: the circuit stayed open for %s", FormatTime(since), b.DisableAfter)
}

// Health is an endpoint's circuit as the API and dashboard show it.
type Health struct {
	State               string     `json:"state"`                // closed, open or half_open
	Since               *time.Time `json:"since"`                // when the circuit last opened or closed; null: never opened
	ConsecutiveFailures int        `json:"consecutive_failures"` // failed attempts since the last success
	Held                int        `json:"held"`                 // deliveries held, waiting for the circuit to close
	NextProbeAt         *time.Time `json:"next_probe_at"`        // open: when the next probe goes
	ProbeDeliveryID     *string    `json:"-"`                    // half_open: the delivery sent as the probe
}

// Replay choices when an endpoint is enabled again (PATCH {"enabled": true, "replay": …}).
const (
	ReplayHeld          = "held"            // release what was held (the default)
	ReplayHeldAndFailed = "held_and_failed" // and send once more what failed while it was disabled or its circuit open
	ReplayNone          = "none"            // fail what was held
)

// ValidReplay reports whether s is one of the replay choices.
func ValidReplay(s string) bool {
	return s == ReplayHeld || s == ReplayHeldAndFailed || s == ReplayNone
}
