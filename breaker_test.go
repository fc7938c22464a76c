package webhooks_test

import (
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
)

var (
	t0      = time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	breaker = webhooks.Breaker{Failures: 3, ProbeInterval: time.Minute, ReleaseRate: 50, DisableAfter: 5 * 24 * time.Hour}
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }
func str(s string) *string          { return &s }

func closed(failures int) webhooks.Circuit {
	c := webhooks.Circuit{State: webhooks.CircuitClosed, Failures: failures, Version: 7}
	if failures > 0 {
		c.FailingSince = at(-time.Minute)
	}
	return c
}

func open(probeIn time.Duration) webhooks.Circuit {
	return webhooks.Circuit{State: webhooks.CircuitOpen, Since: at(-time.Hour), Failures: 3, FailingSince: at(-2 * time.Hour),
		ProbeAt: at(probeIn), ProbeInterval: time.Minute, Version: 7}
}

func halfOpen(probe string, sentAgo time.Duration) webhooks.Circuit {
	return webhooks.Circuit{State: webhooks.CircuitHalfOpen, Since: at(-time.Hour), Failures: 3, FailingSince: at(-2 * time.Hour),
		ProbeAt: at(-sentAgo), ProbeInterval: 2 * time.Minute, ProbeDeliveryID: str(probe), Version: 7}
}

// A run of failures begins with its earliest attempt, whatever order
// concurrent attempts are recorded in: a replay of what failed since then
// includes each (TestDashboard_PausedEndpointAndEnablingWithReplay lost the
// first lead when the second, begun later, was recorded first).
func TestBreaker_FailingSinceIsTheEarliestFailedAttempt(t *testing.T) {
	first, second := *at(-2 * time.Second), *at(-time.Second)
	c := breaker.Record(closed(0), "second", false, second).Next
	c = breaker.Record(c, "first", false, first).Next
	if c.FailingSince == nil || !c.FailingSince.Equal(first) || c.Failures != 2 {
		t.Fatalf("recorded out of order: failing since %v, %d failures; want %v, 2", c.FailingSince, c.Failures, first)
	}
	c = breaker.Record(c, "third", false, t0).Next
	if !c.FailingSince.Equal(first) {
		t.Fatalf("a later failure moved the start to %v", c.FailingSince)
	}
}

// What each attempt's outcome does to a circuit.
func TestBreaker_Record(t *testing.T) {
	cases := []struct {
		name           string
		c              webhooks.Circuit
		delivery       string
		ok             bool
		changed        bool
		state          string
		failures       int
		opened, closed bool
		probeIn        time.Duration // the next probe after t0, when open
	}{
		{"a success on a healthy circuit changes nothing", closed(0), "d", true, false, webhooks.CircuitClosed, 0, false, false, 0},
		{"a success ends a run of failures", closed(2), "d", true, true, webhooks.CircuitClosed, 0, false, false, 0},
		{"a failure counts", closed(0), "d", false, true, webhooks.CircuitClosed, 1, false, false, 0},
		{"the third failure in a row opens", closed(2), "d", false, true, webhooks.CircuitOpen, 3, true, false, time.Minute},
		{"failures on an open circuit count, it stays open", open(time.Minute), "d", false, true, webhooks.CircuitOpen, 4, false, false, time.Minute},
		{"the probe's success closes", halfOpen("p", time.Second), "p", true, true, webhooks.CircuitClosed, 0, false, true, 0},
		{"any success closes an open circuit", open(time.Minute), "d", true, true, webhooks.CircuitClosed, 0, false, true, 0},
		{"the probe's failure opens again for twice as long", halfOpen("p", time.Second), "p", false, true, webhooks.CircuitOpen, 4, false, false, 4 * time.Minute},
		{"another delivery's failure leaves the probe on its way", halfOpen("p", time.Second), "d", false, true, webhooks.CircuitHalfOpen, 4, false, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := breaker.Record(c.c, c.delivery, c.ok, t0)
			n := s.Next
			if s.Changed != c.changed || n.State != c.state || n.Failures != c.failures || s.Opened != c.opened || s.Closed != c.closed {
				t.Fatalf("got changed=%v %s failures=%d opened=%v closed=%v; want %v %s %d %v %v",
					s.Changed, n.State, n.Failures, s.Opened, s.Closed, c.changed, c.state, c.failures, c.opened, c.closed)
			}
			if n.Version != c.c.Version {
				t.Fatalf("the step changed the version %d → %d: the store counts it", c.c.Version, n.Version)
			}
			if c.state == webhooks.CircuitOpen && (n.ProbeAt == nil || !n.ProbeAt.Equal(t0.Add(c.probeIn))) {
				t.Fatalf("next probe %v, want %s", n.ProbeAt, t0.Add(c.probeIn))
			}
			if c.closed && (n.Since == nil || !n.Since.Equal(t0) || n.ProbeAt != nil || n.ProbeDeliveryID != nil || n.FailingSince != nil) {
				t.Fatalf("closed circuit %+v", n)
			}
			if c.opened && (n.Since == nil || !n.Since.Equal(t0)) {
				t.Fatalf("opened at %v", n.Since)
			}
		})
	}
	// The wait between probes doubles up to MaxProbeInterval.
	c := halfOpen("p", 0)
	c.ProbeInterval = webhooks.MaxProbeInterval
	if s := breaker.Record(c, "p", false, t0); s.Next.ProbeInterval != webhooks.MaxProbeInterval {
		t.Fatalf("interval %s, want at most %s", s.Next.ProbeInterval, webhooks.MaxProbeInterval)
	}
	// No breaker: failures are counted, nothing opens.
	if s := (webhooks.Breaker{}).Record(closed(50), "d", false, t0); s.Opened || s.Next.State != webhooks.CircuitClosed {
		t.Fatalf("Failures 0 opened the circuit: %+v", s)
	}
}

// What a delivery about to be attempted does, by its endpoint's circuit.
func TestBreaker_Gate(t *testing.T) {
	cases := []struct {
		name        string
		c           webhooks.Circuit
		probe, hold bool
		state       string
	}{
		{"closed: sent", closed(1), false, false, webhooks.CircuitClosed},
		{"open, probe not due: held", open(time.Second), false, true, webhooks.CircuitOpen},
		{"open, probe due: it is the probe", open(0), true, false, webhooks.CircuitHalfOpen},
		{"half open, it is the probe (its task run again)", halfOpen("d", time.Second), true, false, webhooks.CircuitHalfOpen},
		{"half open, another is the probe: held", halfOpen("p", time.Second), false, true, webhooks.CircuitHalfOpen},
	}
	for _, c := range cases {
		s := breaker.Gate(c.c, "d", t0)
		if s.Probe != c.probe || s.Hold != c.hold || s.Next.State != c.state {
			t.Errorf("%s: probe=%v hold=%v %s", c.name, s.Probe, s.Hold, s.Next.State)
		}
		if s.Probe && (s.Next.ProbeDeliveryID == nil || *s.Next.ProbeDeliveryID != "d") {
			t.Errorf("%s: the probe is %v", c.name, s.Next.ProbeDeliveryID)
		}
	}
	if s := breaker.StartProbe(open(time.Hour), "held", t0); !s.Probe || !s.Changed || *s.Next.ProbeDeliveryID != "held" || !s.Next.ProbeAt.Equal(t0) {
		t.Fatalf("a user's retry of a held delivery: %+v", s)
	}
	if s := breaker.StartProbe(closed(0), "d", t0); s.Probe || s.Changed {
		t.Fatalf("a closed circuit got a probe: %+v", s)
	}
}

// What a circuit's timer does, and when it is set.
func TestBreaker_DueAndTimer(t *testing.T) {
	long := webhooks.Circuit{State: webhooks.CircuitOpen, Since: at(-breaker.DisableAfter), ProbeAt: at(time.Minute), Version: 1}
	cases := []struct {
		name                  string
		c                     webhooks.Circuit
		probe, disable, moved bool
		timer                 time.Time
	}{
		{"closed: nothing", closed(0), false, false, false, time.Time{}},
		{"open, probe not yet due", open(time.Minute), false, false, false, t0.Add(time.Minute)},
		{"open, probe due: ask for one", open(0), true, false, false, t0},
		{"half open, probe on its way", halfOpen("p", time.Minute), false, false, false, t0.Add(-time.Minute + webhooks.ProbeLostAfter)},
		{"half open, probe lost: open again, probe at once", halfOpen("p", webhooks.ProbeLostAfter), false, false, true, t0},
		{"open for DisableAfter: disable", long, false, true, false, t0},
	}
	for _, c := range cases {
		s := breaker.Due(c.c, t0)
		if s.Probe != c.probe || s.Disable != c.disable || s.Changed != c.moved {
			t.Errorf("%s: %+v", c.name, s)
		}
		if got := breaker.Timer(c.c); !got.Equal(c.timer) {
			t.Errorf("%s: timer %s, want %s", c.name, got, c.timer)
		}
	}
	if s := breaker.Due(halfOpen("p", webhooks.ProbeLostAfter), t0); s.Next.State != webhooks.CircuitOpen || s.Next.ProbeDeliveryID != nil || !s.Next.ProbeAt.Equal(t0) {
		t.Fatalf("a lost probe: %+v", s.Next)
	}
}

// Enabling again closes the circuit; the release is spaced at the rate.
func TestBreaker_ResetAndRelease(t *testing.T) {
	if s := breaker.Reset(open(time.Minute), t0); !s.Changed || s.Next.State != webhooks.CircuitClosed || s.Next.Failures != 0 || !s.Next.Since.Equal(t0) {
		t.Fatalf("reset of an open circuit: %+v", s.Next)
	}
	if s := breaker.Reset(closed(0), t0); s.Changed {
		t.Fatal("reset of a healthy circuit is a change")
	}
	if g := breaker.ReleaseGap(&webhooks.Endpoint{}); g != 20*time.Millisecond {
		t.Fatalf("gap %s at 50 a second", g)
	}
	if g := breaker.ReleaseGap(&webhooks.Endpoint{RateLimit: &webhooks.RateLimit{PerSecond: 4}}); g != 250*time.Millisecond {
		t.Fatalf("gap %s with rate_limit 4", g)
	}
}

// Which deliveries enabling an endpoint again replays.
func TestReenabling_ChoosesWhatIsSentAgain(t *testing.T) {
	failing, disabled := at(-3*time.Hour), at(-time.Hour)
	if r := webhooks.Reenabling("", failing, disabled, t0); !r.ReleaseHeld || r.ReplayFailed != nil {
		t.Errorf("default: %+v", r)
	}
	if r := webhooks.Reenabling(webhooks.ReplayNone, failing, disabled, t0); r.ReleaseHeld || r.ReplayFailed != nil {
		t.Errorf("none: %+v", r)
	}
	r := webhooks.Reenabling(webhooks.ReplayHeldAndFailed, failing, disabled, t0)
	if !r.ReleaseHeld || r.ReplayFailed == nil || !r.ReplayFailed.Equal(*failing) {
		t.Errorf("held_and_failed: %+v, want since the failures began", r)
	}
	if r := webhooks.Reenabling(webhooks.ReplayHeldAndFailed, nil, disabled, t0); !r.ReplayFailed.Equal(*disabled) {
		t.Errorf("held_and_failed, a user's disable: since %v", r.ReplayFailed)
	}
}

func TestFormatDuration_ForPeople(t *testing.T) {
	for d, want := range map[time.Duration]string{120 * time.Hour: "5 days", time.Hour: "1 hour", 30 * time.Minute: "30 minutes",
		90 * time.Second: "90 seconds", 1500 * time.Millisecond: "1.5s"} {
		if got := webhooks.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
