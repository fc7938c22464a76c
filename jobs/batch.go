package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// TypeDeliverBatch is the asynq task type of deliveries published at the same
// moment: one task carries them all, as the task of each would (payload), and
// the worker attempts them at once (Deliverer.ProcessBatch).
//
// Why: asynq's enqueue, dequeue and ack are three Redis scripts and a handful
// of round trips per task, about a third of the CPU a delivery cost on two
// cores (bench/RESULTS.md); a batch pays them once for its deliveries.
const TypeDeliverBatch = "webhook:deliver-batch"

// batchMax bounds the deliveries of one batch task: a batch's deliveries are
// attempted at once, so it also bounds what one task sends in parallel.
const batchMax = 64

// batchSize observes how many deliveries each task Publish gave carried.
var batchSize = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "empfio_task_batch_size",
	Help:    "Deliveries per delivery task that Publish enqueued (task batching).",
	Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
})

// batchHeader is a batch task's JSON header. The envelopes follow it, after a
// newline, one after another as they are; a delivery names its envelope by
// index, so the deliveries of one event share one copy.
type batchHeader struct {
	EnqueuedAt int64         `json:"enqueued_at"` // unix milliseconds
	Envelopes  []int         `json:"envelopes"`   // the envelopes' lengths, in order
	Deliveries []batchMember `json:"deliveries"`
}

// batchMember is one delivery of a batch: the payload its own task would
// carry, and the index of its envelope.
type batchMember struct {
	payload
	Envelope int `json:"envelope"`
}

// batch is a decoded batch task.
type batch struct {
	enqueuedAt time.Time
	deliveries []*payload
}

func encodeBatch(enqueuedAt time.Time, deliveries []*payload) []byte {
	h := batchHeader{EnqueuedAt: enqueuedAt.UnixMilli(), Deliveries: make([]batchMember, len(deliveries))}
	var envelopes [][]byte
	index := map[string]int{} // by event id
	for i, p := range deliveries {
		n, ok := index[p.Published.EventID]
		if !ok {
			n = len(envelopes)
			index[p.Published.EventID] = n
			envelopes = append(envelopes, p.Published.Envelope)
			h.Envelopes = append(h.Envelopes, len(p.Published.Envelope))
		}
		h.Deliveries[i] = batchMember{payload: *p, Envelope: n}
	}
	b, _ := json.Marshal(h)
	b = append(b, '\n')
	for _, e := range envelopes {
		b = append(b, e...)
	}
	return b
}

func decodeBatch(b []byte) (*batch, error) {
	header, rest, found := bytes.Cut(b, []byte{'\n'})
	if !found {
		return nil, errors.New("no envelopes after the header")
	}
	var h batchHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, err
	}
	envelopes := make([][]byte, len(h.Envelopes))
	for i, n := range h.Envelopes {
		if n < 0 || n > len(rest) {
			return nil, fmt.Errorf("envelope %d: %d bytes announced, %d left", i, n, len(rest))
		}
		envelopes[i], rest = rest[:n:n], rest[n:]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the last envelope", len(rest))
	}
	out := &batch{enqueuedAt: time.UnixMilli(h.EnqueuedAt), deliveries: make([]*payload, len(h.Deliveries))}
	for i, m := range h.Deliveries {
		if m.Published == nil || m.Envelope < 0 || m.Envelope >= len(envelopes) {
			return nil, fmt.Errorf("delivery %d: no published delivery or envelope", i)
		}
		m.Published.Envelope = envelopes[m.Envelope]
		out.deliveries[i] = &m.payload
	}
	return out, nil
}

// enqueueGroup gives the deliveries Publish stored at the same moment their
// task: a lone delivery one of its own, as Enqueue does, else one batch task.
// Every delivery shares the outcome: a batch that failed is not split into
// tasks of their own, since Redis may have taken it (a timeout) and each
// would then be sent twice; the sweeper gives them their tasks back.
func (q *Queue) enqueueGroup(ctx context.Context, ps []*payload) ([]error, error) {
	var err error
	if len(ps) == 1 {
		_, err = q.enqueueAt(ctx, *ps[0], time.Time{})
	} else {
		err = q.enqueueBatch(ctx, time.Now(), ps)
	}
	errs := make([]error, len(ps))
	for i := range errs {
		errs[i] = err
	}
	return errs, nil
}

func (q *Queue) enqueueBatch(ctx context.Context, enqueuedAt time.Time, ps []*payload) error {
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliverBatch, encodeBatch(enqueuedAt, ps)),
		asynq.Queue(q.name), asynq.MaxRetry(taskMaxRetry), asynq.Timeout(q.timeout+taskTimeoutMargin))
	if err != nil {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// ProcessBatch attempts every delivery of a batch task at once, each as
// ProcessTask would. A delivery that is not final after its attempt (a retry
// due later, a put-back, a failure before its decision) gets a task of its
// own, due when asynq would have run ProcessTask's task again; if that enqueue
// fails, the sweeper gives it one. The batch task then ends.
//
// Its deliveries are taken as published, without reading them, only on the
// task's first run and while it is fresh (FreshFor). A batch run again — after
// its worker died, or a shutdown outlasted its grace — reads each delivery, and
// so does an old one: past the sweeper's grace a delivery may have been given
// a task of its own, which no task id tells (a batch's deliveries have none).
// What the read finds anything but untouched since it was published
// (Delivery.Untouched) is left to that task: the sweeper's claim, an attempt
// recorded, a hold or a user's retry each moved it on and gave it one. Were
// both to attempt it, a stale batch and the task the sweeper gave would send
// it twice — after workers were down past the grace, every delivery waiting.
func (d *Deliverer) ProcessBatch(ctx context.Context, t *asynq.Task) error {
	b, err := decodeBatch(t.Payload())
	if err != nil {
		return fmt.Errorf("bad batch payload: %v: %w", err, asynq.SkipRetry)
	}
	how := ifUntouched
	if time.Since(b.enqueuedAt) < d.freshFor() && d.firstRun(ctx) {
		how = asPublished
	}
	var wg sync.WaitGroup
	for _, p := range b.deliveries {
		wg.Go(func() {
			if err := d.attempt(ctx, p, how); err != nil {
				d.ownTask(ctx, p.DeliveryID, err)
			}
		})
	}
	wg.Wait()
	return nil
}

func (d *Deliverer) freshFor() time.Duration {
	return orDefault(d.FreshFor, DefaultSweepGrace/2)
}

// firstRun reports whether the batch task of ctx runs for the first time:
// asynq has not retried it, and it has not started before. A task put back
// after its worker died, or after a shutdown, runs again with no retry
// counted, so each batch leaves a mark in Redis when it starts. The mark
// outlives the batch's freshness, after which nothing asks for it.
func (d *Deliverer) firstRun(ctx context.Context) bool {
	if retried, _ := asynq.GetRetryCount(ctx); retried > 0 || d.Redis == nil {
		return false
	}
	id, _ := asynq.GetTaskID(ctx)
	first, err := d.Redis.SetNX(context.WithoutCancel(ctx), "empfio:batch:{"+id+"}", 1, d.freshFor()).Result()
	return err == nil && first
}

// batchFailures logs a batch's deliveries that fail before their decision,
// as infraErrorLog does tasks.
var batchFailures = newInfraFailures()

// ownTask gives delivery id of a batch, whose attempt ended with err, a task of
// its own, due when asynq would have run ProcessTask's task again.
func (d *Deliverer) ownTask(ctx context.Context, id string, err error) {
	ctx = context.WithoutCancel(ctx)
	batchFailures.log(err, func(since int64) {
		d.Log.Error("a delivery of a batch failed before its decision; it gets a task of its own", "delivery_id", id,
			"error", err, "failures_since_last_line", since)
	})
	if errors.Is(err, asynq.SkipRetry) {
		return // its tries are spent (see infra): the sweeper ends it
	}
	if d.Queue == nil {
		return // the sweeper gives it a task
	}
	due := time.Now().Add(retryDelay(0, err, nil))
	if _, qerr := d.Queue.enqueueAt(ctx, payload{DeliveryID: id}, due); qerr != nil {
		d.Log.Warn("a delivery of a batch could not get a task of its own; the sweeper will give it one",
			"delivery_id", id, "error", qerr)
	}
}
