package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestWrap_EveryUnavailableDatabaseStateIs503(t *testing.T) {
	cases := map[string]string{
		"57P01": webhooks.EUNAVAILABLE, // admin shutdown
		"57P02": webhooks.EUNAVAILABLE, // crash shutdown
		"57P03": webhooks.EUNAVAILABLE, // the database system is starting up
		"08006": webhooks.EUNAVAILABLE, // connection failure
		"53300": webhooks.EUNAVAILABLE, // too many connections
		"25006": webhooks.EUNAVAILABLE, // read-only after a failover
		"40001": webhooks.EUNAVAILABLE, // serialization failure
		"58030": webhooks.EUNAVAILABLE, // I/O error
		"22021": webhooks.EINVALID,     // NUL in text: bad input
		"23505": webhooks.EINTERNAL,    // a unique violation nobody handled: a bug
		"42P01": webhooks.EINTERNAL,    // undefined table: a bug
	}
	for code, want := range cases {
		err := wrap(fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "x"}), "")
		if got := webhooks.ErrorCode(err); got != want {
			t.Errorf("SQLSTATE %s → %s, want %s", code, got, want)
		}
	}
	// A connect error carries the server's answer (57P03 while starting up).
	connect := &pgconn.ConnectError{}
	if got := webhooks.ErrorCode(wrap(errors.Join(connect, &pgconn.PgError{Code: "57P03"}), "")); got != webhooks.EUNAVAILABLE {
		t.Errorf("connect error while starting up → %s", got)
	}
	if got := webhooks.ErrorCode(wrap(pgx.ErrNoRows, "Thing")); got != webhooks.ENOTFOUND {
		t.Errorf("no rows → %s", got)
	}
	if err := wrap(context.Canceled, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled → %v", err)
	}
}
