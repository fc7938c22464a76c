package apptest

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Every line every app of a test binary logs, at every level, is kept here, and
// every credential the helpers make or use is remembered, so that a package's
// TestMain can check, after all its tests, that none was ever logged.
var (
	allLogs     LogBuffer
	appsStarted atomic.Int64 // apps Start made: a fuzz run makes none, and has no lines to check
	credsMu     sync.Mutex
	credentials = []string{AdminToken, InternalToken, CalcomSecret}
)

// Remember adds a token, key or secret to the ones CheckLogs looks for.
func Remember(credential string) {
	if credential == "" {
		return
	}
	credsMu.Lock()
	defer credsMu.Unlock()
	credentials = append(credentials, credential)
}

// allLevels is the handler that keeps every line, debug included.
func allLevels() slog.Handler {
	return slog.NewTextHandler(&allLogs, &slog.HandlerOptions{Level: slog.LevelDebug})
}

// CheckLogs returns an error naming the first credential found in any line the
// test binary's apps logged, and how many lines it read.
func CheckLogs() (int, error) {
	logs := allLogs.String()
	credsMu.Lock()
	defer credsMu.Unlock()
	for _, c := range credentials {
		if strings.Contains(logs, c) {
			return 0, fmt.Errorf("a credential (%.8s…) appears in the logs", c)
		}
	}
	return strings.Count(logs, "\n"), nil
}

// Main runs a test package that starts apps (call it from TestMain), then reads
// every line their apps logged, at every level, for any token, key or secret the
// tests used: none may appear.
func Main(m *testing.M) {
	code := m.Run()
	if appsStarted.Load() == 0 {
		os.Exit(code) // no app ran (a fuzz run): nothing was logged to check
	}
	lines, err := CheckLogs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "log check:", err)
		code = 1
	} else {
		fmt.Fprintf(os.Stderr, "log check: %d lines read, no credential among them\n", lines)
	}
	os.Exit(code)
}
