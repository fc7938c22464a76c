package jobs_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/store"
)

// Each step of maintenance runs whatever the others did: a day that cannot
// be made (its rows already in the default partition) is reported, and the
// days ahead are still made and the days past retention still dropped.
func TestMaintain_ADayThatCannotBeMadeStopsNothingElse(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org, _, err := db.CreateOrganization(ctx, "Maintenance")
	testenv.Must(t, err)
	testenv.Must(t, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/m", Events: []string{"*"}}))
	now := time.Now().AddDate(0, 0, -20) // maintenance as of a day whose week has no partitions yet
	stuck, old := now, now.AddDate(0, 0, -10)
	publish := func(at time.Time) []webhooks.Delivery {
		id, received := webhooks.EventIDAt(at)
		ev := &webhooks.Event{ID: id, OrganizationID: org.ID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
			Data: []byte(`{}`), OccurredAt: received, ReceivedAt: received}
		testenv.Must(t, ev.RenderEnvelope())
		ds, err := db.Publish(ctx, ev)
		testenv.Must(t, err)
		return ds
	}
	publish(stuck) // no partition for that day: into the default one
	_, err = db.MakePartitions(ctx, old, old)
	testenv.Must(t, err)
	done := publish(old)[0]
	testenv.Must(t, db.FailDelivery(ctx, done.ID, done.CreatedAt, "test"))

	m := &jobs.Maintenance{DB: db, Retention: 5 * 24 * time.Hour, Log: slog.New(slog.DiscardHandler)}
	err = m.Maintain(ctx, now)
	if err == nil || !strings.Contains(err.Error(), stuck.UTC().Format(time.DateOnly)) {
		t.Fatalf("Maintain: %v; want the error of the stuck day", err)
	}
	for day, want := range map[time.Time]int{now.AddDate(0, 0, 1): 4, now.AddDate(0, 0, 7): 4, old: 0} {
		if got := partitionsOf(t, db, day); got != want {
			t.Errorf("%s: %d partitions; want %d", day.Format(time.DateOnly), got, want)
		}
	}
}

func partitionsOf(t *testing.T, db *store.DB, day time.Time) int {
	var n int
	testenv.Must(t, db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_inherits WHERE inhrelid::regclass::text LIKE '%\_p' || $1`,
		day.UTC().Format("20060102")).Scan(&n))
	return n
}
