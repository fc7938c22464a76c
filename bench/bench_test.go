package main

import (
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/redis/go-redis/v9"
)

// The harness runs end to end with tiny figures: every case, both baselines, no
// delivery lost, no bad signature. It times nothing: figures come from make bench.
func TestBench_SmokeRunsEveryCase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the api and a worker")
	}
	_, runRedis := testenv.Redis(t)
	_, noopRedis := testenv.Redis(t)
	o := options{
		n: 60, clients: 8, fanout: 2, fanoutN: 20, burstN: 40, burstClients: 8,
		rate: 50, duration: time.Second, idleRate: 5, idleDuration: time.Second,
		wide: 20, queued: 50, orderedN: 30, workers: 1, concurrency: 20, // above ENDPOINT_MAX_IN_FLIGHT (fairness)
		redisDB: dbIndex(t, runRedis), noopDB: dbIndex(t, noopRedis),
		cases: "throughput,fanout,burst,steady,idle,wide,drain,fairness,ordered", out: t.TempDir(), logLevel: "warn",
		databaseURL: envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		redisURL:    runRedis,
	}
	if err := run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
}

func dbIndex(t *testing.T, redisURL string) int {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	return opt.DB
}
