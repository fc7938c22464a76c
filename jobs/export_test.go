package jobs

import (
	"context"

	webhooks "github.com/empfio/webhooks"
	"github.com/hibiken/asynq"
)

// EnqueueBatch gives deliveries, as Publish stored them, one batch task of id
// taskID; envelopes holds each event's envelope.
func (q *Queue) EnqueueBatch(ctx context.Context, taskID string, deliveries []webhooks.Delivery, envelopes map[string][]byte) error {
	ps := make([]*payload, len(deliveries))
	for i, d := range deliveries {
		ps[i] = &payload{DeliveryID: d.ID, CreatedAt: d.CreatedAt, Envelope: envelopes[d.EventID]}
	}
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliverBatch, encodeBatch(ps)),
		asynq.Queue(q.name), asynq.TaskID(taskID), asynq.MaxRetry(taskMaxRetry))
	return err
}

// EnqueueOwn gives delivery d a task of its own, due now, carrying no envelope.
func (q *Queue) EnqueueOwn(ctx context.Context, d webhooks.Delivery) error {
	_, err := q.enqueueAt(ctx, payload{DeliveryID: d.ID, CreatedAt: d.CreatedAt}, d.CreatedAt)
	return err
}

// RedisMarker is the key whose absence tells the sweeper Redis lost its data.
const RedisMarker = redisMarker

// Behind returns how many events' deliveries are enqueued after Publish
// returned, still on their way.
func (p *Publisher) Behind() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.behind
}

// EnqueueBehindMax is enqueueBehindMax.
const EnqueueBehindMax = enqueueBehindMax
