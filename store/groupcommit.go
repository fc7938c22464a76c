package store

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Group commit: concurrent writes that wait at the same moment share one round
// trip and one transaction, so one commit (one WAL flush) serves them all. A
// write that arrives while nothing waits goes out alone, at once: the batching
// adds no delay at idle and grows with load by itself.
//
// A group is sent as one pgx.Batch, which Postgres runs as one implicit
// transaction. If any write of a group fails, the group is rolled back and each
// write is sent again on its own, so one bad write never fails the others and
// each caller gets its own error.
const (
	// groupFlushers is how many groups may be in flight at once.
	groupFlushers = 4
	// groupMax bounds a group: large enough to amortise a commit, small enough
	// to keep one slow group from holding many callers.
	groupMax = 128
)

// groupOp is one write waiting for its group.
type groupOp[T, R any] struct {
	ctx  context.Context
	in   T
	out  R
	err  error
	done chan struct{}
}

// committer runs writes of one kind in groups. queue adds a write's statement to
// a batch; read reads its result back from the batch, in the same order.
type committer[T, R any] struct {
	db    *DB
	ops   chan *groupOp[T, R]
	queue func(b *pgx.Batch, in T)
	read  func(br pgx.BatchResults, in T) (R, error)
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newCommitter[T, R any](db *DB, queue func(*pgx.Batch, T), read func(pgx.BatchResults, T) (R, error)) *committer[T, R] {
	c := &committer[T, R]{db: db, ops: make(chan *groupOp[T, R], groupMax*groupFlushers), queue: queue, read: read, stop: make(chan struct{})}
	for range groupFlushers {
		c.wg.Go(c.flushLoop)
	}
	return c
}

// do sends in with the writes waiting beside it and returns its own result once
// its group is committed (or its error).
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
		group := []*groupOp[T, R]{first}
	more:
		for len(group) < groupMax {
			select {
			case op := <-c.ops:
				group = append(group, op)
			default:
				break more
			}
		}
		c.flush(group)
	}
}

// flush sends a group as one batch; on any error, each write alone.
func (c *committer[T, R]) flush(group []*groupOp[T, R]) {
	live := group[:0]
	for _, op := range group {
		if err := op.ctx.Err(); err != nil {
			op.err = err
			close(op.done)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.WithoutCancel(live[0].ctx)
	if len(live) == 1 || c.send(ctx, live) != nil {
		for _, op := range live {
			c.send(ctx, []*groupOp[T, R]{op})
		}
	}
	for _, op := range live {
		close(op.done)
	}
}

// send runs ops as one batch and sets each op's result; it returns the first
// error, after which no result of the batch holds.
func (c *committer[T, R]) send(ctx context.Context, ops []*groupOp[T, R]) error {
	b := &pgx.Batch{}
	for _, op := range ops {
		c.queue(b, op.in)
	}
	br := c.db.pool.SendBatch(ctx, b)
	var first error
	for _, op := range ops {
		op.out, op.err = c.read(br, op.in)
		if op.err != nil && first == nil {
			first = op.err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
		for _, op := range ops {
			op.err = err
		}
	}
	if first != nil {
		for _, op := range ops {
			if op.err == nil {
				op.err = first // the implicit transaction was rolled back
			}
		}
	}
	return first
}

// close stops the flushers once the writes in flight are answered.
func (c *committer[T, R]) close() {
	close(c.stop)
	c.wg.Wait()
}
