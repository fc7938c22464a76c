package jobs

import (
	"context"
	"time"

	"github.com/empfio/webhooks/store"
	"github.com/hibiken/asynq"
)

// EnqueueBatch gives deliveries, as Publish stored them, one batch task of id
// taskID, enqueued at enqueuedAt; envelopes holds each event's envelope.
func (q *Queue) EnqueueBatch(ctx context.Context, taskID string, enqueuedAt time.Time, deliveries []store.Published,
	envelopes map[string][]byte) error {
	ps := make([]*payload, len(deliveries))
	for i, d := range deliveries {
		ps[i] = &payload{DeliveryID: d.ID, Published: publishedOf(&d, envelopes[d.EventID])}
	}
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliverBatch, encodeBatch(enqueuedAt, ps)),
		asynq.Queue(q.name), asynq.TaskID(taskID), asynq.MaxRetry(taskMaxRetry))
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
