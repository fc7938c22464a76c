package store

import (
	"context"
	"errors"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// PutCalcomIntegration gives orgID new Cal.com credentials, replacing any it had:
// the old subscriber URL stops working at once.
func (db *DB) PutCalcomIntegration(ctx context.Context, orgID string) (*webhooks.CalcomIntegration, error) {
	in, hash := webhooks.NewCalcomIntegration(orgID)
	err := db.pool.QueryRow(ctx, `INSERT INTO calcom_integrations (organization_id, token_hash, secret) VALUES ($1, $2, $3)
		ON CONFLICT (organization_id) DO UPDATE SET token_hash = $2, secret = $3, created_at = now()
		RETURNING created_at`, orgID, hash, db.keys.seal(in.Secret)).Scan(&in.CreatedAt)
	if violates(err, "calcom_integrations_organization_id_fkey") {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Organization not found.")
	}
	return in, wrap(err, "")
}

// CalcomIntegration returns orgID's integration, without its token or secret;
// Connected is false when it has none.
func (db *DB) CalcomIntegration(ctx context.Context, orgID string) (*webhooks.CalcomIntegration, error) {
	in := &webhooks.CalcomIntegration{OrganizationID: orgID}
	err := db.pool.QueryRow(ctx, `SELECT created_at FROM calcom_integrations WHERE organization_id = $1`, orgID).Scan(&in.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return in, nil
	}
	in.Connected = err == nil
	return in, wrap(err, "")
}

// CalcomByToken returns the organization and secret of the subscriber URL token
// whose hash is given. Returns EUNAUTHORIZED for an unknown token.
func (db *DB) CalcomByToken(ctx context.Context, hash []byte) (orgID, secret string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT organization_id, secret FROM calcom_integrations WHERE token_hash = $1`, hash).Scan(&orgID, &secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", webhooks.Errorf(webhooks.EUNAUTHORIZED, "This Cal.com subscriber URL is not valid (any more).")
	}
	if err != nil {
		return "", "", wrap(err, "")
	}
	secret, err = db.keys.open(secret)
	return orgID, secret, err
}
