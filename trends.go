package webhooks

import (
	"strings"
	"time"
)

// Trends is an endpoint's health over a window, as a picture needs it: one
// point a bucket, oldest first, every bucket present (a quiet hour is zeros).
type Trends struct {
	Window string       `json:"window"` // "24h" or "7d"
	Bucket string       `json:"bucket"` // each point's span: "1h" for 24h, "6h" for 7d
	Points []TrendPoint `json:"points"`
}

// TrendPoint is one bucket: the deliveries created in it by where they are
// now, and the latency of the attempts made in it.
type TrendPoint struct {
	Start     time.Time `json:"start"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Open      int       `json:"open"` // pending, retrying or held
	Attempts  int       `json:"attempts"`
	P50MS     *float64  `json:"p50_ms"` // null when no attempt was made in it
	P95MS     *float64  `json:"p95_ms"`
}

// TrendWindows are the windows trends are drawn over, and each one's bucket.
var TrendWindows = map[string]struct{ Span, Bucket time.Duration }{
	"24h": {24 * time.Hour, time.Hour},
	"7d":  {7 * 24 * time.Hour, 6 * time.Hour},
}

// FormatBucket names a bucket as the API does: "1h", "6h".
func FormatBucket(d time.Duration) string { return strings.TrimSuffix(d.String(), "0m0s") }

// TrendRange returns the buckets' start (the first bucket's) and the bucket
// of window at now: whole buckets, the last one holding now. ok is false for a
// window that is not one of TrendWindows.
func TrendRange(window string, now time.Time) (start time.Time, bucket time.Duration, ok bool) {
	w, ok := TrendWindows[window]
	if !ok {
		return time.Time{}, 0, false
	}
	end := now.UTC().Truncate(w.Bucket).Add(w.Bucket)
	return end.Add(-w.Span), w.Bucket, true
}
