package webhooks

import (
	"fmt"
	"time"
)

// Circuit states of an endpoint. closed: deliveries flow. open: the endpoint
// kept failing; its deliveries are held (status held: waiting, spending no
// attempts) and one probe — the oldest held delivery, a real one — is sent at
// ProbeAt. half_open: that probe is on its way; its success closes the circuit
// and releases what was held, its failure opens it again for twice as long.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// Defaults of the Breaker (BREAKER_FAILURES, BREAKER_PROBE_INTERVAL,
// BREAKER_RELEASE_RATE, ENDPOINT_DISABLE_AFTER); MaxProbeInterval bounds the
// doubling of the probe interval; ProbeLostAfter is how long a probe may be on
// its way before the circuit opens again without its answer (its delivery
// ended some other way).
const (
	DefaultBreakerFailures = 10
	DefaultProbeInterval   = time.Minute
	MaxProbeInterval       = 15 * time.Minute
	DefaultReleaseRate     = 50
	DefaultDisableAfter    = 5 * 24 * time.Hour
	ProbeLostAfter         = 5 * time.Minute
)

// Breaker is the circuit breaker's policy: it makes a broken receiver cheap (its
// deliveries wait instead of spending attempts) and lets a recovered one catch
// up on its own (held deliveries are released, in their original order, when a
// probe succeeds). Every rule of what a change of an endpoint's circuit means is
// a method of it, pure: given the circuit as stored, what happened and when, it
// returns the circuit to store and what to do about it. The store applies a
// Step with a compare-and-set on Circuit.Version and nothing more.
//
// A listen session's endpoint has no circuit: the caller never asks.
type Breaker struct {
	Failures      int           // failed attempts in a row that open the circuit; 0: no breaker
	ProbeInterval time.Duration // the first wait before a probe; doubles per failed probe up to MaxProbeInterval
	ReleaseRate   int           // held deliveries released a second after the circuit closes (an endpoint's lower rate_limit wins)
	DisableAfter  time.Duration // an endpoint whose circuit stays open this long is disabled
}

// Circuit is an endpoint's circuit as stored. Version counts its changes.
type Circuit struct {
	State           string
	Since           *time.Time    // when it last opened (open, half_open) or closed; nil: never opened
	Failures        int           // failed attempts in a row, since the last success
	FailingSince    *time.Time    // when the first of those was made
	ProbeAt         *time.Time    // open: the next probe is due; half_open: the probe was sent
	ProbeInterval   time.Duration // the wait before the next probe (doubles per failed probe)
	ProbeDeliveryID *string       // half_open: the delivery sent as the probe
	Version         int64
	// Releasing is the held delivery released last (closed, releasing): the
	// next is released when its attempt ends. Not part of the circuit's
	// versioned state: the release moves it on by a compare-and-set of its own.
	Releasing *string
}

// Step is what the Breaker decided: the circuit to store (when Changed), and
// what follows from it.
type Step struct {
	Next    Circuit
	Changed bool
	Opened  bool // the circuit opened: publish webhook.circuit_opened
	Closed  bool // it closed: publish webhook.circuit_closed and release what was held
	Probe   bool // the delivery asked about is the probe: send it
	Hold    bool // the delivery asked about is held: no attempt
	Disable bool // the endpoint is to be disabled (its circuit stayed open for DisableAfter)
}

func (c Circuit) with(change func(*Circuit)) Step {
	next := c
	change(&next)
	return Step{Next: next, Changed: true}
}

// Record is what the outcome of an attempt does to circuit c at now:
//   - a success ends the run of failures, and closes a circuit that is not
//     closed (the probe's success, or a delivery that was already on its way);
//   - the failure of the circuit's probe opens it again, the wait before the
//     next probe doubled (up to MaxProbeInterval);
//   - any other failure counts one more in a row, and the Failures-th opens a
//     closed circuit, the first probe due after ProbeInterval.
//
// Healthy traffic changes nothing: a success on a closed circuit with no
// failures is not a change.
func (b Breaker) Record(c Circuit, deliveryID string, ok bool, now time.Time) Step {
	switch {
	case ok && c.State == CircuitClosed && c.Failures == 0:
		return Step{Next: c}
	case ok && c.State == CircuitClosed:
		return c.with(func(n *Circuit) { n.Failures, n.FailingSince = 0, nil })
	case ok:
		s := c.with(func(n *Circuit) {
			*n = Circuit{State: CircuitClosed, Since: &now, Version: c.Version, Releasing: c.Releasing}
		})
		s.Closed = true
		return s
	case c.State == CircuitHalfOpen && c.ProbeDeliveryID != nil && *c.ProbeDeliveryID == deliveryID:
		return c.with(func(n *Circuit) {
			n.failed(now)
			n.State, n.ProbeDeliveryID = CircuitOpen, nil
			n.ProbeInterval = min(max(2*c.ProbeInterval, b.ProbeInterval), max(MaxProbeInterval, b.ProbeInterval))
			at := now.Add(n.ProbeInterval)
			n.ProbeAt = &at
		})
	}
	s := c.with(func(n *Circuit) { n.failed(now) })
	if c.State == CircuitClosed && b.Failures > 0 && s.Next.Failures >= b.Failures {
		s.Next.State, s.Next.Since, s.Next.ProbeInterval = CircuitOpen, &now, b.ProbeInterval
		at := now.Add(b.ProbeInterval)
		s.Next.ProbeAt = &at
		s.Opened = true
	}
	return s
}

// failed counts a failed attempt made at now. Concurrent attempts are
// recorded in any order, so the run begins at the earliest of them, not the
// first recorded: what failed since FailingSince (a replay's choice,
// Reenabling) must include every failure of the run.
func (c *Circuit) failed(now time.Time) {
	c.Failures++
	if c.FailingSince == nil || now.Before(*c.FailingSince) {
		c.FailingSince = &now
	}
}

// Gate is what a delivery about to be attempted does when its endpoint's
// circuit c is not closed (a user's retry or replay skips the gate): it
// becomes the probe when one is due (or is the probe already: a probe's task
// run again), else it is held.
func (b Breaker) Gate(c Circuit, deliveryID string, now time.Time) Step {
	switch {
	case c.State == CircuitClosed:
		return Step{Next: c}
	case c.State == CircuitHalfOpen && c.ProbeDeliveryID != nil && *c.ProbeDeliveryID == deliveryID:
		return Step{Next: c, Probe: true}
	case c.State == CircuitOpen && c.ProbeAt != nil && !now.Before(*c.ProbeAt):
		return b.StartProbe(c, deliveryID, now)
	}
	return Step{Next: c, Hold: true}
}

// StartProbe makes deliveryID the probe of circuit c, now: a user's retry of
// a held delivery, the oldest held delivery when the probe is due, or the next
// delivery when nothing was held. A closed circuit has no probe.
func (b Breaker) StartProbe(c Circuit, deliveryID string, now time.Time) Step {
	if c.State == CircuitClosed {
		return Step{Next: c}
	}
	s := c.with(func(n *Circuit) { n.State, n.ProbeDeliveryID, n.ProbeAt = CircuitHalfOpen, &deliveryID, &now })
	s.Probe = true
	return s
}

// Due is what circuit c's timer does at now (see Timer): an open circuit
// whose probe is due asks for one (Step.Probe, the caller choosing the
// delivery: StartProbe); a half-open one whose probe was lost (no answer for
// ProbeLostAfter) opens again with a probe due at once; one open for
// DisableAfter disables its endpoint. Anything else changes nothing.
func (b Breaker) Due(c Circuit, now time.Time) Step {
	switch {
	case c.State == CircuitClosed:
		return Step{Next: c}
	case b.DisableAfter > 0 && c.Since != nil && !now.Before(c.Since.Add(b.DisableAfter)):
		return Step{Next: c, Disable: true}
	case c.State == CircuitOpen && c.ProbeAt != nil && !now.Before(*c.ProbeAt):
		return Step{Next: c, Probe: true}
	case c.State == CircuitHalfOpen && c.ProbeAt != nil && !now.Before(c.ProbeAt.Add(ProbeLostAfter)):
		return c.with(func(n *Circuit) { n.State, n.ProbeDeliveryID, n.ProbeAt = CircuitOpen, nil, &now })
	}
	return Step{Next: c}
}

// Timer is when circuit c next needs its timer (Due): an open circuit's probe,
// a half-open one's lost-probe check, and its disabling, whichever comes
// first; zero for a closed circuit.
func (b Breaker) Timer(c Circuit) time.Time {
	var at time.Time
	earliest := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	switch {
	case c.State == CircuitOpen && c.ProbeAt != nil:
		earliest(*c.ProbeAt)
	case c.State == CircuitHalfOpen && c.ProbeAt != nil:
		earliest(c.ProbeAt.Add(ProbeLostAfter))
	}
	if c.State != CircuitClosed && b.DisableAfter > 0 && c.Since != nil {
		earliest(c.Since.Add(b.DisableAfter))
	}
	return at
}

// Reset is the circuit of an endpoint enabled again: closed, no failures.
func (b Breaker) Reset(c Circuit, now time.Time) Step {
	if c.State == CircuitClosed && c.Failures == 0 {
		return Step{Next: c}
	}
	return c.with(func(n *Circuit) {
		since := c.Since
		if c.State != CircuitClosed {
			since = &now
		}
		*n = Circuit{State: CircuitClosed, Since: since, Version: c.Version, Releasing: c.Releasing}
	})
}

// ReleaseRateFor is how many held deliveries of e are released a second.
func (b Breaker) ReleaseRateFor(e *Endpoint) int {
	if e.RateLimit != nil && e.RateLimit.PerSecond < b.ReleaseRate {
		return e.RateLimit.PerSecond
	}
	return max(b.ReleaseRate, 1)
}

// ReleaseGap is the least time between two held deliveries of e as they are
// released, one at a time in their original order, each when the attempt of
// the one before it ended: they go out at the release rate at most.
func (b Breaker) ReleaseGap(e *Endpoint) time.Duration {
	return time.Second / time.Duration(b.ReleaseRateFor(e))
}

// DisableReason is why an endpoint whose circuit opened at since is disabled.
func (b Breaker) DisableReason(since time.Time) string {
	return fmt.Sprintf("every delivery failed since %s: the circuit stayed open for %s", FormatTime(since), FormatDuration(b.DisableAfter))
}

// Health is an endpoint's circuit as the API and dashboard show it.
type Health struct {
	State               string     `json:"state"`                // closed, open or half_open
	Since               *time.Time `json:"since"`                // when the circuit last opened or closed; null: never opened
	ConsecutiveFailures int        `json:"consecutive_failures"` // failed attempts since the last success
	Held                int        `json:"held"`                 // deliveries held, waiting for the circuit to close
	NextProbeAt         *time.Time `json:"next_probe_at"`        // open: when the next probe goes
}

// Health returns how c is shown, with held deliveries held.
func (c Circuit) Health(held int) Health {
	h := Health{State: c.State, Since: c.Since, ConsecutiveFailures: c.Failures, Held: held}
	if h.State == "" {
		h.State = CircuitClosed
	}
	if c.State == CircuitOpen {
		h.NextProbeAt = c.ProbeAt
	}
	return h
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

// Reenable is what enabling a disabled endpoint does to its deliveries, as a
// replay choice says: whether what was held is released (else it fails), and
// since when the deliveries that failed are sent once more (nil: none).
type Reenable struct {
	ReleaseHeld  bool
	ReplayFailed *time.Time // failed deliveries completed since then are held, to be released with the rest
}

// Reenabling returns the Reenable of replay (ReplayHeld when empty) for an
// endpoint disabled at disabledAt whose failures began at failingSince: the
// failed deliveries sent again are those that failed since the earlier of the
// two — what failed while it was failing or off.
func Reenabling(replay string, failingSince, disabledAt *time.Time, now time.Time) Reenable {
	switch replay {
	case ReplayNone:
		return Reenable{}
	case ReplayHeldAndFailed:
		since := now
		for _, t := range []*time.Time{failingSince, disabledAt} {
			if t != nil && t.Before(since) {
				since = *t
			}
		}
		return Reenable{ReleaseHeld: true, ReplayFailed: &since}
	}
	return Reenable{ReleaseHeld: true}
}
