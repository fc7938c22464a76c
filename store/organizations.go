package store

import (
	"context"

	webhooks "github.com/empfio/webhooks"
	"github.com/google/uuid"
)

// CreateOrganization stores a new organization with its first API key and returns
// both; the key's clear text is in the returned APIKey.Key, and only there.
func (db *DB) CreateOrganization(ctx context.Context, name string) (*webhooks.Organization, *webhooks.APIKey, error) {
	org := &webhooks.Organization{ID: uuid.NewString(), Name: name}
	if err := org.Validate(); err != nil {
		return nil, nil, err
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	err = tx.QueryRow(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2) RETURNING created_at`,
		org.ID, org.Name).Scan(&org.CreatedAt)
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	key, err := insertAPIKey(ctx, tx, org.ID, "default")
	if err != nil {
		return nil, nil, err
	}
	return org, key, wrap(tx.Commit(ctx), "")
}

// EnsureOrganization creates the organization id with name unless it exists.
func (db *DB) EnsureOrganization(ctx context.Context, id, name string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, name)
	return wrap(err, "")
}

// Organization returns organization id. Returns ENOTFOUND if it does not exist.
func (db *DB) Organization(ctx context.Context, id string) (*webhooks.Organization, error) {
	var o webhooks.Organization
	err := db.pool.QueryRow(ctx, `SELECT id, name, created_at FROM organizations WHERE id = $1`, id).Scan(&o.ID, &o.Name, &o.CreatedAt)
	return &o, wrap(err, "Organization")
}
