package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/empfio/webhooks/internal/testing/proccpu"
	"github.com/empfio/webhooks/internal/testing/stack"
)

// result is one case's figures. Rates are per second, durations in ms.
type result struct {
	Case          string             `json:"case"`
	Events        int                `json:"events"`
	Expected      int                `json:"expected_deliveries"`
	Delivered     int                `json:"delivered"`
	Lost          int                `json:"lost"`
	Duplicates    int64              `json:"duplicates"`
	BadSignatures int64              `json:"bad_signatures"`
	IngestErrors  int64              `json:"ingest_errors"`
	Figures       map[string]float64 `json:"figures"`
}

func (r *result) set(name string, v float64) {
	if r.Figures == nil {
		r.Figures = map[string]float64{}
	}
	r.Figures[name] = v
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuPerDelivery notes the CPU each part of the stack spent per delivery since
// before: the cost of a delivery, whatever the machine's speed. The total is
// the service's (Postgres, Redis, api, workers); the harness's own — this
// process: the load generator and the receiver, on the same cores — is noted
// beside it, since what it takes the service cannot have.
func cpuPerDelivery(r *result, before map[string]time.Duration) (total time.Duration) {
	if r.Delivered == 0 {
		return 0
	}
	for name, d := range cpuSpent(before, proccpu.ByName(), "postgres", "redis-server", "api", "worker", harnessName) {
		per := ms(d) / float64(r.Delivered)
		if name == harnessName {
			r.set("cpu_ms_per_delivery_harness", per)
			continue
		}
		r.set("cpu_ms_per_delivery_"+strings.ReplaceAll(name, "-server", ""), per)
		total += d
	}
	r.set("cpu_ms_per_delivery", ms(total)/float64(r.Delivered))
	return total
}

// settle waits until every expected delivery arrived (or the timeout) and fills
// the loss, duplicate and signature counts.
func settle(ctx context.Context, rcv *stack.Receiver, r *result, timeout time.Duration) {
	stack.WaitFor(ctx, timeout, func() bool { return rcv.Unique() >= r.Expected })
	r.Delivered = rcv.Unique()
	r.Lost = max(0, r.Expected-r.Delivered)
	r.Duplicates = rcv.Duplicates()
	r.BadSignatures = rcv.BadSignatures()
}

// drainTimeout allows a slow machine 50 deliveries a second (one ordering
// key's pace), and at least a minute.
func drainTimeout(deliveries int) time.Duration {
	return max(time.Minute, time.Duration(deliveries/50)*time.Second)
}

// throughput: n events from clients clients to fanout endpoints each, as fast
// as possible: deliveries a second from the first send to the last arrival,
// ingest rate and latency, and ingest → receipt latency.
func (b *bench) throughput(ctx context.Context, name string, n, clients, fanout int) (*result, error) {
	prefixes := make([]string, fanout)
	for i := range prefixes {
		prefixes[i] = "t"
	}
	return b.throughputTo(ctx, name, n, clients, prefixes...)
}

// throughputTo is throughput to one endpoint per prefix; deliveries to a
// hanging endpoint ("hang") are not expected, nor counted.
func (b *bench) throughputTo(ctx context.Context, name string, n, clients int, prefixes ...string) (*result, error) {
	b.rcv.Reset()
	org, err := b.stack.OrganizationWith(b.rcv, name, prefixes...)
	if err != nil {
		return nil, err
	}
	healthy := 0
	for _, p := range prefixes {
		if p != "hang" {
			healthy++
		}
	}
	r := &result{Case: name, Events: n, Expected: n * healthy}
	cpuBefore := proccpu.ByName()
	sumBefore, countBefore := groupSizes(b.stack.MetricURLs())
	in := b.stack.Burst(org, n, clients)
	settle(ctx, b.rcv, r, drainTimeout(r.Expected))
	cpuPerDelivery(r, cpuBefore)
	sum, count := groupSizes(b.stack.MetricURLs())
	for _, kind := range []string{"publish", "take", "record"} {
		if c := count[kind] - countBefore[kind]; c > 0 {
			r.set("mean_group_"+kind, (sum[kind]-sumBefore[kind])/c)
		}
	}
	if r.Delivered > 0 {
		r.set("put_backs_per_delivery", (sum["put_back_in_flight"]-sumBefore["put_back_in_flight"])/float64(r.Delivered))
	}
	lat, last := stack.EndToEnd(in, b.rcv)
	r.IngestErrors = in.Failures.Load()
	r.set("deliveries_per_s", float64(r.Delivered)/last.Sub(in.First).Seconds())
	ingestFigures(r, in)
	p50, p99 := stack.Percentiles(lat)
	r.set("e2e_p50_ms", ms(p50))
	r.set("e2e_p99_ms", ms(p99))
	return r, nil
}

// fairness: n events to nine healthy endpoints, and again to the same nine
// beside one that hangs until the delivery timeout: the healthy endpoints'
// delivery rate with the hanging one, as a share of their rate without it
// (ENDPOINT_MAX_IN_FLIGHT keeps the hanging one to its cap of the workers'
// slots). Hanging requests are let go afterwards.
func (b *bench) fairness(ctx context.Context, n, clients int) (*result, error) {
	healthy := []string{"f", "f", "f", "f", "f", "f", "f", "f", "f"}
	base, err := b.throughputTo(ctx, "fairness: nine healthy endpoints", n, clients, healthy...)
	if err != nil {
		return nil, err
	}
	defer b.rcv.Unhang()
	r, err := b.throughputTo(ctx, fmt.Sprintf("fairness: %d events to nine healthy endpoints and one hanging", n), n, clients, append(healthy, "hang")...)
	if err != nil {
		return nil, err
	}
	with, without := r.Figures["deliveries_per_s"], base.Figures["deliveries_per_s"]
	r.Figures = map[string]float64{"healthy_deliveries_per_s": with, "healthy_deliveries_per_s_alone": without}
	if without > 0 {
		r.set("healthy_rate_share", with/without)
	}
	r.Lost += base.Lost
	r.Duplicates += base.Duplicates
	r.BadSignatures += base.BadSignatures
	return r, nil
}

// steady: rate events a second for d to one endpoint: ingest → receipt latency.
func (b *bench) steady(ctx context.Context, name string, rate float64, d time.Duration) (*result, error) {
	b.rcv.Reset()
	org, err := b.stack.Organization(b.rcv, name, "s", 1)
	if err != nil {
		return nil, err
	}
	cpuBefore, start := proccpu.ByName(), time.Now()
	in := b.stack.Paced(ctx, org, rate, d)
	r := &result{Case: name, Events: len(in.Sent), Expected: len(in.Sent)}
	settle(ctx, b.rcv, r, drainTimeout(r.Expected))
	// The service's CPU over the whole case, in cores: what it costs to keep
	// up at this rate (at idle, what it costs to wait).
	r.set("cpu_cores", cpuPerDelivery(r, cpuBefore).Seconds()/time.Since(start).Seconds())
	r.IngestErrors = in.Failures.Load()
	lat, _ := stack.EndToEnd(in, b.rcv)
	p50, p99 := stack.Percentiles(lat)
	r.set("rate_per_s", rate)
	r.set("e2e_p50_ms", ms(p50))
	r.set("e2e_p99_ms", ms(p99))
	p50, p99 = stack.Percentiles(in.Latency)
	r.set("ingest_p50_ms", ms(p50))
	r.set("ingest_p99_ms", ms(p99))
	return r, nil
}

// wide: one event to endpoints endpoints: how long until every one has it.
func (b *bench) wide(ctx context.Context, endpoints int) (*result, error) {
	b.rcv.Reset()
	org, err := b.stack.Organization(b.rcv, "wide", "w", endpoints)
	if err != nil {
		return nil, err
	}
	r := &result{Case: fmt.Sprintf("one event to %d endpoints", endpoints), Events: 1, Expected: endpoints}
	in := b.stack.Burst(org, 1, 1)
	settle(ctx, b.rcv, r, drainTimeout(endpoints))
	_, last := stack.EndToEnd(in, b.rcv)
	r.IngestErrors = in.Failures.Load()
	r.set("all_received_ms", ms(last.Sub(in.First)))
	return r, nil
}

// ingestFigures notes the ingest's rate and its answers' latency.
func ingestFigures(r *result, in *stack.Ingest) {
	r.set("ingest_events_per_s", float64(len(in.Sent))/in.Last.Sub(in.First).Seconds())
	p50, p99 := stack.Percentiles(in.Latency)
	r.set("ingest_p50_ms", ms(p50))
	r.set("ingest_p99_ms", ms(p99))
}

// drain: queued deliveries with no worker running, then the workers start: the
// api's ingest alone, the drain rate and the workers' peak RSS.
func (b *bench) drain(ctx context.Context, queued, clients int) (*result, error) {
	b.rcv.Reset()
	b.stack.StopWorkers()
	org, err := b.stack.Organization(b.rcv, "drain", "d", 1)
	if err != nil {
		return nil, err
	}
	r := &result{Case: fmt.Sprintf("%d deliveries queued, then workers start", queued), Events: queued, Expected: queued}
	in := b.stack.Burst(org, queued, clients)
	r.IngestErrors = in.Failures.Load()
	ingestFigures(r, in) // the api alone: no delivery shares the cores
	start := time.Now()
	if err := b.stack.StartWorkers(b.opts.workers); err != nil {
		return nil, err
	}
	settle(ctx, b.rcv, r, drainTimeout(queued))
	_, last := stack.EndToEnd(in, b.rcv)
	r.set("drain_deliveries_per_s", float64(r.Delivered)/last.Sub(start).Seconds())
	r.set("worker_peak_rss_mb", float64(b.stack.StopWorkers())/(1<<20))
	return r, b.stack.StartWorkers(b.opts.workers)
}

// ordered: n events to one endpoint, spread over 100 leads (ordering keys),
// sent to it unordered, then ordered, then n events of one lead ordered: what
// ordering costs in deliveries a second and ingest → receipt latency. One
// key's deliveries go one at a time, so its rate is one attempt's round trip.
func (b *bench) ordered(ctx context.Context, n, clients int) (*result, error) {
	defer func() { b.stack.Keys = 0 }()
	runs := []struct {
		name, prefix string
		keys         int
	}{{"unordered", "t", 100}, {"ordered_100_keys", "t-ordered", 100}, {"ordered_1_key", "t-ordered", 1}}
	r := &result{Case: fmt.Sprintf("ordered: %d events to one endpoint, unordered and ordered over 100 keys and 1", n)}
	for _, run := range runs {
		b.stack.Keys = run.keys
		one, err := b.throughputTo(ctx, "ordered: "+run.name, n, clients, run.prefix)
		if err != nil {
			return nil, err
		}
		for _, f := range []string{"deliveries_per_s", "e2e_p50_ms", "e2e_p99_ms", "cpu_ms_per_delivery", "cpu_ms_per_delivery_postgres"} {
			r.set(run.name+"_"+f, one.Figures[f])
		}
		if inv := b.rcv.Inversions("/t-ordered"); inv > 0 {
			return nil, fmt.Errorf("%s: %d events arrived after a later event of their key", run.name, inv)
		}
		r.Events += one.Events
		r.Expected += one.Expected
		r.Delivered += one.Delivered
		r.Lost += one.Lost
		r.Duplicates += one.Duplicates
		r.BadSignatures += one.BadSignatures
		r.IngestErrors += one.IngestErrors
	}
	return r, nil
}
