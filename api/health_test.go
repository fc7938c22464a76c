package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/store"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestReadyz_OKWhenPostgresAndRedisAnswer(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	if r := a.Do(t, "GET", "/healthz", "", nil); r.Status != 200 {
		t.Fatalf("healthz %d", r.Status)
	}
	r := a.Do(t, "GET", "/readyz", "", nil)
	if r.Status != 200 || r.Map(t)["status"] != "ok" {
		t.Fatalf("readyz %d %s", r.Status, r.Body)
	}
}

// deadRedis returns a client for a port where nothing listens.
func deadRedis(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: freeAddr(t), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return c
}

// deadPostgres returns a store whose Postgres does not answer.
func deadPostgres(t *testing.T) *store.DB {
	db, err := store.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// serve runs an api server on cfg, with what cfg leaves out built on its DB and
// Redis, on a loopback port, and returns its base URL.
func serve(t *testing.T, cfg api.Config) string {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	if cfg.Queue == nil {
		cfg.Queue = jobs.NewQueue(cfg.Redis, "", time.Second)
	}
	if cfg.Publisher == nil {
		cfg.Publisher = &jobs.Publisher{DB: cfg.DB, Queue: cfg.Queue, Log: cfg.Log}
	}
	if cfg.Dedup == nil {
		cfg.Dedup = &jobs.Dedup{Redis: cfg.Redis, Window: time.Minute}
	}
	srv := api.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App.Listener(ln)
	t.Cleanup(func() { srv.App.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestReadyz_503NamesRedisWhenItIsDown(t *testing.T) {
	db, _ := testenv.DB(t)
	rdb := deadRedis(t)
	resp, err := http.Get(serve(t, api.Config{DB: db, Redis: rdb}) + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string
	}
	(&apptest.Response{Body: mustRead(t, resp)}).JSON(t, &body)
	if resp.StatusCode != 503 || body.Checks["redis"] != "unreachable" || body.Checks["postgres"] != "ok" {
		t.Fatalf("readyz with Redis down: %d %v", resp.StatusCode, body.Checks)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

// A Redis that takes connections and never answers (hung, or a black hole on
// the way): /readyz still answers within its second, through the pipelined
// client the processes use.
func TestReadyz_503WithinASecondWhenRedisHangs(t *testing.T) {
	db, _ := testenv.DB(t)
	silent := testenv.NewSilent(t)
	rdb, err := jobs.Pipelined(redis.NewClient(&redis.Options{Addr: silent.Addr,
		MaxRetries: jobs.PipelineMaxRetries, ReadTimeout: jobs.PipelineReadTimeout}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	url := serve(t, api.Config{DB: db, Redis: rdb}) + "/readyz"
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	var body struct{ Checks map[string]string }
	(&apptest.Response{Body: mustRead(t, resp)}).JSON(t, &body)
	if resp.StatusCode != 503 || body.Checks["redis"] != "unreachable" || body.Checks["postgres"] != "ok" {
		t.Fatalf("readyz with Redis hung: %d %v", resp.StatusCode, body.Checks)
	}
	if took > 3*time.Second {
		t.Fatalf("readyz with Redis hung took %s; its checks are bounded by a second", took)
	}
}

func TestReadyz_503NamesPostgresWhenItIsDown(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	resp, err := http.Get(serve(t, api.Config{DB: deadPostgres(t), Redis: rdb}) + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Checks map[string]string }
	(&apptest.Response{Body: mustRead(t, resp)}).JSON(t, &body)
	if resp.StatusCode != 503 || body.Checks["postgres"] != "unreachable" || body.Checks["redis"] != "ok" {
		t.Fatalf("readyz with Postgres down: %d %v", resp.StatusCode, body.Checks)
	}
}

func mustRead(t *testing.T, resp *http.Response) []byte {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Postgres that drops its connections (an administrator's shutdown, 57P01) and
// comes back read-only (a failover to a standby, 25006) is unavailable, not a bug:
// every request answers 503 with Retry-After, never 500.
func TestPostgres_ShutdownAndReadOnlyAre503(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "Failover")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var dbName string
	testenv.Must(t, a.DB.Pool().QueryRow(ctx, `SELECT current_database()`).Scan(&dbName))
	_, err = admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{dbName}.Sanitize()+` SET default_transaction_read_only = on`)
	testenv.Must(t, err)
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName)
	testenv.Must(t, err)

	writes := []func() *apptest.Response{
		func() *apptest.Response {
			return a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"l1","channel":"web"}`))
		},
		func() *apptest.Response {
			return a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": "http://127.0.0.1:1/x", "events": []string{"*"}})
		},
	}
	for round := range 3 { // the first requests meet the killed connections, later ones the read-only server
		for i, write := range writes {
			r := write()
			if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Fatalf("round %d, write %d: %d %s, want 503 with Retry-After", round, i, r.Status, r.Body)
			}
		}
	}
}
