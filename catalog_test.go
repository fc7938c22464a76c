package webhooks_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
)

func TestCatalog_PublishedEventsKeepTheirNames(t *testing.T) {
	published := map[string]bool{}
	for _, e := range webhooks.Catalog {
		if !json.Valid(e.Example) {
			t.Errorf("%s: example is not JSON", e.Name)
		}
		if e.Published {
			published[e.Name] = true
		}
	}
	for _, name := range []string{"lead.created", "lead.status_changed", "conversation.escalated", "booking.created", "booking.cancelled"} {
		if !published[name] {
			t.Errorf("published event %s is missing or unmarked", name)
		}
	}
	if len(published) != 5 {
		t.Errorf("%d published events, want 5", len(published))
	}
}

func TestValidSubscription(t *testing.T) {
	for s, want := range map[string]bool{
		"*": true, "lead.created": true, "lead.*": true, "booking.*": true,
		"lead.deleted": false, "nope.*": false, "": false, "webhook.ping": false, "webhook.*": true, "delivery.failed": true, "lead": false,
	} {
		if got := webhooks.ValidSubscription(s); got != want {
			t.Errorf("ValidSubscription(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCursor_RoundTripsAndRefusesGarbage(t *testing.T) {
	c := webhooks.Cursor{ID: "550e8400-e29b-41d4-a716-446655440000"}
	got, err := webhooks.DecodeCursor(c.Encode())
	if err != nil || got.ID != c.ID || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"x", "!!!", "MjAyNi0wMS0wMQ"} {
		if _, err := webhooks.DecodeCursor(bad); webhooks.ErrorCode(err) != webhooks.EINVALID {
			t.Errorf("DecodeCursor(%q) = %v, want EINVALID", bad, err)
		}
	}
}

// What customers read — the catalog's descriptions, the errors of fields they
// fill in — names no setting of the operator's and writes no duration the Go
// way ("30m0s").
func TestCustomerText_NoInternalNamesOrGoDurations(t *testing.T) {
	internal := regexp.MustCompile(`\b[A-Z]+_[A-Z_]+\b|\d+[hm]0[ms]`)
	for _, e := range webhooks.Catalog {
		if m := internal.FindString(e.Description); m != "" {
			t.Errorf("%s's description says %q", e.Name, m)
		}
	}
	e := webhooks.Endpoint{URL: "https://hooks.example.com/x", Events: []string{"*"},
		RetryPolicy: &webhooks.RetryPolicy{MaxRetries: 3, Window: webhooks.Duration(time.Minute)}}
	said := fmt.Sprint(webhooks.ErrorFields(e.Validate()))
	if !strings.Contains(said, "between 30 minutes and 3 days") {
		t.Errorf("a window of a minute: %s", said)
	}
	if m := internal.FindString(said); m != "" {
		t.Errorf("the error says %q", m)
	}
}
