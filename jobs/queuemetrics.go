package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/empfio/webhooks/store"
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

// RegisterQueueMetrics registers the delivery queue's metrics with reg, and
// the circuits' (read from db at most every queueStatsInterval).
func RegisterQueueMetrics(reg prometheus.Registerer, rdb redis.UniversalClient, queue string, db *store.DB) error {
	if queue == "" {
		queue = DefaultQueue
	}
	if err := reg.Register(&circuitCollector{db: db,
		circuits: prometheus.NewDesc("empfio_circuits", "Endpoints whose circuit is open or half open, by state.", []string{"state"}, nil),
		held:     prometheus.NewDesc("empfio_deliveries_held", "Deliveries held by open circuits.", nil, nil),
	}); err != nil {
		return err
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

// circuitCollector exports the endpoints' circuits by state and the held
// deliveries, counted in Postgres at most every queueStatsInterval; a failed
// count keeps the last figures.
type circuitCollector struct {
	db       *store.DB
	circuits *prometheus.Desc
	held     *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts map[string]int
	nHeld  int
}

func (c *circuitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.circuits
	ch <- c.held
}

func (c *circuitCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) >= queueStatsInterval {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if counts, held, err := c.db.CircuitCounts(ctx); err == nil {
			c.counts, c.nHeld = counts, held
		}
		cancel()
		c.at = time.Now()
	}
	counts, held := c.counts, c.nHeld
	c.mu.Unlock()
	if counts == nil {
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.circuits, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(held))
}
