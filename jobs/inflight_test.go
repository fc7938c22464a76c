package jobs

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A worker's places bound its attempts; a delivery that cannot have one in
// time — past placeWait, or past its task's deadline — is put back instead of
// beginning an attempt its deadline would cut short.
func TestEnter_PutsBackWhatWaitsTooLongForAPlace(t *testing.T) {
	d := &Deliverer{InFlight: 1, placeWait: 50 * time.Millisecond}
	ctx := context.Background()
	leave, err := d.enter(ctx)
	if err != nil {
		t.Fatalf("a free place: %v", err)
	}
	var te *throttledError
	if _, err := d.enter(ctx); !errors.As(err, &te) {
		t.Errorf("no place within placeWait: %v, want a put-back", err)
	}
	d.placeWait = time.Minute
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := d.enter(short); !errors.As(err, &te) {
		t.Errorf("no place before the task's deadline: %v, want a put-back", err)
	}
	leave()
	again, err := d.enter(ctx) // the put-backs took no place
	if err != nil {
		t.Fatalf("a place given back: %v", err)
	}
	again()
}
