package stack

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
)

// The receiver names each arrival's event by its channel_id when the load
// spreads events over keys, counts a delivery id once, and counts as an
// inversion an event that arrives after a later event of its lead.
func TestReceiver_CountsInversionsPerLead(t *testing.T) {
	r, err := NewReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer r.srv.Close()
	secret := webhooks.NewSecret()
	path := "/t-ordered/org/0"
	r.Expect(path, secret)
	send := func(delivery, eventID, lead string, index int) {
		t.Helper()
		body := fmt.Sprintf(`{"id":"%s","event":"lead.created","data":{"id":"%s","channel_id":"b%d"}}`, eventID, lead, index)
		req, _ := http.NewRequest("POST", r.URL+path, strings.NewReader(body))
		req.Header.Set("X-Empfio-Delivery", delivery)
		req.Header.Set("X-Empfio-Signature", webhooks.Sign(secret, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("send: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	e1, _ := webhooks.NewEventID()
	e2, _ := webhooks.NewEventID()
	e3, _ := webhooks.NewEventID()
	send("d1", e1, "k0", 0)
	send("d3", e3, "k1", 2) // another lead: no order with k0's
	send("d2", e2, "k0", 1)
	send("d2", e2, "k0", 1) // a repeat
	if n := r.Inversions("/t-ordered"); n != 0 {
		t.Fatalf("%d inversions in order", n)
	}
	if r.Duplicates() != 1 || r.Unique() != 3 || len(r.Arrivals()) != 3 {
		t.Fatalf("duplicates %d, unique %d, events %d", r.Duplicates(), r.Unique(), len(r.Arrivals()))
	}
	e4, _ := webhooks.NewEventID()
	e5, _ := webhooks.NewEventID()
	send("d5", e5, "k0", 4)
	send("d4", e4, "k0", 3)
	if n := r.Inversions("/t-ordered"); n != 1 {
		t.Fatalf("%d inversions, want 1: e4 arrived after e5", n)
	}
	if n := r.Inversions("/other"); n != 0 {
		t.Fatalf("%d inversions under another prefix", n)
	}
}
