package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// held is a Committer whose groups' sizes arrive on sizes, and whose first
// group, once started, waits for release.
type held struct {
	*Committer[int, int]
	sizes   chan int
	started chan struct{}
	release chan struct{}
}

func newHeld(t *testing.T) *held {
	h := &held{sizes: make(chan int, 16), started: make(chan struct{}), release: make(chan struct{})}
	first := true
	h.Committer = New(16, func(_ context.Context, ins []int) ([]int, error) {
		if first {
			first = false
			close(h.started)
			<-h.release
		}
		h.sizes <- len(ins)
		return ins, nil
	}, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_group_size"}))
	h.linger = time.Hour // a group that lingered would never come
	t.Cleanup(func() {
		if !t.Failed() { // a failed group may be lingering for the hour
			h.Close()
		}
	})
	return h
}

// do runs n requests at once; the channel closes when all are answered.
func (h *held) do(n int) chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { h.Do(context.Background(), i) })
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

func (h *held) next(t *testing.T, want int) {
	t.Helper()
	select {
	case n := <-h.sizes:
		if n != want {
			t.Fatalf("a group of %d, want %d", n, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no group of %d came: it waited for the linger", want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
	}
}

// A lone request at idle goes at once; the requests that waited meanwhile go
// together, at once; and under load a group goes as soon as it is as large
// as the last, without waiting out the linger.
func TestCommitter_GroupsWaitOnlyForTheCompanyTheyCanExpect(t *testing.T) {
	h := newHeld(t)
	lone := h.do(1)
	<-h.started
	waiting := h.do(3)
	waitFor(t, "three requests wait behind the first group", func() bool { return len(h.ops) == 3 })
	close(h.release)
	h.next(t, 1)
	h.next(t, 3) // the last group was alone: no linger, all that waited
	<-lone
	<-waiting

	again := h.do(3) // the last group had three: the next waits for three, no longer
	h.next(t, 3)
	<-again
}
