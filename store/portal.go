package store

import (
	"context"
	"errors"

	webhooks "github.com/empfio/webhooks"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// CreatePortalSession stores p with a fresh id and token (set on p).
func (db *DB) CreatePortalSession(ctx context.Context, p *webhooks.PortalSession) error {
	token, hash := webhooks.NewPortalToken()
	p.ID, p.Token = uuid.NewString(), token
	if p.AllowedEventTypes == nil {
		p.AllowedEventTypes = []string{}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO portal_sessions
		(id, organization_id, api_key_id, token_hash, read_only, allowed_event_types, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		p.ID, p.OrganizationID, p.APIKeyID, hash, p.ReadOnly, p.AllowedEventTypes, p.ExpiresAt, p.CreatedAt)
	return wrap(err, "")
}

// AuthenticatePortal returns the live session whose token hash is given. Returns
// EUNAUTHORIZED for unknown, expired and revoked sessions alike.
func (db *DB) AuthenticatePortal(ctx context.Context, hash []byte) (*webhooks.PortalSession, error) {
	var p webhooks.PortalSession
	err := db.pool.QueryRow(ctx, `SELECT p.id, p.organization_id, p.api_key_id, p.read_only, p.allowed_event_types,
			p.expires_at, p.created_at
		FROM portal_sessions p JOIN api_keys k ON k.id = p.api_key_id
		WHERE p.token_hash = $1 AND p.expires_at > now() AND k.revoked_at IS NULL`, hash).Scan(
		&p.ID, &p.OrganizationID, &p.APIKeyID, &p.ReadOnly, &p.AllowedEventTypes, &p.ExpiresAt, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, webhooks.Errorf(webhooks.EUNAUTHORIZED, "The dashboard link has expired or is not valid.")
	}
	return &p, wrap(err, "")
}
