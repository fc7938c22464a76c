// Package jobs delivers webhooks with asynq and Redis: publishing (store, then
// enqueue), the delivery handler, its HTTP sender and retry schedule, the sweeper
// that upholds the no-loss invariant, inbound dedup and rate limits.
package jobs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/group"
	"github.com/empfio/webhooks/telemetry"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// TypeDeliver is the asynq task type of a delivery attempt.
const TypeDeliver = "webhook:deliver"

// DefaultQueue is the asynq queue deliveries go through.
const DefaultQueue = "webhooks"

// taskMaxRetry is asynq's own bound on a task's retries, set out of the way: the
// delivery handler decides when a delivery is final from the attempts recorded in
// Postgres, bounds the tries that fail before a decision itself (infraRetryLimit),
// and may put a delivery back any number of times while its endpoint is busy —
// none of which may exhaust asynq's count.
const taskMaxRetry = 1 << 20

// taskTimeoutMargin is added to the HTTP timeout for the task's own deadline, to
// leave room for loading and recording the attempt.
const taskTimeoutMargin = 15 * time.Second

// payload is a delivery task's: its JSON header, and for a task Publish gave,
// a newline and the event's envelope, byte for byte. JSON never holds a raw
// newline, so the first one ends the header, and the envelope needs neither
// escaping nor decoding.
type payload struct {
	DeliveryID string `json:"delivery_id"`
	// CreatedAt names the day partition the delivery is stored in; zero in a
	// task made before round 3, whose delivery is then looked for.
	CreatedAt time.Time `json:"created_at,omitzero"`
	Trace     string    `json:"traceparent,omitempty"` // the trace of what made the delivery (telemetry)
	// Envelope is the event's envelope, when the task carries it (Publish's, up
	// to publishedEnvelopeMax), so that its attempt does not read it.
	Envelope []byte `json:"-"`
}

func (p *payload) encode() []byte {
	b, _ := json.Marshal(p)
	if p.Envelope != nil {
		b = append(append(b, '\n'), p.Envelope...)
	}
	return b
}

func decodePayload(b []byte) (*payload, error) {
	header, envelope, found := bytes.Cut(b, []byte{'\n'})
	var p payload
	if err := json.Unmarshal(header, &p); err != nil {
		return nil, err
	}
	if p.DeliveryID == "" {
		return nil, errors.New("no delivery id")
	}
	if found {
		p.Envelope = envelope
	}
	return &p, nil
}

// publishedEnvelopeMax bounds the envelope a task carries: a delivery waiting
// in Redis holds a copy of it. A larger event's deliveries read theirs.
const publishedEnvelopeMax = 2 << 10

// Queue enqueues deliveries. It is safe for concurrent use.
type Queue struct {
	// Unbatched gives every delivery Publish stores a task of its own
	// (TASK_BATCHING=false); set it before use.
	Unbatched bool

	client    *asynq.Client
	inspector *asynq.Inspector
	name      string
	timeout   time.Duration
	batcher   *group.Committer[*payload, error]
}

// NewQueue returns a Queue on rdb's Redis, queue name (DefaultQueue when empty);
// timeout is the HTTP timeout of one attempt.
func NewQueue(rdb redis.UniversalClient, name string, timeout time.Duration) *Queue {
	if name == "" {
		name = DefaultQueue
	}
	q := &Queue{
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		name:      name,
		timeout:   timeout,
	}
	q.batcher = group.New(batchMax, q.enqueueGroup, batchSize)
	return q
}

// Close stops grouping published deliveries, once those waiting have their
// task. Enqueue nothing after it.
func (q *Queue) Close() { q.batcher.Close() }

// Name returns the asynq queue's name.
func (q *Queue) Name() string { return q.name }

// Enqueue gives delivery d (its ID and CreatedAt) a task, due at at (zero or
// past: now). The task id is the delivery id, so enqueueing a delivery that
// already has a task changes nothing and is no error. (A delivery with two
// tasks — a batch's and its own — is still attempted once at a time: see
// store.Take.)
func (q *Queue) Enqueue(ctx context.Context, id string, createdAt, at time.Time) error {
	_, err := q.enqueueAt(ctx, payload{DeliveryID: id, CreatedAt: createdAt}, at)
	return err
}

// EnqueuePublished is Enqueue of a delivery Publish just stored, of an event
// whose envelope is envelope: its task carries it (up to
// publishedEnvelopeMax), so that its attempt does not read it. Deliveries
// published at the same moment share one task (TypeDeliverBatch) unless
// Unbatched; a lone one has its own.
func (q *Queue) EnqueuePublished(ctx context.Context, d *webhooks.Delivery, envelope []byte) error {
	p := payload{DeliveryID: d.ID, CreatedAt: d.CreatedAt}
	if len(envelope) <= publishedEnvelopeMax {
		p.Envelope = envelope
	}
	if q.Unbatched {
		_, err := q.enqueueAt(ctx, p, time.Time{})
		return err
	}
	p.Trace = telemetry.Inject(ctx)
	err, gerr := q.batcher.Do(ctx, &p)
	return cmp.Or(gerr, err)
}

// enqueueAt gives p's delivery a task due at at (zero or past: now), and
// reports whether it created one (false: the delivery had one).
func (q *Queue) enqueueAt(ctx context.Context, p payload, at time.Time) (created bool, err error) {
	return q.enqueueTask(ctx, p, p.DeliveryID, at)
}

// enqueueAs gives p's delivery a task of id taskID, due now, beside the one
// named for it.
func (q *Queue) enqueueAs(ctx context.Context, p payload, taskID string) (bool, error) {
	return q.enqueueTask(ctx, p, taskID, time.Time{})
}

func (q *Queue) enqueueTask(ctx context.Context, p payload, id string, at time.Time) (created bool, err error) {
	if p.Trace == "" {
		p.Trace = telemetry.Inject(ctx)
	}
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(q.name), asynq.MaxRetry(taskMaxRetry),
		asynq.Timeout(q.timeout + taskTimeoutMargin)}
	if time.Until(at) > 0 {
		opts = append(opts, asynq.ProcessAt(at))
	}
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliver, p.encode()), opts...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	default:
		return false, webhooks.Unavailable("Redis", err)
	}
}

// Lease is how long an attempt holds its delivery (store.Take): one attempt's
// timeout and the margin of its task, after which a worker that died lets the
// delivery go.
func (q *Queue) Lease() time.Duration { return q.timeout + taskTimeoutMargin }

// RunNow makes delivery id attempted as soon as a worker is free: a waiting task
// (scheduled, retry or archived) is moved forward, a missing one is created. A
// task still active — a worker is finishing the attempt before, which may have
// already recorded its outcome — is waited for, up to runNowWait, and then
// replaced; after that the sweeper gives the delivery its task.
func (q *Queue) RunNow(ctx context.Context, id string, createdAt time.Time) error {
	deadline := time.Now().Add(runNowWait)
	for {
		info, err := q.inspector.GetTaskInfo(q.name, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			return q.Enqueue(ctx, id, createdAt, time.Time{})
		case err != nil:
			return webhooks.Unavailable("Redis", err)
		}
		switch info.State {
		case asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateArchived:
			if err := q.inspector.RunTask(q.name, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return webhooks.Unavailable("Redis", err)
			}
			return nil
		case asynq.TaskStateCompleted:
			if err := q.inspector.DeleteTask(q.name, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return webhooks.Unavailable("Redis", err)
			}
			return q.Enqueue(ctx, id, createdAt, time.Time{})
		case asynq.TaskStateActive:
			if time.Now().After(deadline) {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(runNowPoll):
			}
		default: // pending: it runs soon
			return nil
		}
	}
}

// How long, and how often, RunNow waits for a task that is still active.
const (
	runNowWait = 3 * time.Second
	runNowPoll = 25 * time.Millisecond
)

// taskState returns the state of delivery id's task, or 0 when it has none.
func (q *Queue) taskState(id string) (asynq.TaskState, error) {
	info, err := q.inspector.GetTaskInfo(q.name, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("inspect task %s: %w", id, err)
	}
	return info.State, nil
}
