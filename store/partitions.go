package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The history — events, deliveries and attempts, and the audit log — is partitioned by day
// (UTC; migration 00009): the partitions of a day hold that day's events,
// their deliveries and the deliveries' attempts. Maintenance makes the days
// ahead and drops the days past retention, one DROP TABLE per table: no
// row-by-row delete, nothing left to vacuum.

// maintenanceLockID is the advisory lock that lets one worker at a time
// maintain the partitions.
const maintenanceLockID = 0x656d7066696f03 // "empfio" + 3

// WithMaintenanceLock runs fn holding the maintenance advisory lock on a
// connection of its own, and reports whether it ran: false at once when
// another worker holds it.
func (db *DB) WithMaintenanceLock(ctx context.Context, fn func() error) (bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, wrap(err, "")
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, maintenanceLockID).Scan(&locked); err != nil || !locked {
		return false, wrap(err, "")
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, maintenanceLockID)
	return true, fn()
}

// historyTables are the partitioned tables, in the order a day's partitions
// are made and dropped: deliveries last, so that a day maintenance stopped in
// the middle of dropping is still listed (Partitions) and dropped next time.
var historyTables = []string{"attempts", "events", "audit_events", "deliveries"}

// partitionOptions are the storage parameters of a table's day partitions:
// room in each page of deliveries for the attempts' HOT updates.
var partitionOptions = map[string]string{"deliveries": " WITH (fillfactor = 70)"}

// partitionLockTimeout bounds how long making or dropping one partition waits
// for its locks: the hot path's statements queue behind that wait, since they
// lock every partition of a table. A day that timed out is made or dropped on
// the next round, and days are made a week ahead.
const partitionLockTimeout = "200ms"

// MakePartitions makes the day partitions of every day from first to last
// (UTC), unless they exist, and returns how many days it looked at.
//
// Each is created apart and then attached, one table per transaction. ATTACH
// PARTITION locks the parent in SHARE UPDATE EXCLUSIVE mode, which no read or
// write waits for (CREATE TABLE … PARTITION OF takes ACCESS EXCLUSIVE); and
// maintenance never holds one table's lock while it waits for another's, so
// it cannot deadlock with a statement that reads two of them.
//
// A day that cannot be made (its rows already in the default partition, or
// its locks not had in time) does not keep the days after it from being made:
// its error is returned with theirs, once all were tried.
func (db *DB) MakePartitions(ctx context.Context, first, last time.Time) (int, error) {
	n := 0
	var errs []error
	for d := day(first); !d.After(day(last)); d = d.AddDate(0, 0, 1) {
		for _, t := range historyTables {
			if err := db.makePartition(ctx, t, d); err != nil {
				errs = append(errs, fmt.Errorf("partitions of %s: %w", d.Format(time.DateOnly), err))
				break
			}
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (db *DB) makePartition(ctx context.Context, table string, d time.Time) error {
	name := table + "_p" + d.Format("20060102")
	var attached bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1))`, name).Scan(&attached)
	if err != nil || attached {
		return wrap(err, "")
	}
	return db.alterPartitions(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)%s;
		ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
		name, table, partitionOptions[table], table, name, d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339)))
}

// alterPartitions runs the DDL of one table's partition in a transaction of
// its own, waiting at most partitionLockTimeout for its locks.
func (db *DB) alterPartitions(ctx context.Context, ddl string) error {
	return wrap(pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = '%s'; %s`, partitionLockTimeout, ddl))
		return err
	}), "")
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Partition is one day of the history.
type Partition struct {
	Day  time.Time
	Open int // deliveries of that day not final yet
}

// Partitions returns the days that have partitions, oldest first, each with
// how many of its deliveries are not final.
func (db *DB) Partitions(ctx context.Context) ([]Partition, error) {
	rows, err := db.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'deliveries'::regclass AND c.relname LIKE 'deliveries\_p%' ORDER BY c.relname`)
	if err != nil {
		return nil, wrap(err, "")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "")
	}
	var out []Partition
	for _, name := range names {
		d, err := time.Parse("20060102", strings.TrimPrefix(name, "deliveries_p"))
		if err != nil {
			continue // not one of ours
		}
		p := Partition{Day: d}
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM open_deliveries WHERE created_at >= $1 AND created_at < $2`,
			d, d.AddDate(0, 0, 1)).Scan(&p.Open); err != nil {
			return nil, wrap(err, "")
		}
		out = append(out, p)
	}
	return out, nil
}

// DropPartition drops the partitions of day d of every history table —
// unless a delivery of that day is not final yet: retention never loses a
// delivery; the day is dropped once it is done. It reports whether it dropped
// them. Each table's is dropped in a transaction of its own, for the reason
// MakePartitions makes them so (a DROP locks the parent in ACCESS EXCLUSIVE
// mode, briefly).
func (db *DB) DropPartition(ctx context.Context, d time.Time) (bool, error) {
	var open bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM open_deliveries WHERE created_at >= $1 AND created_at < $2)`,
		d, d.AddDate(0, 0, 1)).Scan(&open); err != nil || open {
		return false, wrap(err, "")
	}
	suffix := day(d).Format("20060102")
	for _, t := range historyTables {
		if err := db.alterPartitions(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s_p%s`, t, suffix)); err != nil {
			return false, err
		}
	}
	_, err := db.pool.Exec(ctx, `DELETE FROM calcom_bookings WHERE created_at < $1`, d.AddDate(0, 0, 1))
	return err == nil, wrap(err, "")
}

// PruneDefault deletes the rows of the default partitions older than cutoff
// whose deliveries are final: the days no partition was made for (a clock far
// off, a worker down for days), which retention cannot drop whole. Returns how
// many events it deleted.
func (db *DB) PruneDefault(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `WITH gone AS (
			DELETE FROM events_default e WHERE e.created_at < $1
				AND NOT EXISTS (SELECT 1 FROM open_deliveries o WHERE o.created_at = e.created_at)
			RETURNING id, created_at
		), d AS (
			DELETE FROM deliveries_default d USING gone WHERE d.created_at = gone.created_at AND d.event_id = gone.id
			RETURNING d.id, d.created_at
		), a AS (
			DELETE FROM attempts_default a USING d WHERE a.delivery_id = d.id AND a.delivery_created_at = d.created_at
		)
		SELECT count(*) FROM gone`, cutoff).Scan(&n)
	if err == nil {
		_, err = db.pool.Exec(ctx, `DELETE FROM audit_events_default WHERE created_at < $1`, cutoff)
	}
	return n, wrap(err, "")
}

// ForgetExpiredSecrets clears the previous secret of every endpoint whose
// rotation grace period has ended: it signs nothing any more, so it is not kept.
func (db *DB) ForgetExpiredSecrets(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE endpoints SET previous_secret = NULL, previous_secret_expires_at = NULL
		WHERE previous_secret_expires_at < now()`)
	if err != nil {
		return 0, wrap(err, "")
	}
	return tag.RowsAffected(), nil
}
