// Package store implements Empfio's persistence on Postgres with pgx.
//
// Errors: a pgx.ErrNoRows becomes ENOTFOUND; a failure to reach Postgres, and every
// state of a database that is unavailable or recovering (see unavailableState),
// becomes EUNAVAILABLE, which the API answers with 503.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/group"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultMaxConns sizes the pool unless DATABASE_URL sets pool_max_conns.
const defaultMaxConns = 32

// DB is the Postgres store. It is safe for concurrent use.
type DB struct {
	pool      *pgxpool.Pool
	read      *pgxpool.Pool                                // the delivery log's and events' reads: a replica, or pool
	publisher *group.Committer[*webhooks.Event, published] // groups of Publish
	takes     *group.Committer[takeRequest, *Taken]        // groups of Take
	recorder  *group.Committer[recordRequest, int]         // groups of RecordAttempt
	keys      *Keyring                                     // nil: secrets stored in clear
}

// Open connects a pool to url; it does not wait for Postgres to answer. A
// tracer, when given (telemetry.PgxTracer), sees every query.
func Open(ctx context.Context, url string, tracer ...pgx.QueryTracer) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if len(tracer) > 0 && tracer[0] != nil {
		cfg.ConnConfig.Tracer = tracer[0]
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	// Every statement of the service finds its rows through an index. A fresh or
	// fast-growing table that autovacuum has not analyzed yet looks tiny to the
	// planner, which then caches plans that scan it whole for each of a group's
	// rows; refusing sequential scans keeps the index plans whatever the
	// statistics say.
	cfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	// No statement is compiled. Refusing sequential scans prices one that
	// cannot be avoided (the sweeper's look at every endpoint's circuit, a
	// small table) at 10^10, far over jit_above_cost: Postgres compiled and
	// optimised such a statement with LLVM at every run — 84 ms for an empty
	// table, every sweep — and no statement of the service is long enough
	// for compiling to pay (bench/RESULTS.md, "Planned once").
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	// Every statement runs on its generic plan, made once per connection.
	// The hot path's statements take their rows as arrays, so a custom plan
	// knows only how long the arrays are, and plans over every day partition
	// of deliveries and events: 1–2 ms, several times what the take or the record
	// costs to run. Postgres's plan cache keeps choosing custom plans while
	// groups are small, so below full load — at 500 events/s, at idle — it
	// planned a take or a record again for every other group
	// (bench/RESULTS.md, "Planned once"). A generic plan still prunes the
	// partitions a parameter rules out, as the executor starts.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on small machines) starves a worker running dozens
		// of deliveries, each needing two short queries.
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db := &DB{pool: pool, read: pool}
	db.publisher = newCommitter("publish", db.publishGroup)
	db.takes = newCommitter("take", db.takeGroup)
	db.recorder = newCommitter("record", db.recordGroup)
	return db, nil
}

// ReadFrom sends the delivery log's and the events' reads to the Postgres at
// url (DATABASE_READ_URL: a streaming replica); everything else stays on the
// primary. A replica lags: what was just written may show a moment later.
func (db *DB) ReadFrom(ctx context.Context, url string) error {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse read database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	db.read = pool
	return nil
}

// Close answers the writes in flight, then closes every connection.
func (db *DB) Close() {
	db.publisher.Close()
	db.takes.Close()
	db.recorder.Close()
	if db.read != db.pool {
		db.read.Close()
	}
	db.pool.Close()
}

// Pool returns the underlying pool, for tests and tools.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that Postgres answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return webhooks.Unavailable("Postgres", err)
	}
	return nil
}

// wrap turns driver errors into application errors; notFound names what was missing.
func wrap(err error, notFound string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return webhooks.Errorf(webhooks.ENOTFOUND, "%s not found.", notFound)
	}
	var pgErr *pgconn.PgError
	var appErr *webhooks.Error
	switch {
	case errors.As(err, &appErr):
		return err
	case errors.As(err, &pgErr) && unavailableState(pgErr.Code):
		return webhooks.Unavailable("Postgres", err)
	case errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22"):
		// Class 22, data exception: Postgres refused a value the client sent (a NUL
		// character in text, say). Bad input, not a bug.
		return &webhooks.Error{Code: webhooks.EINVALID, Message: "A value in the request cannot be stored (text may not contain NUL characters).", Err: err}
	case errors.As(err, &pgErr):
		return err // a bug or a constraint: the caller decides, else 500
	case errors.Is(err, context.Canceled):
		return err
	default:
		return webhooks.Unavailable("Postgres", err)
	}
}

// unavailableState reports whether SQLSTATE code means the database cannot serve
// the request now but may soon: a lost connection (class 08), a server starting,
// stopping or restarting (57P01 admin shutdown, 57P02 crash shutdown, 57P03
// cannot connect now, and the rest of 57P), out of resources (class 53: too many
// connections, disk full), a system error (class 58), a read-only server after a
// failover (25006), a statement cancelled by its timeout (57014), or a conflict
// the client may retry (40001 serialization, 40P01 deadlock).
func unavailableState(code string) bool {
	switch code {
	case "25006", "57014", "40001", "40P01":
		return true
	}
	for _, class := range []string{"08", "53", "57P", "58"} {
		if strings.HasPrefix(code, class) {
			return true
		}
	}
	return false
}

// violates reports whether err is a violation of the foreign key constraint.
func violates(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == constraint
}
