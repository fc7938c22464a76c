package jobs

import (
	webhooks "github.com/empfio/webhooks"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	attemptsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_delivery_attempts_total",
		Help: "Delivery attempts by the delivery's resulting status (succeeded, retrying, failed).",
	}, []string{"outcome"})
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
		Help: "Deliveries put back for their endpoint's sake, by reason (in_flight, rate_limit).",
	}, []string{"reason"})
	heldTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "empfio_deliveries_held_total",
		Help: "Deliveries held because their endpoint's circuit was open.",
	})
	circuitsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_circuit_transitions_total",
		Help: "Endpoint circuits that opened or closed, by the state they moved to.",
	}, []string{"state"})
	circuitsNow = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "empfio_circuits",
		Help: "Endpoints whose circuit is open or half open, by state (counted by the worker running the breaker's rounds).",
	}, []string{"state"})
	heldNow = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "empfio_deliveries_held",
		Help: "Deliveries held by open circuits (counted by the worker running the breaker's rounds).",
	})
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_events_published_total",
		Help: "Events stored, by source.",
	}, []string{"source"})
)

func observeAttempt(outcome string, res webhooks.AttemptResult) {
	attemptsTotal.WithLabelValues(outcome).Inc()
	attemptSeconds.Observe(res.Duration.Seconds())
}
