package webhooks_test

import (
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
)

func TestRetrySchedule_DefaultSpreadsThreeRetriesOverThirtyMinutes(t *testing.T) {
	s := webhooks.RetrySchedule{MaxRetries: webhooks.DefaultMaxRetries, Window: webhooks.DefaultRetryWindow}
	want := []time.Duration{
		4*time.Minute + 17*time.Second + 142857142, // 30m/7
		8*time.Minute + 34*time.Second + 285714285, // 60m/7
		17*time.Minute + 8*time.Second + 571428571, // 120m/7
	}
	var total time.Duration
	for k := 1; k <= 3; k++ {
		got := s.Delay(k)
		if diff := got - want[k-1]; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", k, got, want[k-1])
		}
		total += got
	}
	if diff := total - 30*time.Minute; diff < -time.Millisecond || diff > time.Millisecond {
		t.Errorf("retries add up to %v, want the 30m window", total)
	}
	if s.Delay(0) != 0 || s.Delay(4) != 0 {
		t.Errorf("delays outside 1..R must be 0, got %v and %v", s.Delay(0), s.Delay(4))
	}
}

func TestRetrySchedule_EndpointPolicyOverridesDefault(t *testing.T) {
	s := webhooks.RetrySchedule{MaxRetries: 3, Window: 30 * time.Minute}
	e := &webhooks.Endpoint{RetryPolicy: &webhooks.RetryPolicy{MaxRetries: 1, Window: webhooks.Duration(time.Hour)}}
	got := s.For(e)
	if got.MaxRetries != 1 || got.Delay(1) != time.Hour {
		t.Errorf("For(endpoint with policy) = %+v, delay %v; want 1 retry after 1h", got, got.Delay(1))
	}
	if s.For(&webhooks.Endpoint{}) != s {
		t.Error("an endpoint without a policy must use the default schedule")
	}
}
