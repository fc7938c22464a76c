package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
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

// metricsHandler serves the process's metrics in Prometheus's text format.
func metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.Handler())
}
