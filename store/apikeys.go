package store

import (
	"context"
	"errors"

	webhooks "github.com/empfio/webhooks"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertAPIKey(ctx context.Context, q querier, orgID, name string) (*webhooks.APIKey, error) {
	key, hash, prefix := webhooks.NewAPIKey()
	k := &webhooks.APIKey{ID: uuid.NewString(), OrganizationID: orgID, Name: name, Prefix: prefix, Key: key}
	err := q.QueryRow(ctx, `INSERT INTO api_keys (id, organization_id, name, prefix, hash)
		VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		k.ID, orgID, name, prefix, hash).Scan(&k.CreatedAt)
	if violates(err, "api_keys_organization_id_fkey") {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Organization not found.")
	}
	return k, wrap(err, "")
}

// CreateAPIKey adds a key to organization orgID. Returns ENOTFOUND if it does not exist.
func (db *DB) CreateAPIKey(ctx context.Context, orgID, name string) (*webhooks.APIKey, error) {
	return insertAPIKey(ctx, db.pool, orgID, name)
}

// ListAPIKeys returns the keys of an organization by prefix, oldest first.
func (db *DB) ListAPIKeys(ctx context.Context, orgID string) ([]webhooks.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, organization_id, name, prefix, created_at, revoked_at
		FROM api_keys WHERE organization_id = $1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, wrap(err, "")
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.APIKey, error) {
		var k webhooks.APIKey
		err := r.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.Prefix, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
	return keys, wrap(err, "")
}

// RevokeAPIKey stops key keyID of orgID from authenticating. Returns ENOTFOUND if
// the organization has no such key.
func (db *DB) RevokeAPIKey(ctx context.Context, orgID, keyID string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 AND organization_id = $2`, keyID, orgID)
	if err != nil {
		return wrap(err, "")
	}
	if tag.RowsAffected() == 0 {
		return webhooks.Errorf(webhooks.ENOTFOUND, "API key not found.")
	}
	return nil
}

// Authenticate returns the organization and id of the key whose hash is given.
// Returns EUNAUTHORIZED for unknown and revoked keys alike.
func (db *DB) Authenticate(ctx context.Context, hash []byte) (orgID, keyID string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT organization_id, id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash).Scan(&orgID, &keyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", webhooks.Errorf(webhooks.EUNAUTHORIZED, "The API key is not valid or was revoked.")
	}
	return orgID, keyID, wrap(err, "")
}
