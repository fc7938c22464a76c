package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var inboundTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "empfio_inbound_events_total",
	Help: "Inbound webhook requests by source (agent, calcom) and outcome (accepted, duplicate, ignored, rejected, error).",
}, []string{"source", "outcome"})
