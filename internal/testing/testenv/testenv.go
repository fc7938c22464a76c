// Package testenv gives each test its own Postgres database, migrated, and its own
// Redis database, on the services that `make test` starts (DATABASE_URL,
// REDIS_URL). Test packages run in parallel without seeing each other's data.
package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/empfio/webhooks/store"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// DatabaseURL is the server tests create their databases on.
func DatabaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis server tests use.
func RedisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// withDatabase returns base with its database name replaced.
func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// template returns a migrated database to copy test databases from. It is named
// for the migrations' content and kept between runs, so runs and parallel test
// binaries share one per schema version instead of leaving one each behind. It is
// built under a temporary name and renamed when complete: a template that exists
// is always whole.
func template() (string, error) {
	templateOnce.Do(func() {
		ctx := context.Background()
		templateName = "empfio_tmpl_" + store.SchemaVersion()
		exists, err := databaseExists(ctx, templateName)
		if templateErr = err; err != nil || exists {
			return
		}
		building := fmt.Sprintf("%s_building_%d", templateName, rand.Uint32())
		if templateErr = exec(ctx, "CREATE DATABASE "+building); templateErr != nil {
			return
		}
		defer exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
		db, err := store.Open(ctx, withDatabase(DatabaseURL(), building))
		if err != nil {
			templateErr = err
			return
		}
		_, templateErr = db.Migrate(ctx)
		db.Close()
		if templateErr != nil {
			return
		}
		if err := exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+templateName); err != nil {
			// Another test binary finished first; use its template.
			if exists, _ := databaseExists(ctx, templateName); !exists {
				templateErr = err
			}
		}
	})
	return templateName, templateErr
}

// databaseExists reports whether the server has a database called name.
func databaseExists(ctx context.Context, name string) (bool, error) {
	conn, err := connect(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	return exists, err
}

func connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w (run the tests with `make test`, which starts Postgres)", DatabaseURL(), err)
	}
	return conn, nil
}

func exec(ctx context.Context, sql string) error {
	conn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// NewDatabase creates an empty database for t and returns its URL; it is dropped
// when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("empfio_test_%d_%d", os.Getpid(), rand.Uint64())
	if err := exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return withDatabase(DatabaseURL(), name)
}

// DB returns a migrated database of t's own, copied from a template.
func DB(t testing.TB) (*store.DB, string) {
	t.Helper()
	tmpl, err := template()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("empfio_test_%d_%d", os.Getpid(), rand.Uint64())
	if err := exec(context.Background(), "CREATE DATABASE "+name+" TEMPLATE "+tmpl); err != nil {
		t.Fatal(err)
	}
	dsn := withDatabase(DatabaseURL(), name)
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return db, dsn
}

// redisDatabases are the Redis logical databases tests may claim; 0 holds the claims.
const redisDatabases = 15

// Redis returns a client on a Redis logical database claimed for t alone and
// emptied; asynq has no key prefix, so a database is the unit of isolation.
// The claim is released, and the database emptied, when t ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	claims := redis.NewClient(opt)
	defer claims.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		for n := 1; n <= redisDatabases; n++ {
			key := fmt.Sprintf("empfio:testenv:claim:%d", n)
			ok, err := claims.SetNX(ctx, key, os.Getpid(), 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("redis at %s: %v (run the tests with `make test`, which starts Redis)", RedisURL(), err)
			}
			if !ok {
				continue
			}
			o := *opt
			o.DB = n
			c := redis.NewClient(&o)
			c.FlushDB(ctx)
			t.Cleanup(func() {
				c.FlushDB(context.Background())
				c.Close()
				rc := redis.NewClient(opt)
				rc.Del(context.Background(), key)
				rc.Close()
			})
			u, _ := url.Parse(RedisURL())
			u.Path = fmt.Sprintf("/%d", n)
			return c, u.String()
		}
		if time.Now().After(deadline) {
			t.Fatal("no free Redis database for the test within 3 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Eventually polls cond every 20 ms until it holds or timeout passes, then fails t
// with msg. Tests wait for conditions this way, never by sleeping.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Must fails t at once when err is not nil: a query a test asserts on must not
// fail silently and read as "0 rows".
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
