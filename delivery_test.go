package webhooks_test

import (
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
)

func TestRetryNow_FinalGetsOneAttemptHeldIsTheProbe(t *testing.T) {
	cases := map[string]webhooks.ManualRetry{
		webhooks.StatusSucceeded: {Status: webhooks.StatusPending, Manual: true},
		webhooks.StatusFailed:    {Status: webhooks.StatusPending, Manual: true},
		webhooks.StatusHeld:      {Status: webhooks.StatusPending, Probe: true},
		webhooks.StatusRetrying:  {Status: webhooks.StatusRetrying},
		webhooks.StatusPending:   {Status: webhooks.StatusPending},
	}
	for status, want := range cases {
		if got := webhooks.RetryNow(status); got != want {
			t.Errorf("RetryNow(%s) = %+v, want %+v", status, got, want)
		}
	}
}

func TestEventIDAt_CarriesItsTime(t *testing.T) {
	at := time.Date(2026, 11, 30, 17, 0, 0, 123456789, time.UTC)
	id, got := webhooks.EventIDAt(at)
	if !got.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("time %s, want %s", got, at.Truncate(time.Millisecond))
	}
	if back, ok := webhooks.IDTime(id); !ok || !back.Equal(got) {
		t.Fatalf("IDTime(%s) = %s, %v", id, back, ok)
	}
	if _, ok := webhooks.IDTime("550e8400-e29b-41d4-a716-446655440000"); ok {
		t.Fatal("a v4 id carries no time")
	}
	a, _ := webhooks.NewEventID()
	b, _ := webhooks.NewEventID()
	if a == b || a > b && a[:13] != b[:13] {
		t.Fatalf("ids %s, %s: not distinct and time-ordered", a, b)
	}
}
