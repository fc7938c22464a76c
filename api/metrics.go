package api

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var inboundTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "empfio_inbound_events_total",
	Help: "Inbound webhook requests by source (agent, calcom) and outcome (accepted, duplicate, ignored, rejected, error).",
}, []string{"source", "outcome"})

var requestSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "empfio_http_request_duration_seconds",
	Help:    "API requests by method, route pattern (\"unmatched\" when no route matched) and status.",
	Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
}, []string{"method", "route", "status"})

// ready says, as of the last scrape, whether each dependency answered the
// api's readiness check (/readyz's): what an alert can read even when no
// orchestrator probes the api.
var ready = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "empfio_ready",
	Help: "1 when the dependency (postgres, redis) answered the api's readiness check at the last scrape, else 0.",
}, []string{"dependency"})

// MetricsHandler serves the process's metrics in Prometheus's text format,
// checking its dependencies first (empfio_ready).
func (s *Server) MetricsHandler() http.Handler {
	metrics := promhttp.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Not r's context: through fiber's adaptor it is the fasthttp request,
		// whose Done races the server's shutdown; the check has its own bound.
		pg, rd := s.checkDependencies(context.Background())
		ready.WithLabelValues("postgres").Set(gauge(pg))
		ready.WithLabelValues("redis").Set(gauge(rd))
		metrics.ServeHTTP(w, r)
	})
}

func gauge(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}
