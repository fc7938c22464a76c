package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tokens of the benchmark's own stack.
const (
	adminToken    = "bench-admin-token"
	internalToken = "bench-internal-token"
)

// stack is the whole service on this machine: the api and N worker processes,
// built from this checkout, on a database and a Redis database of their own.
type stack struct {
	opts    options
	bin     string
	dbURL   string
	dbName  string
	redis   string
	apiURL  string
	api     *exec.Cmd
	workers []*exec.Cmd
	metrics []string // the workers' /metrics URLs
	client  *http.Client
}

func newStack(ctx context.Context, o options) (*stack, error) {
	s := &stack{opts: o, bin: filepath.Join(o.out, "bin"), client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}}}
	if err := s.build(); err != nil {
		return nil, err
	}
	if err := s.database(ctx); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	u.Path = "/" + strconv.Itoa(o.redisDB)
	s.redis = u.String()
	return s, nil
}

func (s *stack) build() error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "build", "-o", s.bin+"/", "./cmd/api", "./cmd/worker")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// database creates a fresh database for this run; close drops it.
func (s *stack) database(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.opts.databaseURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w (run `make services` first)", s.opts.databaseURL, err)
	}
	defer conn.Close(ctx)
	s.dbName = fmt.Sprintf("empfio_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+s.dbName); err != nil {
		return err
	}
	u, _ := url.Parse(s.opts.databaseURL)
	u.Path = "/" + s.dbName
	s.dbURL = u.String()
	return nil
}

func (s *stack) env(extra ...string) []string {
	return append(os.Environ(), append([]string{
		"DATABASE_URL=" + s.dbURL, "REDIS_URL=" + s.redis, "ADMIN_TOKEN=" + adminToken,
		"INTERNAL_AUTH_TOKEN=" + internalToken, "ALLOW_INSECURE_TARGETS=true", "LOG_LEVEL=warn",
		"RATE_LIMIT_PER_SECOND=1000000", "RATE_LIMIT_BURST=1000000",
		"WORKER_CONCURRENCY=" + strconv.Itoa(s.opts.concurrency),
	}, extra...)...)
}

// profileEnv asks a process for a CPU profile and a trace when the options do.
func (s *stack) profileEnv(name string) []string {
	var env []string
	if s.opts.cpuprofile {
		env = append(env, "EMPFIO_CPUPROFILE="+filepath.Join(s.opts.out, name+".cpu.pprof"))
	}
	if s.opts.trace {
		env = append(env, "EMPFIO_TRACE="+filepath.Join(s.opts.out, name+".trace"))
	}
	return env
}

func (s *stack) startAPI(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s.api = exec.Command(filepath.Join(s.bin, "api"))
	s.api.Env = s.env(append([]string{"HTTP_ADDR=" + addr}, s.profileEnv("api")...)...)
	s.api.Stderr = os.Stderr
	if err := s.api.Start(); err != nil {
		return err
	}
	s.apiURL = "http://" + addr
	return waitFor(ctx, 60*time.Second, func() bool {
		resp, err := http.Get(s.apiURL + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

// startWorkers starts n worker processes.
func (s *stack) startWorkers(n int) error {
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		w := exec.Command(filepath.Join(s.bin, "worker"))
		w.Env = s.env(append(s.profileEnv(fmt.Sprintf("worker%d", len(s.workers)+i)), "WORKER_METRICS_ADDR="+addr)...)
		s.metrics = append(s.metrics, "http://"+addr+"/metrics")
		w.Stderr = os.Stderr
		if err := w.Start(); err != nil {
			return err
		}
		s.workers = append(s.workers, w)
	}
	return nil
}

// stopWorkers ends the workers gracefully and returns their peak RSS in bytes.
func (s *stack) stopWorkers() (peak int64) {
	for _, w := range s.workers {
		peak = max(peak, peakRSS(w.Process.Pid))
		w.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range s.workers {
		w.Wait()
	}
	s.workers, s.metrics = nil, nil
	return peak
}

// peakRSS reads a process's high-water resident set (VmHWM) from /proc.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// close stops every process and drops the run's database.
func (s *stack) close(ctx context.Context) {
	s.stopWorkers()
	if s.api != nil {
		s.api.Process.Signal(syscall.SIGTERM)
		s.api.Wait()
	}
	if s.dbName != "" {
		if conn, err := pgx.Connect(ctx, s.opts.databaseURL); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+s.dbName+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
}

// call sends a JSON request to the api and decodes the answer into out.
func (s *stack) call(method, path, token string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.apiURL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// organization creates an organization with fanout endpoints on rcv (under
// prefix) and returns its id.
func (s *stack) organization(rcv *receiver, name, prefix string, fanout int) (string, error) {
	var org struct {
		Organization struct{ ID string }  `json:"organization"`
		APIKey       struct{ Key string } `json:"api_key"`
	}
	if err := s.call("POST", "/api/v1/organizations", adminToken, map[string]string{"name": name}, &org); err != nil {
		return "", err
	}
	for i := range fanout {
		path := fmt.Sprintf("/%s/%s/%d", prefix, org.Organization.ID[:8], i)
		var hook struct{ Secret string }
		if err := s.call("POST", "/api/v1/webhooks", org.APIKey.Key, map[string]any{"url": rcv.url + path, "events": []string{"lead.created"}}, &hook); err != nil {
			return "", err
		}
		rcv.expect(path, hook.Secret)
	}
	return org.Organization.ID, nil
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// metricURLs are the Prometheus endpoints of every process of the stack.
func (s *stack) metricURLs() []string { return append([]string{s.apiURL + "/metrics"}, s.metrics...) }
