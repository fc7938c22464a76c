//go:build faults

// Package faults is the fault suite (make test-faults): the real api and two
// workers on a Postgres and a Redis of its own, under a steady load of agent
// events to three endpoints, while a fault is injected half way — a worker
// killed with SIGKILL or stopped with SIGTERM, Redis flushed or restarted,
// Postgres restarted. Each test then requires that every accepted event reached
// all three endpoints (nothing lost), that no answer was a 5xx other than a 503,
// and reports duplicates and how long recovery took.
package faults

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/stack"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// Load of every scenario: rate events a second for duration, to fanout endpoints.
const (
	rate     = 250
	duration = 20 * time.Second
	fanout   = 3
)

// run is one scenario's whole system.
type run struct {
	t    *testing.T
	pg   *pgServer
	rd   *redisServer // nil on a Redis Cluster
	st   *stack.Stack
	rcv  *stack.Receiver
	org  string
	logs *apptest.LogBuffer // everything the processes logged, at debug
}

// setup starts the system; with cluster, on a three-node Redis Cluster.
// Endpoints take 20 ms to answer: some deliveries are always in flight when
// the fault strikes.
func setup(t *testing.T, cluster bool) *run {
	t.Helper()
	return setupWith(t, cluster, 0, "slow", "slow", "slow")
}

// setupWith is setup with one endpoint per prefix (stack.OrganizationWith),
// and the events spread over keys leads (stack.Stack.Keys) when keys > 0.
func setupWith(t *testing.T, cluster bool, keys int, prefixes ...string) *run {
	t.Helper()
	if len(prefixes) != fanout {
		t.Fatalf("%d endpoints: drive expects %d", len(prefixes), fanout)
	}
	r := &run{t: t, pg: startPostgres(t), logs: &apptest.LogBuffer{}}
	env := []string{"SWEEP_INTERVAL=2s", "SWEEP_GRACE=5s", "LOG_LEVEL=debug"}
	redisURL := ""
	if cluster {
		_, addrs := testenv.RedisCluster(t)
		env = append(env, "REDIS_CLUSTER_ADDRS="+strings.Join(addrs, ","))
	} else {
		r.rd = startRedis(t)
		redisURL = r.rd.url()
	}
	ctx := context.Background()
	st, err := stack.New(ctx, stack.Config{DatabaseURL: r.pg.url(), RedisURL: redisURL, Concurrency: 20, Out: t.TempDir(),
		Env: env, Logs: r.logs})
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	st.Keys = keys
	t.Cleanup(func() { st.Close(context.Background()) })
	t.Cleanup(r.checkLogs)
	if err := st.StartAPI(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.StartWorkers(2); err != nil {
		t.Fatal(err)
	}
	if r.rcv, err = stack.NewReceiver(); err != nil {
		t.Fatal(err)
	}
	if r.org, err = st.OrganizationWith(r.rcv, "faults", prefixes...); err != nil {
		t.Fatal(err)
	}
	return r
}

// outcome is what a scenario measured.
type outcome struct {
	events, accepted, lost int
	duplicates             int64
	fiveXX, unavailable    int
	slowFailures           int // non-202 answers that took more than 5 s
	recovery               time.Duration
}

func (o outcome) String() string {
	return fmt.Sprintf("%d events, %d accepted, %d deliveries lost, %d duplicates, %d 5xx (not 503), %d 503s, %d failures slower than 5 s, the last delivery of an event sent before the fault arrived %s after it",
		o.events, o.accepted, o.lost, o.duplicates, o.fiveXX, o.unavailable, o.slowFailures, o.recovery.Round(100*time.Millisecond))
}

var (
	summaryMu sync.Mutex
	summary   []string
)

// TestMain prints every scenario's figures together at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	sort.Strings(summary)
	fmt.Println("\nfault suite:\n  " + strings.Join(summary, "\n  "))
	os.Exit(code)
}

// drive sends the load, injects fault half way, waits until every accepted event
// reached every endpoint (or the deadline), and checks the promises.
func (r *run) drive(name string, fault func()) outcome {
	r.t.Helper()
	ctx := context.Background()
	injected := make(chan time.Time, 1)
	go func() {
		time.Sleep(duration / 2)
		injected <- time.Now()
		fault()
	}()
	in := r.st.Paced(ctx, r.org, rate, duration)
	faultAt := <-injected
	o := outcome{events: len(in.Sent)}
	var accepted []int
	for i, s := range in.Status {
		switch {
		case s == 202:
			accepted = append(accepted, i)
		case s == 503:
			o.unavailable++
		case s >= 500:
			o.fiveXX++
		}
		if s != 202 && in.Latency[i] > 5*time.Second {
			o.slowFailures++
		}
	}
	o.accepted = len(accepted)
	complete := func() bool {
		arr := r.rcv.Arrivals()
		for _, i := range accepted {
			if len(arr[i]) < fanout {
				return false
			}
		}
		return true
	}
	stack.WaitFor(ctx, 3*time.Minute, complete)
	arr := r.rcv.Arrivals()
	for _, i := range accepted {
		o.lost += max(0, fanout-len(arr[i]))
		if in.Sent[i].After(faultAt) {
			continue
		}
		// An event sent before the fault: how long after the fault did its last
		// delivery arrive? Normally milliseconds; a lost task shows here.
		for _, at := range arr[i] {
			o.recovery = max(o.recovery, at.Sub(faultAt))
		}
	}
	o.duplicates = r.rcv.Duplicates()
	summaryMu.Lock()
	summary = append(summary, name+": "+o.String())
	summaryMu.Unlock()
	r.t.Log(o)
	if o.lost > 0 || o.fiveXX > 0 || r.rcv.BadSignatures() > 0 {
		r.t.Errorf("%s: %d deliveries lost, %d answers 5xx other than 503, %d bad signatures", name, o.lost, o.fiveXX, r.rcv.BadSignatures())
	}
	return o
}

// checkLogs fails the test if any token, key or secret of the run appears in
// what its processes logged — at debug, every request included.
func (r *run) checkLogs() {
	logs := r.logs.String()
	if !strings.Contains(logs, "webhooks/agent-event") {
		r.t.Errorf("the processes' logs hold no request line: is LOG_LEVEL=debug in effect? (%d bytes)", len(logs))
	}
	for _, c := range r.st.Credentials {
		if c != "" && strings.Contains(logs, c) {
			r.t.Errorf("a credential (%.8s…) was logged", c)
		}
	}
}

func TestFaults_WorkerKilled(t *testing.T) {
	r := setup(t, false)
	r.drive("worker killed (SIGKILL)", func() { r.st.Workers[0].Process.Signal(syscall.SIGKILL) })
}

// The same fault on a three-node Redis Cluster (REDIS_CLUSTER_ADDRS).
func TestFaults_WorkerKilledOnRedisCluster(t *testing.T) {
	r := setup(t, true)
	r.drive("worker killed (SIGKILL), Redis Cluster", func() { r.st.Workers[0].Process.Signal(syscall.SIGKILL) })
}

func TestFaults_WorkerStoppedGracefully(t *testing.T) {
	r := setup(t, false)
	r.drive("worker stopped (SIGTERM)", func() { r.st.Workers[0].Process.Signal(syscall.SIGTERM) })
	c := r.rd.client()
	defer c.Close()
	// The other worker may still be acknowledging its last deliveries; a task
	// the stopped worker left active would stay so for its lease (30 s).
	active := func() int64 { return c.LLen(context.Background(), "asynq:{webhooks}:active").Val() }
	if stack.WaitFor(context.Background(), 10*time.Second, func() bool { return active() == 0 }) != nil {
		t.Errorf("%d tasks still active 10 s after a graceful stop", active())
	}
}

func TestFaults_RedisFlushed(t *testing.T) {
	r := setup(t, false)
	r.drive("Redis flushed", func() {
		c := r.rd.client()
		defer c.Close()
		c.FlushAll(context.Background())
	})
}

func TestFaults_RedisRestarted(t *testing.T) {
	r := setup(t, false)
	r.drive("Redis restarted (2 s down, no persistence)", func() {
		r.rd.kill()
		time.Sleep(2 * time.Second) // the outage
		r.rd.start()
	})
}

func TestFaults_PostgresRestarted(t *testing.T) {
	r := setup(t, false)
	o := r.drive("Postgres restarted (immediate)", func() { r.pg.ctl("restart", "-m", "immediate", "-w") })
	if o.slowFailures > 0 {
		t.Errorf("%d requests hung past 5 s while Postgres restarted", o.slowFailures)
	}
}

// Two ordered endpoints beside an unordered one, the events spread over 50
// leads (ordering keys): a worker killed mid-delivery, then Redis flushed.
// Nothing is lost, and no ordered endpoint gets an event of a lead before an
// earlier one of the same lead.
func TestFaults_OrderedEndpointThroughAWorkerKillAndARedisFlush(t *testing.T) {
	r := setupWith(t, false, 50, "slow-ordered", "slow-ordered", "slow")
	r.drive("ordered endpoints: worker killed (SIGKILL), then Redis flushed", func() {
		r.st.Workers[0].Process.Signal(syscall.SIGKILL)
		time.Sleep(2 * time.Second)
		c := r.rd.client()
		defer c.Close()
		c.FlushAll(context.Background())
	})
	if n := r.rcv.Inversions("/slow-ordered"); n > 0 {
		t.Errorf("%d events reached an ordered endpoint after a later event of their lead", n)
	}
}
