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
// index (-1: none), so the deliveries of one event share one copy.
type batchHeader struct {
	Envelopes  []int         `json:"envelopes"` // the envelopes' lengths, in order
	Deliveries []batchMember `json:"deliveries"`
}

// batchMember is one delivery of a batch: the payload its own task would
// carry, and the index of its envelope.
type batchMember struct {
	payload
	Envelope int `json:"envelope"`
}

func encodeBatch(deliveries []*payload) []byte {
	h := batchHeader{Deliveries: make([]batchMember, len(deliveries))}
	var envelopes [][]byte
	index := map[string]int{} // by content: an event's deliveries carry the same bytes
	for i, p := range deliveries {
		n := -1
		if p.Envelope != nil {
			var ok bool
			if n, ok = index[string(p.Envelope)]; !ok {
				n = len(envelopes)
				index[string(p.Envelope)] = n
				envelopes = append(envelopes, p.Envelope)
				h.Envelopes = append(h.Envelopes, len(p.Envelope))
			}
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

func decodeBatch(b []byte) ([]*payload, error) {
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
	out := make([]*payload, len(h.Deliveries))
	for i, m := range h.Deliveries {
		if m.DeliveryID == "" || m.Envelope < -1 || m.Envelope >= len(envelopes) {
			return nil, fmt.Errorf("delivery %d: no id, or no such envelope", i)
		}
		if m.Envelope >= 0 {
			m.payload.Envelope = envelopes[m.Envelope]
		}
		out[i] = &m.payload
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
		err = q.enqueueBatch(ctx, ps)
	}
	errs := make([]error, len(ps))
	for i := range errs {
		errs[i] = err
	}
	return errs, nil
}

func (q *Queue) enqueueBatch(ctx context.Context, ps []*payload) error {
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliverBatch, encodeBatch(ps)),
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
// A batch run again — after its worker died, or a shutdown outlasted its
// grace — attempts its deliveries again, as does a delivery's own task given
// meanwhile (the sweeper's, a user's): each attempt takes its delivery first
// (store.Take), so a delivery is sent by one of them, and only when due.
func (d *Deliverer) ProcessBatch(ctx context.Context, t *asynq.Task) error {
	ps, err := decodeBatch(t.Payload())
	if err != nil {
		return fmt.Errorf("bad batch payload: %v: %w", err, asynq.SkipRetry)
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			if err := d.attempt(ctx, p); err != nil {
				d.ownTask(ctx, p, err)
			}
		})
	}
	wg.Wait()
	return nil
}

// batchFailures logs a batch's deliveries that fail before their decision,
// as infraErrorLog does tasks.
var batchFailures = newInfraFailures()

// ownTask gives delivery p of a batch, whose attempt ended with err, a task of
// its own, due when asynq would have run ProcessTask's task again.
func (d *Deliverer) ownTask(ctx context.Context, p *payload, err error) {
	ctx = context.WithoutCancel(ctx)
	batchFailures.log(err, func(since int64) {
		d.Log.Error("a delivery of a batch failed before its decision; it gets a task of its own", "delivery_id", p.DeliveryID,
			"error", err, "failures_since_last_line", since)
	})
	if errors.Is(err, asynq.SkipRetry) || d.Queue == nil {
		return // its tries are spent (see infra), or no queue: the sweeper gives it a task
	}
	due := time.Now().Add(retryDelay(0, err, nil))
	if _, qerr := d.Queue.enqueueAt(ctx, payload{DeliveryID: p.DeliveryID, CreatedAt: p.CreatedAt}, due); qerr != nil {
		d.Log.Warn("a delivery of a batch could not get a task of its own; the sweeper will give it one",
			"delivery_id", p.DeliveryID, "error", qerr)
	}
}
