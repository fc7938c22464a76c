package stack

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

// Tokens of the stack's processes.
const (
	AdminToken    = "bench-admin-token"
	InternalToken = "bench-internal-token"
)

// Config describes a Stack.
type Config struct {
	DatabaseURL string    // a server to create the run's database on
	RedisURL    string    // the Redis (database) of the run; emptied by nobody here
	Concurrency int       // WORKER_CONCURRENCY
	Out         string    // where binaries, profiles and traces go
	CPUProfile  bool      // a CPU profile of each process in Out
	Trace       bool      // an execution trace of each process in Out
	Env         []string  // more environment for every process
	Logs        io.Writer // where the processes log; nil: stderr
	Source      string    // the checkout the api and workers are built from; "": this one
}

// Stack is the whole service on this machine: the api and N worker processes,
// built from this checkout, on a database of their own. The benchmark and the
// fault suite drive it through the public HTTP API.
type Stack struct {
	cfg     Config
	bin     string
	dbURL   string
	dbName  string
	APIURL  string
	API     *exec.Cmd
	Workers []*exec.Cmd
	metrics []string // the workers' /metrics URLs
	client  *http.Client
	// Credentials are every token, key and secret the stack was given or
	// made, for checks that none of them is ever logged.
	Credentials []string
	// Keys, when set, spreads the events sent over that many leads — and so
	// ordering keys (agentBody) — instead of one lead each.
	Keys int
}

// New builds the binaries and creates the run's database; Close drops it.
func New(ctx context.Context, cfg Config) (*Stack, error) {
	s := &Stack{cfg: cfg, bin: filepath.Join(cfg.Out, "bin"), client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}},
		Credentials: []string{AdminToken, InternalToken}}
	if err := s.build(); err != nil {
		return nil, err
	}
	if err := s.database(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) build() error {
	root := s.cfg.Source
	if root == "" {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("go env GOMOD: %w", err)
		}
		root = filepath.Dir(strings.TrimSpace(string(gomod)))
	}
	bin, err := filepath.Abs(s.bin)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", bin+"/", "./cmd/api", "./cmd/worker")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// database creates a fresh database for this run; close drops it.
func (s *Stack) database(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w (run `make services` first)", s.cfg.DatabaseURL, err)
	}
	defer conn.Close(ctx)
	s.dbName = fmt.Sprintf("empfio_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+s.dbName); err != nil {
		return err
	}
	u, _ := url.Parse(s.cfg.DatabaseURL)
	u.Path = "/" + s.dbName
	s.dbURL = u.String()
	return nil
}

func (s *Stack) env(extra ...string) []string {
	extra = append(append([]string(nil), s.cfg.Env...), extra...)
	return append(os.Environ(), append([]string{
		"DATABASE_URL=" + s.dbURL, "REDIS_URL=" + s.cfg.RedisURL, "ADMIN_TOKEN=" + AdminToken,
		"INTERNAL_AUTH_TOKEN=" + InternalToken, "ALLOW_INSECURE_TARGETS=true", "LOG_LEVEL=warn",
		"RATE_LIMIT_PER_SECOND=1000000", "RATE_LIMIT_BURST=1000000",
		"WORKER_CONCURRENCY=" + strconv.Itoa(s.cfg.Concurrency),
	}, extra...)...)
}

func (s *Stack) logs() io.Writer {
	if s.cfg.Logs != nil {
		return s.cfg.Logs
	}
	return os.Stderr
}

// profileEnv asks a process for a CPU profile and a trace when the options do.
func (s *Stack) profileEnv(name string) []string {
	var env []string
	if s.cfg.CPUProfile {
		env = append(env, "EMPFIO_CPUPROFILE="+filepath.Join(s.cfg.Out, name+".cpu.pprof"))
	}
	if s.cfg.Trace {
		env = append(env, "EMPFIO_TRACE="+filepath.Join(s.cfg.Out, name+".trace"))
	}
	return env
}

func (s *Stack) StartAPI(ctx context.Context) error {
	addr, err := FreeAddr()
	if err != nil {
		return err
	}
	s.API = exec.Command(filepath.Join(s.bin, "api"))
	s.API.Env = s.env(append([]string{"HTTP_ADDR=" + addr}, s.profileEnv("api")...)...)
	s.API.Stderr = s.logs()
	if err := s.API.Start(); err != nil {
		return err
	}
	s.APIURL = "http://" + addr
	return WaitFor(ctx, 60*time.Second, func() bool {
		resp, err := http.Get(s.APIURL + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

// StartWorkers starts n worker processes.
func (s *Stack) StartWorkers(n int) error {
	for i := range n {
		addr, err := FreeAddr()
		if err != nil {
			return err
		}
		w := exec.Command(filepath.Join(s.bin, "worker"))
		w.Env = s.env(append(s.profileEnv(fmt.Sprintf("worker%d", len(s.Workers)+i)), "METRICS_ADDR="+addr)...)
		s.metrics = append(s.metrics, "http://"+addr+"/metrics")
		w.Stderr = s.logs()
		if err := w.Start(); err != nil {
			return err
		}
		s.Workers = append(s.Workers, w)
	}
	return nil
}

// StopWorkers ends the workers gracefully and returns their peak RSS in bytes.
func (s *Stack) StopWorkers() (peak int64) {
	for _, w := range s.Workers {
		peak = max(peak, peakRSS(w.Process.Pid))
		w.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range s.Workers {
		w.Wait()
	}
	s.Workers, s.metrics = nil, nil
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

// Close stops every process and drops the run's database.
func (s *Stack) Close(ctx context.Context) {
	s.StopWorkers()
	if s.API != nil {
		s.API.Process.Signal(syscall.SIGTERM)
		s.API.Wait()
	}
	if s.dbName != "" {
		if conn, err := pgx.Connect(ctx, s.cfg.DatabaseURL); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+s.dbName+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
}

// Call sends a JSON request to the api and decodes the answer into out.
func (s *Stack) Call(method, path, token string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.APIURL+path, r)
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

// Organization creates an organization with fanout endpoints on rcv (under
// prefix) and returns its id.
func (s *Stack) Organization(rcv *Receiver, name, prefix string, fanout int) (string, error) {
	prefixes := make([]string, fanout)
	for i := range prefixes {
		prefixes[i] = prefix
	}
	return s.OrganizationWith(rcv, name, prefixes...)
}

// OrganizationWith is Organization with one endpoint per prefix, at
// /<prefix>/<org>/<i> of rcv (a prefix "hang" makes a receiver that hangs, one
// beginning with "slow" a slow one, one ending in "-ordered" an endpoint with
// ordered on).
func (s *Stack) OrganizationWith(rcv *Receiver, name string, prefixes ...string) (string, error) {
	var org struct {
		Organization struct{ ID string }  `json:"organization"`
		APIKey       struct{ Key string } `json:"api_key"`
	}
	if err := s.Call("POST", "/api/v1/organizations", AdminToken, map[string]string{"name": name}, &org); err != nil {
		return "", err
	}
	s.Credentials = append(s.Credentials, org.APIKey.Key)
	for i, prefix := range prefixes {
		path := fmt.Sprintf("/%s/%s/%d", prefix, org.Organization.ID[:8], i)
		var hook struct{ Secret string }
		if err := s.Call("POST", "/api/v1/webhooks", org.APIKey.Key, map[string]any{"url": rcv.URL + path, "events": []string{"lead.created"},
			"ordered": strings.HasSuffix(prefix, "-ordered")}, &hook); err != nil {
			return "", err
		}
		rcv.Expect(path, hook.Secret)
		s.Credentials = append(s.Credentials, hook.Secret)
	}
	return org.Organization.ID, nil
}

// WaitFor polls cond every 20 ms until it holds, timeout passes or ctx ends.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
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

// FreeAddr returns a loopback address with a port nothing listens on.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// MetricURLs are the Prometheus endpoints of every process of the stack.
func (s *Stack) MetricURLs() []string { return append([]string{s.APIURL + "/metrics"}, s.metrics...) }
