package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every pending migration. It holds a Postgres advisory lock while
// it works, so processes that start at once apply each migration exactly once; it
// is a no-op when the schema is current.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300)) // poll the lock every second, for up to 5 minutes
	if err != nil {
		return 0, err
	}
	fsys, err := migrationsFS()
	if err != nil {
		return 0, err
	}
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate: %w", wrap(err, "migration"))
	}
	return len(results), nil
}

func migrationsFS() (fs.FS, error) { return fs.Sub(migrations, "migrations") }

// SchemaVersion names the embedded migrations by their content: it changes
// whenever a migration is added or edited.
func SchemaVersion() string {
	h := sha256.New()
	fs.WalkDir(migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := migrations.ReadFile(path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}
