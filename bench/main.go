// Command bench measures the whole service on this machine — api and workers as
// real processes, real Postgres and Redis, a local receiver that verifies every
// signature and counts duplicates — through the public ingest, and prints each
// figure beside a baseline measured in the same run: asynq's no-op task rate and
// a raw Go HTTP client POSTing to the same receiver. Machines here are noisy:
// compare the ratios across days, not the absolute figures.
//
//	go run ./bench [flags]      (make bench ARGS="...")
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/empfio/webhooks/internal/testing/stack"
)

type options struct {
	n, clients, fanout, fanoutN int
	orderedN                    int
	burstN, burstClients        int
	rate                        float64
	duration                    time.Duration
	idleRate                    float64
	idleDuration                time.Duration
	openRate                    float64
	openDuration                time.Duration
	wide, queued                int
	workers, concurrency        int
	cases                       string
	cpuprofile, trace           bool
	logLevel                    string
	env                         []string
	source                      string
	out                         string
	databaseURL, redisURL       string
	redisDB, noopDB             int
}

func parseOptions() options {
	var o options
	flag.IntVar(&o.n, "n", 20000, "events of the throughput case")
	flag.IntVar(&o.clients, "clients", 64, "concurrent ingest clients of the throughput cases")
	flag.IntVar(&o.fanout, "fanout", 1, "endpoints per event in the throughput case")
	flag.IntVar(&o.fanoutN, "fanout-n", 3000, "events of the fan-out 10 case")
	flag.IntVar(&o.orderedN, "ordered-n", 10000, "events of each run of the ordered case")
	flag.IntVar(&o.burstN, "burst-n", 5000, "events of the burst case")
	flag.IntVar(&o.burstClients, "burst-clients", 32, "clients of the burst case")
	flag.Float64Var(&o.rate, "rate", 500, "events a second of the steady case")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of the steady case")
	flag.Float64Var(&o.idleRate, "idle-rate", 2, "events a second of the idle case")
	flag.DurationVar(&o.idleDuration, "idle-duration", 15*time.Second, "length of the idle case")
	flag.Float64Var(&o.openRate, "open-rate", 2000, "events a second of the open-loop case (a fixed rate, whatever the answers' latency)")
	flag.DurationVar(&o.openDuration, "open-duration", 20*time.Second, "length of the open-loop case")
	flag.IntVar(&o.wide, "wide", 1000, "endpoints of the one-event fan-out case")
	flag.IntVar(&o.queued, "queued", 100000, "deliveries queued before the workers start")
	flag.IntVar(&o.workers, "workers", 1, "worker processes")
	flag.IntVar(&o.concurrency, "concurrency", 50, "WORKER_CONCURRENCY of each worker (and of the asynq baseline)")
	flag.StringVar(&o.cases, "cases", "throughput,fanout,burst,steady,open,idle,wide,drain,fairness,ordered", "cases to run, comma-separated")
	flag.BoolVar(&o.cpuprofile, "cpuprofile", false, "write a CPU profile of each process to -out")
	flag.StringVar(&o.logLevel, "log-level", "warn", "LOG_LEVEL of the api and workers (the service's default is info: two lines per accepted event)")
	flag.Func("env", "KEY=VALUE for the api and the workers, on top of the harness's (repeatable): a mechanism switched off, e.g. -env TASK_BATCHING=false", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.env = append(o.env, v)
		return nil
	})
	flag.StringVar(&o.source, "source", "", "build the api and workers from this checkout instead (a worktree of another commit: the \"before\" of a comparison)")
	flag.BoolVar(&o.trace, "trace", false, "write an execution trace of each process to -out")
	flag.StringVar(&o.out, "out", "bench/results/"+time.Now().UTC().Format("20060102-150405"), "where results, profiles and binaries go")
	flag.IntVar(&o.redisDB, "redis-db", 14, "Redis database of the run; emptied")
	flag.IntVar(&o.noopDB, "noop-redis-db", 15, "Redis database of the asynq baseline; emptied")
	flag.Parse()
	o.databaseURL = envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	o.redisURL = envOr("REDIS_URL", "redis://127.0.0.1:6379/0")
	return o
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type bench struct {
	opts  options
	stack *stack.Stack
	rcv   *stack.Receiver
}

// report is what a run prints and writes as JSON.
type report struct {
	Started   time.Time          `json:"started"`
	Options   map[string]any     `json:"options"`
	Baselines map[string]float64 `json:"baselines"`
	Results   []*result          `json:"results"`
}

func main() {
	o := parseOptions()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	rcv, err := stack.NewReceiver()
	if err != nil {
		return err
	}
	rep := &report{Started: time.Now().UTC(), Baselines: map[string]float64{}, Options: map[string]any{
		"n": o.n, "clients": o.clients, "fanout": o.fanout, "workers": o.workers, "concurrency": o.concurrency,
		"rate": o.rate, "duration": o.duration.String(), "queued": o.queued, "wide": o.wide, "env": o.env, "source": o.source}}

	// Baselines first, on an idle machine, as the cases find it.
	if rep.Baselines["asynq_noop_tasks_per_s"], err = asynqNoop(ctx, o.redisURL, o.noopDB, o.n, o.clients, o.concurrency); err != nil {
		return err
	}
	if rep.Baselines["raw_http_posts_per_s"], err = rawHTTP(rcv, o.n, o.clients); err != nil {
		return err
	}

	redisURL, err := url.Parse(o.redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	redisURL.Path = "/" + strconv.Itoa(o.redisDB)
	s, err := stack.New(ctx, stack.Config{DatabaseURL: o.databaseURL, RedisURL: redisURL.String(), Concurrency: o.concurrency,
		Out: o.out, CPUProfile: o.cpuprofile, Trace: o.trace, Env: append([]string{"LOG_LEVEL=" + o.logLevel}, o.env...), Source: o.source})
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	if err := s.StartAPI(ctx); err != nil {
		return err
	}
	if err := s.StartWorkers(o.workers); err != nil {
		return err
	}
	b := &bench{opts: o, stack: s, rcv: rcv}
	for _, c := range strings.Split(o.cases, ",") {
		r, err := b.run(ctx, strings.TrimSpace(c))
		if err != nil {
			return fmt.Errorf("case %s: %w", c, err)
		}
		rep.Results = append(rep.Results, r)
		fmt.Fprintf(os.Stderr, "bench: %s done\n", r.Case)
	}
	print(rep)
	path := filepath.Join(o.out, "results.json")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	fmt.Fprintf(os.Stderr, "bench: results in %s\n", path)
	if err := enc.Encode(rep); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Lost > 0 || r.BadSignatures > 0 {
			return fmt.Errorf("%s: %d deliveries lost, %d bad signatures", r.Case, r.Lost, r.BadSignatures)
		}
	}
	return nil
}

func (b *bench) run(ctx context.Context, name string) (*result, error) {
	o := b.opts
	switch name {
	case "throughput":
		return b.throughput(ctx, fmt.Sprintf("%d events, %d clients, fan-out %d", o.n, o.clients, o.fanout), o.n, o.clients, o.fanout)
	case "fanout":
		return b.throughput(ctx, fmt.Sprintf("%d events, %d clients, fan-out 10", o.fanoutN, o.clients), o.fanoutN, o.clients, 10)
	case "burst":
		return b.throughput(ctx, fmt.Sprintf("%d-event burst, %d clients", o.burstN, o.burstClients), o.burstN, o.burstClients, 1)
	case "steady":
		return b.steady(ctx, fmt.Sprintf("%g events/s for %s", o.rate, o.duration), o.rate, o.duration)
	case "open":
		return b.steady(ctx, fmt.Sprintf("open loop, %g events/s for %s, deliveries running", o.openRate, o.openDuration), o.openRate, o.openDuration)
	case "idle":
		return b.steady(ctx, fmt.Sprintf("idle, %g events/s for %s", o.idleRate, o.idleDuration), o.idleRate, o.idleDuration)
	case "wide":
		return b.wide(ctx, o.wide)
	case "drain":
		return b.drain(ctx, o.queued, o.clients)
	case "fairness":
		return b.fairness(ctx, o.fanoutN, o.clients)
	case "ordered":
		return b.ordered(ctx, o.orderedN, o.clients)
	}
	return nil, fmt.Errorf("unknown case %q", name)
}

// print writes the table: every figure absolute, and rates also as a ratio to
// the baseline of the same run.
func print(rep *report) {
	noop, raw := rep.Baselines["asynq_noop_tasks_per_s"], rep.Baselines["raw_http_posts_per_s"]
	fmt.Printf("\nbaselines: asynq no-op %.0f tasks/s · raw Go HTTP client %.0f POSTs/s\n\n", noop, raw)
	fmt.Println("| case | figure | value | ÷ asynq no-op | ÷ raw HTTP | lost | duplicates |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rep.Results {
		for _, name := range sortedFigures(r.Figures) {
			v := r.Figures[name]
			ratioNoop, ratioRaw := "", ""
			if strings.HasSuffix(name, "_per_s") && name != "rate_per_s" {
				ratioNoop, ratioRaw = fmt.Sprintf("%.2f", v/noop), fmt.Sprintf("%.2f", v/raw)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %d | %d |\n", r.Case, name, figure(v), ratioNoop, ratioRaw, r.Lost, r.Duplicates)
		}
	}
	fmt.Println()
}

func sortedFigures(m map[string]float64) []string {
	order := []string{"deliveries_per_s", "drain_deliveries_per_s", "ingest_events_per_s", "rate_per_s", "ingest_p50_ms", "ingest_p99_ms",
		"e2e_p50_ms", "e2e_p99_ms", "all_received_ms", "worker_peak_rss_mb", "cpu_ms_per_delivery",
		"cpu_ms_per_delivery_postgres", "cpu_ms_per_delivery_redis", "cpu_ms_per_delivery_api", "cpu_ms_per_delivery_worker",
		"cpu_ms_per_delivery_harness", "cpu_cores",
		"mean_group_publish", "mean_group_take", "mean_group_record"}
	var out, rest []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for k := range m { // a case's own figures (fairness, ordered), after the common ones
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// figure prints a value with as many digits as it deserves.
func figure(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
