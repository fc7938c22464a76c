//go:build faults

package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/redis/go-redis/v9"
)

// The fault suite starts Postgres and Redis of its own, on private ports, so
// that it may kill and restart them; it ends them (by PID) when a test ends.

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisServer is a private redis-server without persistence.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	r := &redisServer{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", r.dir, "--maxmemory-policy", "noeviction")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	testenv.Eventually(r.t, 10*time.Second, "redis answers", func() bool {
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	})
}

func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
}

// pgServer is a private PostgreSQL cluster (initdb), run by the postgres user
// when we are root.
type pgServer struct {
	t    *testing.T
	bin  string
	data string
	port int
	as   []string // runuser -u postgres --, when root
}

func startPostgres(t *testing.T) *pgServer {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins)
	if len(bins) == 0 {
		t.Fatal("no initdb: install Debian's postgresql (make test's services.sh does)")
	}
	p := &pgServer{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	dir, err := os.MkdirTemp("", "empfio-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.data = filepath.Join(dir, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal("running as root needs a postgres user to run Postgres")
		}
		uid, _ := strconv.Atoi(u.Uid)
		os.Chmod(dir, 0o755)
		os.MkdirAll(p.data, 0o700)
		os.Chown(p.data, uid, -1)
		p.as = []string{"runuser", "-u", "postgres", "--"}
	}
	p.run(filepath.Join(p.bin, "initdb"), "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	p.ctl("start", "-w")
	t.Cleanup(func() { p.ctl("stop", "-m", "immediate") })
	return p
}

func (p *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *pgServer) run(name string, args ...string) {
	cmd := exec.Command(append(p.as, name)[0], append(append(p.as, name)[1:], args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// ctl runs pg_ctl with the cluster's options (fsync off: the suite tests
// restarts, not the disk).
func (p *pgServer) ctl(action string, args ...string) {
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c fsync=off -c max_connections=200", p.port)
	p.run(filepath.Join(p.bin, "pg_ctl"), append([]string{action, "-D", p.data, "-l", filepath.Join(p.data, "log"), "-o", opts}, args...)...)
}
