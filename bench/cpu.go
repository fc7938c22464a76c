package main

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// harnessName is this process's command name, as cpuByProcess keys it (the
// kernel keeps its first 15 bytes).
var harnessName = func() string {
	b, _ := os.ReadFile("/proc/self/comm")
	return strings.TrimSpace(string(b))
}()

// cpuSpent returns what each of the named processes spent between two samples.
func cpuSpent(before, after map[string]time.Duration, names ...string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, n := range names {
		out[n] = max(0, after[n]-before[n])
	}
	return out
}

// groupSizes scrapes the mean group size of each kind (publish, take, record)
// from the Prometheus endpoints of the api and the workers: how much the group
// commit shares. It returns the sums and counts, to subtract between samples.
func groupSizes(urls []string) (sum, count map[string]float64) {
	sum, count = map[string]float64{}, map[string]float64{}
	for _, u := range urls {
		resp, err := http.Get(u)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, `empfio_deliveries_put_back_total{reason="`); ok {
				reason, value, _ := strings.Cut(rest, `"} `)
				v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
				sum["put_back_"+reason] += v
			}
			for suffix, into := range map[string]map[string]float64{"_sum": sum, "_count": count} {
				prefix := "empfio_store_group_size" + suffix + `{kind="`
				rest, ok := strings.CutPrefix(line, prefix)
				if !ok {
					continue
				}
				kind, value, _ := strings.Cut(rest, `"} `)
				v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
				into[kind] += v
			}
		}
	}
	return sum, count
}
