package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/cmd/internal/config"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

func TestMain(m *testing.M) { apptest.Main(m) }

// serve wires what the configuration says: AUTH_FAILURES_PER_MINUTE limits
// failed authentications (429 past it), OPS_QUEUES_WRITABLE lets
// /ops/queues change tasks (read-only, it answers 405: api/hardening_test.go),
// and METRICS_ADDR moves /metrics off the public listener. The first two were
// once read and never wired.
func TestServe_WiresTheConfiguration(t *testing.T) {
	_, dsn := testenv.DB(t)
	_, redisURL := testenv.Redis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := metricsLn.Addr().String()
	metricsLn.Close()
	for k, v := range map[string]string{"DATABASE_URL": dsn, "REDIS_URL": redisURL, "HTTP_ADDR": addr, "METRICS_ADDR": metricsAddr,
		"ADMIN_TOKEN": "admin-token-for-serve", "AUTH_FAILURES_PER_MINUTE": "3", "OPS_QUEUES_WRITABLE": "true", "LOG_LEVEL": "error"} {
		t.Setenv(k, v)
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, 10*time.Second, "the api answers", func() bool {
		r, err := apptest.TryRequest(t, "GET", base+"/healthz", nil, nil)
		return err == nil && r.Status == http.StatusOK
	})

	statuses := []int{}
	for range 5 {
		r := apptest.Request(t, "GET", base+"/api/v1/webhooks", nil, map[string]string{"Authorization": "Bearer wrong-key"})
		statuses = append(statuses, r.Status)
	}
	if statuses[0] != http.StatusUnauthorized || statuses[4] != http.StatusTooManyRequests {
		t.Fatalf("five bad keys with AUTH_FAILURES_PER_MINUTE=3 answered %v; want 401 first, 429 at last", statuses)
	}

	r := apptest.Request(t, "POST", base+"/ops/queues/api/queues/webhooks:pause", nil, map[string]string{
		"Authorization": "Basic b3BzOmFkbWluLXRva2VuLWZvci1zZXJ2ZQ==", // ops:admin-token-for-serve
		"Origin":        base})
	if r.Status == http.StatusMethodNotAllowed || r.Status == http.StatusUnauthorized || r.Status >= 500 {
		t.Fatalf("pausing a queue through /ops/queues with OPS_QUEUES_WRITABLE=true: %d %s", r.Status, r.Body)
	}

	if r := apptest.Request(t, "GET", base+"/metrics", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener with METRICS_ADDR set: %d", r.Status)
	}
	var m *apptest.Response
	testenv.Eventually(t, 10*time.Second, "metrics on METRICS_ADDR", func() bool {
		var err error
		m, err = apptest.TryRequest(t, "GET", "http://"+metricsAddr+"/metrics", nil, nil)
		return err == nil && m.Status == http.StatusOK
	})
	for _, line := range []string{`empfio_ready{dependency="postgres"} 1`, `empfio_ready{dependency="redis"} 1`, "empfio_http_request_duration_seconds"} {
		if !strings.Contains(string(m.Body), line) {
			t.Errorf("the metrics lack %s", line)
		}
	}
}
