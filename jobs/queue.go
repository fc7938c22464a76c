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
	"github.com/empfio/webhooks/store"
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
	Trace      string `json:"traceparent,omitempty"` // the trace of what made the delivery (telemetry)
	// Published is the delivery as Publish stored it, so that the task's first
	// run reads nothing (see Deliverer). Only Publish's tasks carry it, and
	// only with an envelope up to publishedEnvelopeMax.
	Published *published `json:"published,omitempty"`
}

// published is what an attempt needs of a delivery as stored, but its endpoint.
type published struct {
	OrganizationID string `json:"organization_id"`
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	EndpointID     string `json:"endpoint_id"`
	// EndpointVersion is the endpoint's version the delivery was published
	// to: the attempt uses that version or a later one.
	EndpointVersion int64  `json:"endpoint_version"`
	Envelope        []byte `json:"-"` // after the header
}

func (p *payload) encode() []byte {
	b, _ := json.Marshal(p)
	if p.Published != nil {
		b = append(append(b, '\n'), p.Published.Envelope...)
	}
	return b
}

func decodePayload(b []byte) (*payload, error) {
	header, envelope, found := bytes.Cut(b, []byte{'\n'})
	var p payload
	if err := json.Unmarshal(header, &p); err != nil {
		return nil, err
	}
	if p.Published != nil {
		if !found {
			return nil, errors.New("no envelope after the header")
		}
		p.Published.Envelope = envelope
	}
	return &p, nil
}

// publishedEnvelopeMax bounds the envelope a task carries: a delivery waiting
// in Redis holds a copy of it. A larger event's deliveries read theirs.
const publishedEnvelopeMax = 2 << 10

// job is the delivery of p, to e, as Publish stored it: pending, not attempted.
func (p *published) job(id string, e *webhooks.Endpoint) *webhooks.Job {
	return &webhooks.Job{
		Delivery: webhooks.Delivery{ID: id, OrganizationID: p.OrganizationID, EventID: p.EventID, EndpointID: p.EndpointID,
			EventType: p.EventType, Status: webhooks.StatusPending},
		Envelope: p.Envelope,
		Endpoint: *e,
	}
}

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

// Enqueue gives delivery id a task, due now. The task id is the delivery id, so
// enqueueing a delivery that already has a task changes nothing and is no error.
func (q *Queue) Enqueue(ctx context.Context, id string) error {
	_, err := q.enqueue(ctx, id)
	return err
}

// EnqueuePublished is Enqueue of a delivery Publish just stored, of an event
// whose envelope is envelope: its task carries both, so that its first
// attempt reads nothing. Deliveries published at the same moment share one
// task (TypeDeliverBatch) unless Unbatched; a lone one, or one whose envelope
// is larger than a task carries, has its own.
func (q *Queue) EnqueuePublished(ctx context.Context, d *store.Published, envelope []byte) error {
	p := payload{DeliveryID: d.ID}
	if len(envelope) <= publishedEnvelopeMax {
		p.Published = publishedOf(d, envelope)
	}
	if q.Unbatched || p.Published == nil {
		_, err := q.enqueueAt(ctx, p, time.Time{})
		return err
	}
	p.Trace = telemetry.Inject(ctx)
	err, gerr := q.batcher.Do(ctx, &p)
	return cmp.Or(gerr, err)
}

// publishedOf is what a task carries of d, published with envelope.
func publishedOf(d *store.Published, envelope []byte) *published {
	return &published{OrganizationID: d.OrganizationID, EventID: d.EventID, EventType: d.EventType,
		EndpointID: d.EndpointID, EndpointVersion: d.EndpointVersion, Envelope: envelope}
}

// enqueue is Enqueue that also reports whether a task was created (false: the
// delivery already had one).
func (q *Queue) enqueue(ctx context.Context, id string) (created bool, err error) {
	return q.enqueueAt(ctx, payload{DeliveryID: id}, time.Time{})
}

// enqueueAt gives p's delivery a task due at at (zero or past: now).
func (q *Queue) enqueueAt(ctx context.Context, p payload, at time.Time) (created bool, err error) {
	id := p.DeliveryID
	p.Trace = telemetry.Inject(ctx)
	b := p.encode()
	opts := []asynq.Option{asynq.TaskID(id), asynq.Queue(q.name), asynq.MaxRetry(taskMaxRetry),
		asynq.Timeout(q.timeout + taskTimeoutMargin)}
	if time.Until(at) > 0 {
		opts = append(opts, asynq.ProcessAt(at))
	}
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliver, b), opts...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	default:
		return false, webhooks.Unavailable("Redis", err)
	}
}

// RunNow makes delivery id attempted as soon as a worker is free: a waiting task
// (scheduled, retry or archived) is moved forward, a missing one is created. A
// task still active — a worker is finishing the attempt before, which may have
// already recorded its outcome — is waited for, up to runNowWait, and then
// replaced; after that the sweeper gives the delivery its task.
func (q *Queue) RunNow(ctx context.Context, id string) error {
	deadline := time.Now().Add(runNowWait)
	for {
		info, err := q.inspector.GetTaskInfo(q.name, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			return q.Enqueue(ctx, id)
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
			return q.Enqueue(ctx, id)
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
