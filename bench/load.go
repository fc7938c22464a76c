package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ingest is one run of the load generator: what it sent and how the api answered.
type ingest struct {
	sent     []time.Time     // by event index: when its POST started
	latency  []time.Duration // by event index: how long the api took to answer
	failures atomic.Int64    // answers other than 202
	first    time.Time
	last     time.Time // when the last answer came
}

// agentBody is the inbound body of event i, as the agent sends it.
func agentBody(orgID string, i int) []byte {
	return fmt.Appendf(nil, `{"type":"new_lead","organization_id":%q,"event_id":"bench-%s-%d","data":{"id":"b%d","channel":"whatsapp","name":"Jonas Weber","email":"jonas.weber@example.com"}}`,
		orgID, orgID[:8], i, i)
}

// post sends event i and notes its timings.
func (s *stack) post(in *ingest, orgID string, i int) {
	req, _ := http.NewRequest("POST", s.apiURL+"/api/v1/webhooks/agent-event", bytes.NewReader(agentBody(orgID, i)))
	req.Header.Set("Authorization", "Bearer "+internalToken)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	in.sent[i] = start
	resp, err := s.client.Do(req)
	in.latency[i] = time.Since(start)
	if err != nil {
		in.failures.Add(1)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		in.failures.Add(1)
	}
}

// burst sends n events from clients concurrent clients as fast as the api
// answers.
func (s *stack) burst(orgID string, n, clients int) *ingest {
	in := &ingest{sent: make([]time.Time, n), latency: make([]time.Duration, n), first: time.Now()}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s.post(in, orgID, i)
			}
		})
	}
	wg.Wait()
	in.last = time.Now()
	return in
}

// paced sends rate events a second for d, each on its own goroutine, so a slow
// answer never delays the next send.
func (s *stack) paced(ctx context.Context, orgID string, rate float64, d time.Duration) *ingest {
	n := int(rate * d.Seconds())
	in := &ingest{sent: make([]time.Time, n), latency: make([]time.Duration, n), first: time.Now()}
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return in
			case <-time.After(wait):
			}
		}
		wg.Go(func() { s.post(in, orgID, i) })
	}
	wg.Wait()
	in.last = time.Now()
	return in
}

// percentiles returns p50 and p99 of ds.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99)
}

// endToEnd returns, for every delivery that arrived, the time from the start of
// its event's POST to its arrival, and the time of the last arrival.
func endToEnd(in *ingest, rcv *receiver) (lat []time.Duration, last time.Time) {
	for i, ts := range rcv.arrivals() {
		if i < 0 || i >= len(in.sent) {
			continue
		}
		for _, t := range ts {
			lat = append(lat, t.Sub(in.sent[i]))
			if t.After(last) {
				last = t
			}
		}
	}
	return lat, last
}
