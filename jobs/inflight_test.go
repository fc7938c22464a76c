package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/empfio/webhooks/outbound"
)

// A worker's places bound its attempts; a delivery that cannot have a whole
// attempt before its task's deadline — no place in time, or too little time
// left once it has one — is put back instead of being cut short.
func TestEnter_PutsBackWhatCannotHaveAWholeAttempt(t *testing.T) {
	d := &Deliverer{Sender: outbound.NewSender(outbound.SenderConfig{Timeout: 2 * time.Second}), InFlight: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leave, err := d.enter(ctx)
	if err != nil {
		t.Fatalf("a free place and time enough: %v", err)
	}
	busy, cancelBusy := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelBusy()
	var te *throttledError
	if _, err := d.enter(busy); !errors.As(err, &te) {
		t.Errorf("no place before the deadline: %v, want a put-back", err)
	}
	leave()
	near, cancelNear := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancelNear()
	if _, err := d.enter(near); !errors.As(err, &te) {
		t.Errorf("a place, but 2.5 s left for a 2 s attempt: %v, want a put-back", err)
	}
	again, err := d.enter(ctx) // the put-back gave its place back
	if err != nil {
		t.Fatalf("time enough after a put-back: %v", err)
	}
	again()
}
