package store

import (
	"context"
	"time"
)

// PruneEvents deletes at most limit events received before cutoff whose
// deliveries are all final, with their deliveries and attempts, and returns how
// many it deleted. Events with a delivery still pending, retrying or held are kept
// whatever their age: retention never loses a delivery.
func (db *DB) PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM events WHERE id IN (
			SELECT e.id FROM events e
			WHERE e.created_at < $1
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'retrying', 'held'))
			ORDER BY e.created_at LIMIT $2
		)`, cutoff, limit)
	if err != nil {
		return 0, wrap(err, "")
	}
	return tag.RowsAffected(), nil
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
