package webhooks

import (
	"math"
	"time"
)

// Default retry schedule: "up to 3 attempts over 30 minutes" after the first failure.
const (
	DefaultMaxRetries  = 3
	DefaultRetryWindow = 30 * time.Minute
)

// RetrySchedule spreads MaxRetries retries exponentially over Window: retry k
// (1..R) waits Window·2^(k−1)/(2^R−1) after the previous attempt, so the last retry
// lands Window after the first failure. With R = 3 and 30 minutes: about 4m17s,
// 8m34s and 17m9s.
type RetrySchedule struct {
	MaxRetries int
	Window     time.Duration
}

// Delay returns the wait before retry k (1-based). k outside 1..MaxRetries gives 0.
func (s RetrySchedule) Delay(k int) time.Duration {
	if k < 1 || k > s.MaxRetries {
		return 0
	}
	total := math.Exp2(float64(s.MaxRetries)) - 1
	return time.Duration(float64(s.Window) * math.Exp2(float64(k-1)) / total)
}

// For returns the schedule of endpoint e: its own retry policy, else s.
func (s RetrySchedule) For(e *Endpoint) RetrySchedule {
	if e.RetryPolicy == nil {
		return s
	}
	return RetrySchedule{MaxRetries: e.RetryPolicy.MaxRetries, Window: time.Duration(e.RetryPolicy.Window)}
}
