package jobs_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/redis/go-redis/v9"
)

func TestPipelined_ConcurrentCommandsShareRoundTripsAndEachGetsItsOwnAnswer(t *testing.T) {
	base, _ := testenv.Redis(t)
	counted := &countCalls{}
	base.AddHook(counted)
	rdb, err := jobs.Pipelined(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A lone command goes out at once, alone (once the connection is up: its
	// handshake is a few commands of its own).
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	commands0, trips0 := counted.n.Load(), counted.trips.Load()
	if n, err := rdb.Incr(ctx, "counter").Result(); err != nil || n != 1 {
		t.Fatalf("lone INCR: %d, %v", n, err)
	}
	if got := counted.trips.Load() - trips0; got != 1 {
		t.Fatalf("a lone command took %d round trips, want 1", got)
	}

	// Many at once: each caller gets its own reply, none lost or repeated.
	const callers = 2000
	answered := make([]atomic.Bool, callers+2)
	var wrong atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			n, err := rdb.Incr(ctx, "counter").Result()
			if err != nil || n < 2 || n > callers+1 || answered[n].Swap(true) {
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d of %d concurrent callers got an error, a repeated or an impossible reply", wrong.Load(), callers)
	}
	commands, trips := counted.n.Load()-commands0-1, counted.trips.Load()-trips0-1
	if n, _ := base.Get(ctx, "counter").Int(); n != callers+1 {
		t.Fatalf("counter is %d, want %d", n, callers+1)
	}
	t.Logf("%d concurrent commands in %d round trips", commands, trips)
	if commands != callers || trips > callers/4 {
		t.Fatalf("%d concurrent commands (want %d) took %d round trips: not pipelined", commands, callers, trips)
	}

	// Closing it closes the client.
	if err := rdb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := base.Ping(ctx).Err(); err == nil {
		t.Fatal("the client still answers after the pipelined client was closed")
	}
}

// Redis down: a command fails with an error in bounded time, it does not hang
// in the pipeline (the api turns the error into a 503).
func TestPipelined_RedisDownFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb, err := jobs.Pipelined(redis.NewClient(&redis.Options{Addr: addr,
		MaxRetries: jobs.PipelineMaxRetries, ReadTimeout: jobs.PipelineReadTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			if rdb.SetNX(context.Background(), "k", "v", time.Minute).Err() != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 20 {
		t.Fatalf("%d of 20 commands to a Redis that is down failed, want all", failed.Load())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("commands to a Redis that is down took %s to fail", took)
	}
}

// A Redis that stops answering mid-stream: the command fails within seconds,
// and it was sent once — go-redis's default retries would have sent the batch
// again on a fresh connection and answered the INCR twice (counter 2, no error).
func TestPipelined_AHungRedisFailsInSecondsAndNothingIsSentTwice(t *testing.T) {
	base, _ := testenv.Redis(t)
	proxy := startMuteProxy(t, base.Options().Addr)
	rdb, err := jobs.Pipelined(redis.NewClient(&redis.Options{Addr: proxy.addr, DB: base.Options().DB,
		MaxRetries: jobs.PipelineMaxRetries, ReadTimeout: jobs.PipelineReadTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	testenv.Must(t, rdb.Ping(ctx).Err()) // connected

	proxy.mute() // the connections open now get no more replies
	start := time.Now()
	n, err := rdb.Incr(ctx, "counter").Result()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("INCR through a Redis that stopped answering returned %d and no error", n)
	}
	if took > 6*time.Second {
		t.Fatalf("INCR through a Redis that stopped answering took %s to fail", took)
	}
	if got, _ := base.Get(ctx, "counter").Int(); got != 1 {
		t.Fatalf("the INCR ran %d times, want once", got)
	}
	t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
}

// muteProxy passes a Redis connection through until mute: then the
// connections already open get nothing more from Redis (their commands still
// reach it), and new ones pass through as before.
type muteProxy struct {
	addr  string
	mu    sync.Mutex
	muted []*atomic.Bool
}

func startMuteProxy(t *testing.T, redisAddr string) *muteProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &muteProxy{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", redisAddr)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); r.Close() })
			muted := &atomic.Bool{}
			p.mu.Lock()
			p.muted = append(p.muted, muted)
			p.mu.Unlock()
			go io.Copy(r, c)
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := r.Read(buf)
					if err != nil {
						return
					}
					if !muted.Load() {
						c.Write(buf[:n])
					}
				}
			}()
		}
	}()
	return p
}

func (p *muteProxy) mute() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.muted {
		m.Store(true)
	}
}
