package webhooks

import "testing"

// The events one api accepts are ordered by (received time, id) as they were
// accepted, within a millisecond too: ordered delivery's order.
func TestNewEventID_IncreasesAndCarriesItsTime(t *testing.T) {
	prev, _ := NewEventID()
	for range 20000 {
		id, at := NewEventID()
		if id <= prev {
			t.Fatalf("id %s after %s: ids must increase", id, prev)
		}
		if got, ok := IDTime(id); !ok || !got.Equal(at) {
			t.Fatalf("id %s carries %v, returned %v", id, got, at)
		}
		prev = id
	}
}
