package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/stack"
	"github.com/empfio/webhooks/jobs"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynqNoop is the first baseline: asynq enqueueing n tasks from clients
// goroutines and running them with a handler that does nothing, at the workers'
// concurrency and poll interval, on a Redis database of its own.
func asynqNoop(ctx context.Context, redisURL string, db, n, clients, concurrency int) (float64, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return 0, err
	}
	opt.DB = db
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return 0, err
	}
	var done atomic.Int64
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: concurrency, Queues: map[string]int{"noop": 1},
		TaskCheckInterval: jobs.DefaultPollInterval, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(rdb)
	start := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				id := "noop-" + strconv.FormatInt(i, 10)
				client.EnqueueContext(ctx, asynq.NewTask("noop", []byte(`{"delivery_id":"`+id+`"}`)), asynq.Queue("noop"), asynq.TaskID(id))
			}
		})
	}
	wg.Wait()
	if err := stack.WaitFor(ctx, 5*time.Minute, func() bool { return done.Load() >= int64(n) }); err != nil {
		return 0, fmt.Errorf("asynq no-op: %d of %d ran: %w", done.Load(), n, err)
	}
	rate := float64(n) / time.Since(start).Seconds()
	rdb.FlushDB(ctx)
	return rate, nil
}

// rawHTTP is the second baseline: a plain Go client POSTing n signed bodies of
// a delivery's size to the same receiver from clients goroutines.
func rawHTTP(rcv *stack.Receiver, n, clients int) (float64, error) {
	const path = "/raw"
	secret := webhooks.NewSecret()
	rcv.Expect(path, secret)
	rcv.Reset()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	next := atomic.Int64{}
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				body := fmt.Appendf(nil, `{"id":"raw-%d","event":"lead.created","timestamp":"2026-03-07T10:30:00Z","organization_id":"550e8400-e29b-41d4-a716-446655440000","data":{"id":"b%d","name":"Jonas Weber","email":"jonas.weber@example.com","phone":null,"channel":"whatsapp","status":"new","created_at":"2026-03-07T10:30:00Z","channel_id":null,"company":null,"conversation_id":null,"metadata":null}}`, i, i)
				req, _ := http.NewRequest("POST", rcv.URL+path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Empfio-Delivery", "raw-"+strconv.FormatInt(i, 10))
				req.Header.Set("X-Empfio-Signature", webhooks.Sign(secret, body))
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("raw HTTP: %d of %d requests failed", f, n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
