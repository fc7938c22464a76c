package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Group commit: concurrent writes (and reads) that wait at the same moment are
// sent together — one round trip, one statement per kind with the group's rows
// as arrays, one transaction, so one commit (one WAL flush) serves them all. A
// request that arrives while nothing waits goes out alone, at once: grouping adds
// no delay at idle and grows with load by itself, as Postgres's own group commit
// does.
//
// If a group fails as a whole (a bad row aborts its transaction), each request
// is sent again on its own, so one bad request never fails the others and each
// caller gets its own error.
const (
	// groupFlushers is how many groups of a kind may be in flight at once. One:
	// while a group is sent, the next one gathers behind it, so groups grow
	// with load. Measured on two cores (bench/RESULTS.md): one flusher carried
	// about twice the deliveries per second of four, at half the Postgres CPU
	// per delivery, since four split the waiting requests into small groups.
	groupFlushers = 1
	// groupLinger is how long a group waits for company while load is on
	// (the last group had more than one request); at idle nobody waits.
	// Measured (bench/RESULTS.md): 2 ms against 1 ms made groups half again as
	// large and cut Postgres CPU per delivery, for under a millisecond more
	// latency at 500 events/s.
	groupLinger = 2 * time.Millisecond
	// groupMax bounds a group: large enough to amortise a statement and a
	// commit, small enough that one slow group holds few callers.
	groupMax = 256
)

// errSplit makes a group run request by request (it cannot run as one).
var errSplit = errors.New("store: group must run request by request")

// groupOp is one request waiting for its group.
type groupOp[T, R any] struct {
	ctx  context.Context
	in   T
	out  R
	err  error
	done chan struct{}
}

// committer runs requests of one kind in groups: exec runs a group and returns
// one result per request, in order, or an error that fails the whole group.
type committer[T, R any] struct {
	ops  chan *groupOp[T, R]
	exec func(ctx context.Context, ins []T) ([]R, error)
	size prometheus.Observer
	stop chan struct{}
	wg   sync.WaitGroup
}

// groupSize observes how many requests each group carried, by kind.
var groupSize = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "empfio_store_group_size",
	Help:    "Requests per group sent to Postgres (group commit), by kind.",
	Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
}, []string{"kind"})

func newCommitter[T, R any](kind string, exec func(context.Context, []T) ([]R, error)) *committer[T, R] {
	c := &committer[T, R]{ops: make(chan *groupOp[T, R], groupMax*groupFlushers), exec: exec, stop: make(chan struct{}),
		size: groupSize.WithLabelValues(kind)}
	for range groupFlushers {
		c.wg.Go(c.flushLoop)
	}
	return c
}

// do sends in with the requests waiting beside it and returns its own result once
// its group is done (committed, for writes), or its error.
func (c *committer[T, R]) do(ctx context.Context, in T) (R, error) {
	op := &groupOp[T, R]{ctx: ctx, in: in, done: make(chan struct{})}
	select {
	case c.ops <- op:
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
	<-op.done // a group, once sent, is answered: its outcome is the caller's
	return op.out, op.err
}

func (c *committer[T, R]) flushLoop() {
	busy := false // the last group had company: load is on
	for {
		var first *groupOp[T, R]
		select {
		case first = <-c.ops:
		case <-c.stop:
			for { // answer what is still queued, then end
				select {
				case op := <-c.ops:
					c.flush([]*groupOp[T, R]{op})
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
// groupLinger for more, since bigger groups cost Postgres less per request; at
// idle it takes only what is already there, so a lone request waits for nothing.
func (c *committer[T, R]) gather(first *groupOp[T, R], busy bool) []*groupOp[T, R] {
	group := []*groupOp[T, R]{first}
	var linger <-chan time.Time
	if busy {
		linger = time.After(groupLinger)
	}
	for len(group) < groupMax {
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
func (c *committer[T, R]) flush(group []*groupOp[T, R]) {
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
			c.run(ctx, []*groupOp[T, R]{op})
		}
	}
	for _, op := range live {
		close(op.done)
	}
}

// run executes ops as one group and sets their results; false when the group
// failed as a whole (each op then holds the error).
func (c *committer[T, R]) run(ctx context.Context, ops []*groupOp[T, R]) bool {
	ins := make([]T, len(ops))
	for i, op := range ops {
		ins[i] = op.in
	}
	outs, err := c.exec(ctx, ins)
	if err == nil && len(outs) != len(ops) {
		err = errors.New("store: a group returned the wrong number of results")
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

// close stops the flushers once the requests in flight are answered.
func (c *committer[T, R]) close() {
	close(c.stop)
	c.wg.Wait()
}

// inOrder returns, for each of ids, the row of found whose key is that id, or
// T's zero value where none is: a group read's answers in its requests' order.
func inOrder[T any](ids []string, found []T, key func(T) string) []T {
	byID := make(map[string]T, len(found))
	for _, row := range found {
		byID[key(row)] = row
	}
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}
