package stack

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

// Ingest is one run of the load generator: what it sent and how the api answered.
type Ingest struct {
	Sent     []time.Time     // by event index: when its POST started
	Latency  []time.Duration // by event index: how long the api took to answer
	Status   []int           // by event index: the api's status code (0: no answer)
	Failures atomic.Int64    // answers other than 202
	First    time.Time
	Last     time.Time // when the last answer came
}

// agentBody is the inbound body of event i, as the agent sends it: lead
// "b<i>", or with keys, lead "k<i mod keys>" — its ordering key — and event i
// named by its channel_id "b<i>".
func agentBody(orgID string, i, keys int) []byte {
	if keys > 0 {
		return fmt.Appendf(nil, `{"type":"new_lead","organization_id":%q,"event_id":"bench-%s-%d","data":{"id":"k%d","channel_id":"b%d","channel":"whatsapp","name":"Jonas Weber","email":"jonas.weber@example.com"}}`,
			orgID, orgID[:8], i, i%keys, i)
	}
	return fmt.Appendf(nil, `{"type":"new_lead","organization_id":%q,"event_id":"bench-%s-%d","data":{"id":"b%d","channel":"whatsapp","name":"Jonas Weber","email":"jonas.weber@example.com"}}`,
		orgID, orgID[:8], i, i)
}

// Post sends event i and notes its timings.
func (s *Stack) Post(in *Ingest, orgID string, i int) {
	req, _ := http.NewRequest("POST", s.APIURL+"/api/v1/webhooks/agent-event", bytes.NewReader(agentBody(orgID, i, s.Keys)))
	req.Header.Set("Authorization", "Bearer "+InternalToken)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	in.Sent[i] = start
	resp, err := s.client.Do(req)
	in.Latency[i] = time.Since(start)
	if err != nil {
		in.Failures.Add(1)
		return
	}
	in.Status[i] = resp.StatusCode
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		in.Failures.Add(1)
	}
}

// Burst sends n events from clients concurrent clients as fast as the api
// answers.
func (s *Stack) Burst(orgID string, n, clients int) *Ingest {
	in := &Ingest{Sent: make([]time.Time, n), Latency: make([]time.Duration, n), Status: make([]int, n), First: time.Now()}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s.Post(in, orgID, i)
			}
		})
	}
	wg.Wait()
	in.Last = time.Now()
	return in
}

// Paced sends rate events a second for d, each on its own goroutine, so a slow
// answer never delays the next send.
func (s *Stack) Paced(ctx context.Context, orgID string, rate float64, d time.Duration) *Ingest {
	n := int(rate * d.Seconds())
	in := &Ingest{Sent: make([]time.Time, n), Latency: make([]time.Duration, n), Status: make([]int, n), First: time.Now()}
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
		wg.Go(func() { s.Post(in, orgID, i) })
	}
	wg.Wait()
	in.Last = time.Now()
	return in
}

// Percentiles returns p50 and p99 of ds.
func Percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99)
}

// EndToEnd returns, for every delivery that arrived, the time from the start of
// its event's POST to its arrival, and the time of the last arrival.
func EndToEnd(in *Ingest, rcv *Receiver) (lat []time.Duration, last time.Time) {
	for i, ts := range rcv.Arrivals() {
		if i < 0 || i >= len(in.Sent) {
			continue
		}
		for _, t := range ts {
			lat = append(lat, t.Sub(in.Sent[i]))
			if t.After(last) {
				last = t
			}
		}
	}
	return lat, last
}
