// Package proccpu reads the CPU time the machine's processes have spent, by
// command name, from /proc: what a benchmark cost Postgres or Redis, which
// run outside the process that measures.
package proccpu

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ).
const clockTick = 10 * time.Millisecond

// ByName sums the CPU time (user + system) of every process on the machine
// by command name: where a case's CPU went (postgres, redis-server, api, worker,
// bench). Processes that ended during the case are missed; the service's are
// long-lived.
func ByName() map[string]time.Duration {
	out := map[string]time.Duration{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		if name, cpu, ok := read(path); ok {
			out[name] += cpu
		}
	}
	return out
}

// OfPID returns the CPU time process pid has spent; 0 when it is gone.
func OfPID(pid int) time.Duration {
	_, cpu, _ := read(fmt.Sprintf("/proc/%d/stat", pid))
	return cpu
}

// read parses a /proc/PID/stat: the command name and the CPU time spent.
func read(path string) (name string, cpu time.Duration, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return "", 0, false
	}
	fields := strings.Fields(s[close+1:])
	if len(fields) < 13 {
		return "", 0, false
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return s[open+1 : close], time.Duration(utime+stime) * clockTick, true
}
