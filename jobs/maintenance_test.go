package jobs_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
)

// Each step of maintenance runs whatever the others did: a day that cannot
// be made (its rows already in the default partition) is reported, and the
// days ahead are still made and the days past retention still dropped.
func TestMaintain_ADayThatCannotBeMadeStopsNothingElse(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Maintenance")
	now := time.Now().AddDate(0, 0, -20) // maintenance as of a day whose week has no partitions yet
	stuck, old := now, now.AddDate(0, 0, -10)
	testenv.PublishLead(t, db, org, stuck) // no partition for that day: into the default one
	_, err := db.MakePartitions(ctx, old, old)
	testenv.Must(t, err)
	_, ds := testenv.PublishLead(t, db, org, old)
	done := ds[0]
	testenv.Must(t, db.FailDelivery(ctx, done.ID, done.CreatedAt, "test"))

	m := &jobs.Maintenance{DB: db, Retention: 5 * 24 * time.Hour, Log: slog.New(slog.DiscardHandler)}
	err = m.Maintain(ctx, now)
	if err == nil || !strings.Contains(err.Error(), stuck.UTC().Format(time.DateOnly)) {
		t.Fatalf("Maintain: %v; want the error of the stuck day", err)
	}
	for day, want := range map[time.Time]int{now.AddDate(0, 0, 1): 4, now.AddDate(0, 0, 7): 4, old: 0} {
		if got := testenv.PartitionsOf(t, db, day); got != want {
			t.Errorf("%s: %d partitions; want %d", day.Format(time.DateOnly), got, want)
		}
	}
}
