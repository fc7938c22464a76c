// Package profile lets a process record a CPU profile and an execution trace of
// its whole life, for the benchmark (make bench -cpuprofile / -trace): set
// EMPFIO_CPUPROFILE and EMPFIO_TRACE to file paths; the files are complete once
// the process has shut down gracefully.
package profile

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// Start begins what the environment asks for and returns the function that
// finishes it; with neither variable set it does nothing.
func Start() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	if path := os.Getenv("EMPFIO_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return stop, fmt.Errorf("EMPFIO_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("EMPFIO_CPUPROFILE: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if path := os.Getenv("EMPFIO_TRACE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return stop, fmt.Errorf("EMPFIO_TRACE: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("EMPFIO_TRACE: %w", err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}
