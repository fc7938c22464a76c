package jobs

import (
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// queueStatsInterval is how often, at most, the queue's task counts are read
// from Redis for the metrics, however often Prometheus scrapes.
const queueStatsInterval = 15 * time.Second

// queueCollector exports the delivery queue's tasks by state
// (empfio_queue_tasks{state}) and its latency, read with asynq's Inspector at
// most every queueStatsInterval; a failed read keeps the last figures.
type queueCollector struct {
	inspector *asynq.Inspector
	queue     string
	tasks     *prometheus.Desc
	latency   *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	info *asynq.QueueInfo
}

// RegisterQueueMetrics registers the delivery queue's metrics with reg.
func RegisterQueueMetrics(reg prometheus.Registerer, rdb redis.UniversalClient, queue string) error {
	if queue == "" {
		queue = DefaultQueue
	}
	return reg.Register(&queueCollector{
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		queue:     queue,
		tasks:     prometheus.NewDesc("empfio_queue_tasks", "Tasks of the delivery queue by state (pending, active, scheduled, retry, archived).", []string{"state"}, nil),
		latency:   prometheus.NewDesc("empfio_queue_latency_seconds", "How long the oldest pending task of the delivery queue has waited.", nil, nil),
	})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.tasks
	ch <- c.latency
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) >= queueStatsInterval {
		if info, err := c.inspector.GetQueueInfo(c.queue); err == nil {
			c.info = info
		}
		c.at = time.Now() // a failed read waits for the next interval too
	}
	info := c.info
	c.mu.Unlock()
	if info == nil {
		return
	}
	for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
		"retry": info.Retry, "archived": info.Archived} {
		ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds())
}
