package jobs

import (
	webhooks "github.com/empfio/webhooks"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	attemptsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_delivery_attempts_total",
		Help: "Delivery attempts by the delivery's resulting status (succeeded, retrying, held, failed) and event type.",
	}, []string{"outcome", "event_type"})
	responsesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_delivery_responses_total",
		Help: "Receivers' answers to delivery attempts by class: 2xx, 3xx, 4xx, 5xx, or none (timeout, connection, TLS, refused target).",
	}, []string{"class"})
	retriesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "empfio_delivery_retries_scheduled_total",
		Help: "Retries scheduled after a failed attempt.",
	})
	failedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_deliveries_failed_total",
		Help: "Deliveries that failed for good (retries spent, 410, or a manual attempt that failed), by event type.",
	}, []string{"event_type"})
	// deliveredSeconds is what a customer feels: from the event's acceptance
	// to its endpoint's 2xx, retries and waits included.
	deliveredSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "empfio_delivery_latency_seconds",
		Help:    "Time from an event's acceptance to the 2xx of its delivery, per delivery that succeeds (retries, holds and queueing included).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600},
	})
	attemptSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "empfio_delivery_attempt_duration_seconds",
		Help:    "Time from sending a delivery to its answer (or failure).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	})
	sweptTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_sweeper_deliveries_total",
		Help: "Overdue deliveries the sweeper looked at, by what it did (requeued, failed, alive).",
	}, []string{"action"})
	throttledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_deliveries_put_back_total",
		Help: "Deliveries put back without an attempt, by reason (in_flight, rate_limit: their endpoint's; worker_busy: their worker's).",
	}, []string{"reason"})
	heldTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "empfio_deliveries_held_total",
		Help: "Deliveries held because their endpoint's circuit was open.",
	})
	circuitsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_circuit_transitions_total",
		Help: "Endpoint circuits that opened or closed, by the state they moved to.",
	}, []string{"state"})
	disabledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_endpoints_disabled_total",
		Help: "Endpoints the service disabled, by why: gone (410) or circuit (its circuit stayed open for ENDPOINT_DISABLE_AFTER).",
	}, []string{"reason"})
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_events_published_total",
		Help: "Events stored, by source.",
	}, []string{"source"})
	enqueueBehind = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "empfio_enqueue_behind",
		Help: "Events answered whose deliveries' tasks are still being enqueued.",
	})
)

func observeAttempt(outcome, eventType string, res webhooks.AttemptResult) {
	attemptsTotal.WithLabelValues(outcome, eventType).Inc()
	attemptSeconds.Observe(res.Duration.Seconds())
	responsesTotal.WithLabelValues(statusClass(res.StatusCode)).Inc()
	switch outcome {
	case webhooks.StatusRetrying:
		retriesTotal.Inc()
	case webhooks.StatusFailed:
		failedTotal.WithLabelValues(eventType).Inc()
	}
}

// statusClass is the class of a receiver's status code; "none" without an answer.
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "none"
	}
	return string(rune('0'+code/100)) + "xx"
}
