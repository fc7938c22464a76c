package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// UseKeyring makes the store encrypt the secrets it writes with k, and read
// those encrypted with any of k's keys. Call it before the store is used.
func (db *DB) UseKeyring(k *Keyring) { db.keys = k }

// EncryptSecrets (re-)encrypts with the current key every stored secret that is
// plaintext or encrypted with another key, and returns how many values it
// rewrote. It runs at start-up when a key is set (plaintext from before the key
// is encrypted on first start) and by `api secrets rotate-key`.
func (db *DB) EncryptSecrets(ctx context.Context) (int, error) {
	if db.keys == nil {
		return 0, nil
	}
	n := 0
	for _, col := range []struct{ table, key, column string }{
		{"endpoints", "id", "secret"}, {"endpoints", "id", "previous_secret"}, {"endpoints", "id", "headers"},
		{"calcom_integrations", "organization_id", "secret"},
	} {
		m, err := db.reencrypt(ctx, col.table, col.key, col.column)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// reencrypt rewrites one column's values that are not under the current key, in
// one transaction, locking the rows it reads.
func (db *DB) reencrypt(ctx context.Context, table, key, column string) (int, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT `+key+`::text, `+column+` FROM `+table+`
		WHERE `+column+` IS NOT NULL AND `+column+` NOT LIKE $1 FOR UPDATE`, encPrefix+db.keys.current+":%")
	if err != nil {
		return 0, wrap(err, "")
	}
	type value struct{ ID, Stored string }
	values, err := pgx.CollectRows(rows, pgx.RowToStructByPos[value])
	if err != nil {
		return 0, wrap(err, "")
	}
	for _, v := range values {
		plain, err := db.keys.open(v.Stored)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+table+` SET `+column+` = $2 WHERE `+key+` = $1`, v.ID, db.keys.seal(plain)); err != nil {
			return 0, wrap(err, "")
		}
	}
	return len(values), wrap(tx.Commit(ctx), "")
}
