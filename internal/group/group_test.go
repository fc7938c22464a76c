package group_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/empfio/webhooks/internal/group"
	"github.com/prometheus/client_golang/prometheus"
)

// sizes records the size of every group a Committer ran.
type sizes struct {
	mu  sync.Mutex
	all []int
}

func (s *sizes) Observe(v float64) { s.mu.Lock(); s.all = append(s.all, int(v)); s.mu.Unlock() }

var _ prometheus.Observer = (*sizes)(nil)

// Requests made at the same moment go out together, each caller gets its own
// result, and a group that fails as a whole is run again request by request,
// so one bad request fails only its own caller.
func TestCommitter_GroupsAndEachCallerGetsItsOwnOutcome(t *testing.T) {
	gate, started := make(chan struct{}), make(chan struct{})
	exec := func(_ context.Context, ins []int) ([]string, error) {
		if ins[0] == 0 {
			close(started)
			<-gate // hold the first group while the others gather behind it
		}
		for _, in := range ins {
			if in == 13 && len(ins) > 1 {
				return nil, errors.New("a bad row aborts the group")
			}
		}
		if len(ins) == 1 && ins[0] == 13 {
			return nil, errors.New("thirteen is refused")
		}
		out := make([]string, len(ins))
		for i, in := range ins {
			out[i] = fmt.Sprint("r", in)
		}
		return out, nil
	}
	s := &sizes{}
	c := group.New(group.Max, exec, s)
	defer c.Close()

	first := make(chan string)
	go func() { out, _ := c.Do(context.Background(), 0); first <- out }()
	<-started
	const n = 40 // they queue behind the held group: one group of them follows
	var wg sync.WaitGroup
	outs, errs := make([]string, n+1), make([]error, n+1)
	for i := 1; i <= n; i++ {
		wg.Go(func() { outs[i], errs[i] = c.Do(context.Background(), i) })
	}
	if !c.WaitQueued(n) {
		t.Fatalf("%d requests never queued", n)
	}
	close(gate)
	wg.Wait()
	if got := <-first; got != "r0" {
		t.Fatalf("the first caller got %q", got)
	}
	for i := 1; i <= n; i++ {
		switch {
		case i == 13 && (errs[i] == nil || errs[i].Error() != "thirteen is refused"):
			t.Errorf("request 13: %q, %v: want its own error", outs[i], errs[i])
		case i != 13 && (errs[i] != nil || outs[i] != fmt.Sprint("r", i)):
			t.Errorf("request %d: %q, %v: want r%d (a bad neighbour must not fail it)", i, outs[i], errs[i], i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) < 2 || s.all[0] != 1 || s.all[1] != n {
		t.Fatalf("group sizes %v: the requests waiting behind the first did not go out together", s.all)
	}
}

// A caller whose context ends before its group is sent is answered with its
// context's error and its request is not run.
func TestCommitter_AGoneCallerIsNotRun(t *testing.T) {
	ran := make(chan int, 2)
	gate, started := make(chan struct{}), make(chan struct{})
	exec := func(_ context.Context, ins []int) ([]int, error) {
		if ins[0] == 0 {
			close(started)
			<-gate
		}
		for _, in := range ins {
			ran <- in
		}
		return ins, nil
	}
	c := group.New(group.Max, exec, &sizes{})
	defer c.Close()
	go c.Do(context.Background(), 0)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := c.Do(ctx, 1); done <- err }()
	if !c.WaitQueued(1) {
		t.Fatal("the second request never queued")
	}
	cancel()
	close(gate)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the gone caller got %v, want context.Canceled", err)
	}
	if in := <-ran; in != 0 {
		t.Fatalf("ran %d first", in)
	}
	select {
	case in := <-ran:
		t.Fatalf("request %d of a gone caller was run", in)
	default:
	}
}
