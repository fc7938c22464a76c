package store

import (
	"context"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// Trends returns endpoint endpointID's points from start, a bucket each until
// now: its deliveries created in each bucket by status, and the p50 and p95
// of the attempts started in each — aggregated by Postgres over the
// endpoint's deliveries of the window, so a chart reads one small answer, not
// the log.
func (db *DB) Trends(ctx context.Context, orgID, endpointID string, start time.Time, bucket time.Duration) ([]webhooks.TrendPoint, error) {
	rows, err := db.read.Query(ctx, `WITH b AS (
			SELECT generate_series($3::timestamptz, now(), make_interval(secs => $4)) AS start
		), d AS (
			SELECT d.id, d.created_at, d.status FROM deliveries d
			WHERE d.organization_id = $1 AND d.endpoint_id = $2 AND d.created_at >= $3
		), counts AS (
			SELECT date_bin(make_interval(secs => $4), d.created_at, $3) AS start,
				count(*) FILTER (WHERE d.status = 'succeeded') AS succeeded,
				count(*) FILTER (WHERE d.status = 'failed') AS failed,
				count(*) FILTER (WHERE d.status <> ALL ('{succeeded,failed}')) AS open
			FROM d GROUP BY 1
		), lat AS (
			SELECT date_bin(make_interval(secs => $4), a.started_at, $3) AS start, count(*) AS attempts,
				percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) AS p50,
				percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS p95
			FROM d JOIN attempts a ON a.delivery_id = d.id AND a.delivery_created_at = d.created_at
			WHERE a.started_at >= $3 GROUP BY 1
		)
		SELECT b.start, coalesce(c.succeeded, 0), coalesce(c.failed, 0), coalesce(c.open, 0), coalesce(l.attempts, 0), l.p50, l.p95
		FROM b LEFT JOIN counts c ON c.start = b.start LEFT JOIN lat l ON l.start = b.start ORDER BY b.start`,
		orgID, endpointID, start, bucket.Seconds())
	if err != nil {
		return nil, wrap(err, "")
	}
	points, err := pgx.CollectRows(rows, pgx.RowToStructByPos[webhooks.TrendPoint])
	return points, wrap(err, "")
}
