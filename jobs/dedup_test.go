package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
)

// Claiming a new event's key is one Redis round trip, and nothing more is
// written for it once the event is stored. A second claim finds it in flight;
// it may be taken over only once the lease has passed, by one request only.
func TestDedup_OneRoundTripAndATakeOverOnlyAfterTheLease(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	calls := &countCalls{}
	rdb.AddHook(calls)
	ctx := context.Background()
	lease := 300 * time.Millisecond
	d := &jobs.Dedup{Redis: rdb, Window: time.Minute, Lease: lease}

	first, err := d.Claim(ctx, "k")
	testenv.Must(t, err)
	if first.State != jobs.Claimed || calls.n.Load() != 1 {
		t.Fatalf("a new key: state %v after %d Redis calls; want Claimed after 1", first.State, calls.n.Load())
	}
	if ttl := rdb.PTTL(ctx, "empfio:dedup:k").Val(); ttl < 50*time.Second {
		t.Fatalf("the claim lives %v; want the window", ttl)
	}

	second, err := d.Claim(ctx, "k")
	testenv.Must(t, err)
	third, err := d.Claim(ctx, "k")
	testenv.Must(t, err)
	if second.State != jobs.InFlight || third.State != jobs.InFlight {
		t.Fatalf("repeats: %v %v; want InFlight", second.State, third.State)
	}
	if mine, err := second.TakeOver(ctx); err != nil || mine {
		t.Fatalf("a takeover within the lease: %v %v", mine, err)
	}
	testenv.Eventually(t, 5*time.Second, "the lease passes", func() bool {
		mine, err := second.TakeOver(ctx)
		testenv.Must(t, err)
		return mine
	})
	if second.State != jobs.Claimed {
		t.Fatalf("after the takeover: %v", second.State)
	}
	if mine, err := third.TakeOver(ctx); err != nil || mine {
		t.Fatalf("a second takeover of the same dead claim: %v %v", mine, err)
	}

	// The dead owner's release does not free the new owner's claim; the new
	// owner's does.
	testenv.Must(t, first.Release(ctx))
	if n := rdb.Exists(ctx, "empfio:dedup:k").Val(); n != 1 {
		t.Fatal("the dead owner's release freed the new owner's claim")
	}
	testenv.Must(t, second.Release(ctx))
	if n := rdb.Exists(ctx, "empfio:dedup:k").Val(); n != 0 {
		t.Fatal("the owner's release left the key")
	}
}
