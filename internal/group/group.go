// Package group runs concurrent requests of one kind together: those that wait
// at the same moment are handed to one function call, and each caller gets its
// own result back. The store sends them to Postgres as one statement and one
// commit (group commit); the queue enqueues them as one task.
package group

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Requests that wait at the same moment go out together. A request that
// arrives while nothing waits goes out alone, at once: grouping adds no delay
// at idle and grows with load by itself, as Postgres's own group commit does.
//
// If a group fails as a whole (a bad row aborts its transaction), each request
// is run again on its own, so one bad request never fails the others and each
// caller gets its own error.
//
// The defaults below were measured on the store's groups (bench/RESULTS.md).
const (
	// Flushers is how many groups of a kind may be in flight at once. One:
	// while a group is sent, the next one gathers behind it, so groups grow
	// with load. Measured on two cores (bench/RESULTS.md): one flusher carried
	// about twice the deliveries per second of four, at half the Postgres CPU
	// per delivery, since four split the waiting requests into small groups.
	Flushers = 1
	// Linger is how long a group waits for company while load is on
	// (the last group had more than one request); at idle nobody waits.
	// Measured (bench/RESULTS.md): 2 ms against 1 ms made groups half again as
	// large and cut Postgres CPU per delivery, for under a millisecond more
	// latency at 500 events/s.
	Linger = 2 * time.Millisecond
	// Max is the store's bound on a group: large enough to amortise a
	// statement and a commit, small enough that one slow group holds few
	// callers.
	Max = 256
)

// request is one request waiting for its group.
type request[T, R any] struct {
	ctx  context.Context
	in   T
	out  R
	err  error
	done chan struct{}
}

// Committer runs requests of one kind in groups: exec runs a group and returns
// one result per request, in order, or an error that fails the whole group.
type Committer[T, R any] struct {
	max  int
	ops  chan *request[T, R]
	exec func(ctx context.Context, ins []T) ([]R, error)
	size prometheus.Observer
	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a Committer that runs groups of up to max requests with exec and
// observes each group's size with size.
func New[T, R any](max int, exec func(context.Context, []T) ([]R, error), size prometheus.Observer) *Committer[T, R] {
	c := &Committer[T, R]{max: max, ops: make(chan *request[T, R], max*Flushers), exec: exec, stop: make(chan struct{}), size: size}
	for range Flushers {
		c.wg.Go(c.flushLoop)
	}
	return c
}

// Do sends in with the requests waiting beside it and returns its own result once
// its group is done (committed, for writes), or its error.
func (c *Committer[T, R]) Do(ctx context.Context, in T) (R, error) {
	op := &request[T, R]{ctx: ctx, in: in, done: make(chan struct{})}
	select {
	case c.ops <- op:
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
	<-op.done // a group, once sent, is answered: its outcome is the caller's
	return op.out, op.err
}

func (c *Committer[T, R]) flushLoop() {
	busy := false // the last group had company: load is on
	for {
		var first *request[T, R]
		select {
		case first = <-c.ops:
		case <-c.stop:
			for { // answer what is still queued, then end
				select {
				case op := <-c.ops:
					c.flush([]*request[T, R]{op})
				default:
					return
				}
			}
		}
		group := c.gather(first, busy)
		busy = len(group) > 1
		c.flush(group)
	}
}

// gather collects the requests waiting behind first. Under load it waits up to
// Linger for more, since bigger groups cost Postgres less per request; at
// idle it takes only what is already there, so a lone request waits for nothing.
func (c *Committer[T, R]) gather(first *request[T, R], busy bool) []*request[T, R] {
	group := []*request[T, R]{first}
	var linger <-chan time.Time
	if busy {
		linger = time.After(Linger)
	}
	for len(group) < c.max {
		select {
		case op := <-c.ops:
			group = append(group, op)
			continue
		default:
		}
		if linger == nil {
			return group
		}
		select {
		case op := <-c.ops:
			group = append(group, op)
		case <-linger:
			return group
		}
	}
	return group
}

// flush runs a group, or, if it fails as a whole, each request alone.
func (c *Committer[T, R]) flush(group []*request[T, R]) {
	live := group[:0]
	for _, op := range group {
		if err := op.ctx.Err(); err != nil { // its caller is gone: do not write for it
			op.err = err
			close(op.done)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	c.size.Observe(float64(len(live)))
	ctx := context.WithoutCancel(live[0].ctx)
	if len(live) == 1 || !c.run(ctx, live) {
		for _, op := range live {
			c.run(ctx, []*request[T, R]{op})
		}
	}
	for _, op := range live {
		close(op.done)
	}
}

// run executes ops as one group and sets their results; false when the group
// failed as a whole (each op then holds the error).
func (c *Committer[T, R]) run(ctx context.Context, ops []*request[T, R]) bool {
	ins := make([]T, len(ops))
	for i, op := range ops {
		ins[i] = op.in
	}
	outs, err := c.exec(ctx, ins)
	if err == nil && len(outs) != len(ops) {
		err = errors.New("group: a group returned the wrong number of results")
	}
	for i, op := range ops {
		if err != nil {
			op.err = err
			continue
		}
		op.out, op.err = outs[i], nil
	}
	return err == nil
}

// Close stops the flushers once the requests in flight are answered.
func (c *Committer[T, R]) Close() {
	close(c.stop)
	c.wg.Wait()
}
