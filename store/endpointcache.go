package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// EndpointCache keeps the endpoints a worker delivers to in its memory, so that
// a delivery's first attempt reads nothing from Postgres (see jobs.Deliverer).
//
// Guarantee: an endpoint it hands out is never older than the version asked for
// (a delivery asks for its endpoint as it was when the delivery was published),
// and is the one committed in Postgres but for a change committed in the last
// moments, the time its notification takes to arrive. Every change of an
// endpoint, by any statement, counts its version up, and every change or
// deletion notifies the workers (migration 00008): the cache drops its copy
// when the notification arrives. It keeps copies only while it listens: before
// Run listens, and from the moment its connection fails until it listens
// again, every call reads Postgres.
type EndpointCache struct {
	db  *DB
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]cachedEndpoint
	live    bool   // listening: entries are current
	gen     uint64 // counts what made entries stale; a read from before is not kept
}

type cachedEndpoint struct {
	e       *webhooks.Endpoint
	version int64
}

const (
	// endpointsChannel is where every change of an endpoint is notified.
	endpointsChannel = "empfio_endpoint_changed"
	// maxCachedEndpoints bounds the cache: when it is full it starts again
	// empty. An entry is a few hundred bytes.
	maxCachedEndpoints = 10_000
	// listenRetry is the wait before listening again after the connection
	// failed; listenCheck how long the listener waits for a notification before
	// it checks that its connection still answers (a connection cut without a
	// word would otherwise stay silent, and the cache stale, for minutes).
	listenRetry = time.Second
	listenCheck = 30 * time.Second
	pingTimeout = 5 * time.Second
)

var (
	endpointCacheTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "empfio_endpoint_cache_total",
		Help: "Endpoint lookups of first attempts, by result: hit (from memory) or miss (read from Postgres).",
	}, []string{"result"})
	endpointCacheHits   = endpointCacheTotal.WithLabelValues("hit")
	endpointCacheMisses = endpointCacheTotal.WithLabelValues("miss")
)

// NewEndpointCache returns an empty cache of db's endpoints; Run makes it keep
// what it reads.
func (db *DB) NewEndpointCache(log *slog.Logger) *EndpointCache {
	return &EndpointCache{db: db, log: log, entries: map[string]cachedEndpoint{}}
}

// Endpoint returns endpoint id at version or later, its secrets opened, from
// memory or else from Postgres. Returns ENOTFOUND if it does not exist. What it
// points to is shared: the caller copies what it changes.
func (c *EndpointCache) Endpoint(ctx context.Context, id string, version int64) (*webhooks.Endpoint, error) {
	c.mu.Lock()
	got, ok := c.entries[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && got.version >= version {
		endpointCacheHits.Inc()
		return got.e, nil
	}
	endpointCacheMisses.Inc()
	got, err := c.db.endpoints.Do(ctx, id)
	if err != nil {
		return nil, wrap(err, "")
	}
	if got.e == nil {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Endpoint not found.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && c.gen == gen { // nothing changed since the read began
		if len(c.entries) >= maxCachedEndpoints {
			clear(c.entries)
		}
		c.entries[id] = got
	}
	return got.e, nil
}

// loadEndpoints reads the endpoints of ids, with their versions, in one
// statement (a fan-out to many endpoints misses for each of them at once);
// nil where one is gone.
func (db *DB) loadEndpoints(ctx context.Context, ids []string) ([]cachedEndpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+endpointColumns+`, version FROM endpoints WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cachedEndpoint, error) {
		var c cachedEndpoint
		var err error
		c.e, err = db.scanEndpoint(row, &c.version)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	return inOrder(ids, found, func(c cachedEndpoint) string { return c.e.ID }), nil
}

// Run keeps the cache while it listens for changes, until ctx is done; after a
// failure it logs, empties the cache and listens again.
func (c *EndpointCache) Run(ctx context.Context) {
	for {
		err := c.listen(ctx)
		c.reset(false)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("endpoint cache: not listening for changes; endpoints are read from Postgres until it listens again", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

// listen holds its own connection to Postgres, LISTENing, and forgets each
// endpoint notified; it returns when the connection fails or ctx is done.
func (c *EndpointCache) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, c.db.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+endpointsChannel); err != nil {
		return err
	}
	c.reset(true)
	for {
		wait, cancel := context.WithTimeout(ctx, listenCheck)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			c.forget(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if err := c.ping(ctx, conn); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func (c *EndpointCache) ping(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	return conn.Ping(ctx)
}

// reset empties the cache as listening starts or stops.
func (c *EndpointCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.live = live
	c.gen++
}

// forget drops endpoint id, changed or deleted.
func (c *EndpointCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
	c.gen++
}
