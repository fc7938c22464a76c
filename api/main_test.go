package api_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/empfio/webhooks/internal/apptest"
)

// TestMain runs the package's tests, then reads every line their apps logged, at
// every level, for any token, key or secret the tests used: none may appear.
func TestMain(m *testing.M) {
	code := m.Run()
	lines, err := apptest.CheckLogs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "log check:", err)
		code = 1
	} else {
		fmt.Fprintf(os.Stderr, "log check: %d lines read, no credential among them\n", lines)
	}
	os.Exit(code)
}
