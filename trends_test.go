package webhooks

import (
	"testing"
	"time"
)

func TestTrendRange_WholeBucketsEndingWithNow(t *testing.T) {
	now := time.Date(2026, 12, 6, 14, 37, 0, 0, time.UTC)
	for _, tc := range []struct {
		window string
		start  time.Time
		bucket time.Duration
	}{
		{"24h", time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC), time.Hour},
		{"7d", time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC), 6 * time.Hour},
	} {
		start, bucket, ok := TrendRange(tc.window, now)
		if !ok || !start.Equal(tc.start) || bucket != tc.bucket {
			t.Errorf("%s: %v %v %v, want %v %v", tc.window, start, bucket, ok, tc.start, tc.bucket)
		}
		if n := int(now.Sub(start) / bucket); n != int(TrendWindows[tc.window].Span/bucket)-1 {
			t.Errorf("%s: now falls in bucket %d", tc.window, n)
		}
	}
	if FormatBucket(time.Hour) != "1h" || FormatBucket(6*time.Hour) != "6h" {
		t.Errorf("buckets named %q, %q", FormatBucket(time.Hour), FormatBucket(6*time.Hour))
	}
	if _, _, ok := TrendRange("30d", now); ok {
		t.Error("an unknown window was accepted")
	}
}
