package config

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// Probe asks the process listening on addr (an HTTP_ADDR or METRICS_ADDR, as
// ":8080" or "host:port") for path on loopback, and returns nil on a 200: the
// healthcheck of a container whose image has no shell and no curl
// (`api healthcheck`, `worker healthcheck`).
func Probe(addr, path string) error {
	if addr == "" {
		return fmt.Errorf("no address to probe")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + path)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", path, resp.StatusCode)
	}
	return nil
}
