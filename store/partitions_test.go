package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// Retention drops a day whole — its events, deliveries and attempts — once
// every delivery of it is final; a day with one still open waits, and
// younger days stay.
func TestDropPartition_DropsAFinishedDayWhole(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Retention")
	old := time.Now().AddDate(0, 0, -40)
	_, err := db.MakePartitions(ctx, old, old)
	testenv.Must(t, err)
	done, ds := testenv.PublishLead(t, db, org, old)
	taken := take(t, db, ds[0])
	_, err = db.RecordAttempt(ctx, ds[0].CreatedAt, taken.Lease, webhooks.AttemptRecord{DeliveryID: ds[0].ID,
		Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{StartedAt: old}})
	testenv.Must(t, err)
	_, open := testenv.PublishLead(t, db, org, old.Add(time.Second))
	recent, _ := testenv.PublishLead(t, db, org, time.Now())

	days, err := db.Partitions(ctx)
	testenv.Must(t, err)
	if len(days) < 2 || !days[0].Day.Equal(old.UTC().Truncate(24*time.Hour)) || days[0].Open != 1 {
		t.Fatalf("partitions %+v: want the old day first, with 1 open delivery", days)
	}
	if dropped, err := db.DropPartition(ctx, days[0].Day); err != nil || dropped {
		t.Fatalf("a day with an open delivery was dropped: %v, %v", dropped, err)
	}
	testenv.Must(t, db.FailDelivery(ctx, open[0].ID, open[0].CreatedAt, "test"))
	if dropped, err := db.DropPartition(ctx, days[0].Day); err != nil || !dropped {
		t.Fatalf("a finished day was not dropped: %v, %v", dropped, err)
	}
	for id, want := range map[string]bool{done.ID: false, recent.ID: true} {
		_, err := db.Event(ctx, org, id)
		if kept := err == nil; kept != want {
			t.Errorf("event %s kept = %v, want %v (%v)", id, kept, want, err)
		}
	}
	var attempts, deliveries int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM attempts), (SELECT count(*) FROM deliveries)`).Scan(&attempts, &deliveries))
	if attempts != 0 || deliveries != 1 {
		t.Fatalf("%d attempts and %d deliveries left; want the recent delivery only", attempts, deliveries)
	}
}

// A row of a day with no partition lands in the default one, and retention
// prunes it there row by row, its deliveries final.
func TestPruneDefault_PrunesWhatFellOutsideTheDays(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Default")
	ev, ds := testenv.PublishLead(t, db, org, time.Now().AddDate(-1, 0, 0)) // no partition that far back
	var inDefault bool
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events_default WHERE id = $1)`, ev.ID).Scan(&inDefault))
	if !inDefault {
		t.Fatal("a year-old event is not in the default partition")
	}
	if n, err := db.PruneDefault(ctx, time.Now().AddDate(0, 0, -30)); err != nil || n != 0 {
		t.Fatalf("pruned %d, %v with its delivery open", n, err)
	}
	testenv.Must(t, db.FailDelivery(ctx, ds[0].ID, ds[0].CreatedAt, "test"))
	if n, err := db.PruneDefault(ctx, time.Now().AddDate(0, 0, -30)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
}

// A listen session nobody read for longer than the idle time is deleted; a
// fresh one, and ordinary endpoints however old, are kept.
func TestDeleteAbandonedListenSessions(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org, _, err := db.CreateOrganization(ctx, "Listen")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(listen bool) string {
		e := &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/x", Events: []string{"*"}}
		create := db.CreateEndpoint
		if listen {
			create = db.CreateListenEndpoint
		}
		testenv.Must(t, create(ctx, e))
		return e.ID
	}
	abandoned, fresh, ordinary := mk(true), mk(true), mk(false)
	testenv.Must(t, db.TouchListenSession(ctx, fresh))
	if _, err := db.Pool().Exec(ctx, `UPDATE endpoints SET updated_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])`,
		[]string{abandoned, ordinary}); err != nil {
		t.Fatal(err)
	}
	n, err := db.DeleteAbandonedListenSessions(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("deleted %d (%v); want 1", n, err)
	}
	for id, want := range map[string]bool{abandoned: false, fresh: true, ordinary: true} {
		_, err := db.Endpoint(ctx, org.ID, id)
		if exists := err == nil; exists != want {
			t.Errorf("endpoint %s exists %v, want %v (%v)", id, exists, want, err)
		}
	}
}

// The audit log lives in the history's day partitions: an entry lands in its
// day's partition, and goes when retention drops that day.
func TestAuditLog_KeptAndDroppedWithTheHistory(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Audit retention")
	testenv.Must(t, db.RecordAudit(ctx, &webhooks.AuditEvent{OrganizationID: org, Action: webhooks.AuditCalcomConnected, TargetType: "calcom_integration"}))
	list, _, err := db.AuditLog(ctx, webhooks.AuditFilter{OrganizationID: org, Limit: 10})
	testenv.Must(t, err)
	if len(list) != 1 || list[0].Actor != "admin token" {
		t.Fatalf("audit log %+v", list)
	}
	var partition string
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT tableoid::regclass::text FROM audit_events WHERE id = $1`, list[0].ID).Scan(&partition))
	if want := "audit_events_p" + list[0].CreatedAt.UTC().Format("20060102"); partition != want {
		t.Fatalf("the entry is in %s, want %s", partition, want)
	}
	if dropped, err := db.DropPartition(ctx, list[0].CreatedAt); err != nil || !dropped {
		t.Fatalf("the day was not dropped: %v, %v", dropped, err)
	}
	if list, _, _ = db.AuditLog(ctx, webhooks.AuditFilter{OrganizationID: org, Limit: 10}); len(list) != 0 {
		t.Fatalf("the dropped day's audit events remain: %+v", list)
	}
}

// Maintenance never deadlocks with the hot path: a transaction that has read
// deliveries and then reads another history table — the take's shape — goes
// on while maintenance makes or drops a day, and maintenance is done once it
// commits (or times out waiting, and is done on the next round). Made or
// dropped in one transaction, the two deadlocked: maintenance held the other
// table and waited for deliveries.
func TestMaintenance_NeverDeadlocksWithTheHotPath(t *testing.T) {
	d := time.Now().AddDate(0, 0, -20) // a day with no partitions yet
	for _, c := range []struct {
		name, reads string
		before      func(*store.DB) error
		maintain    func(*store.DB) error
		want        int // the day's partitions after
	}{
		{"make", "events", func(*store.DB) error { return nil },
			func(db *store.DB) error { _, err := db.MakePartitions(context.Background(), d, d); return err }, 4},
		{"drop", "attempts", func(db *store.DB) error { _, err := db.MakePartitions(context.Background(), d, d); return err },
			func(db *store.DB) error { _, err := db.DropPartition(context.Background(), d); return err }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := testenv.DB(t)
			testenv.Must(t, c.before(db))
			tx, err := db.Pool().Begin(ctx)
			testenv.Must(t, err)
			defer tx.Rollback(ctx)
			_, err = tx.Exec(ctx, `SELECT count(*) FROM deliveries`)
			testenv.Must(t, err)

			done := make(chan error, 1)
			go func() { done <- c.maintain(db) }()
			testenv.Eventually(t, 10*time.Second, "maintenance waits for the transaction's lock", func() bool {
				var waiting bool
				testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~* 'partition|drop')`).Scan(&waiting))
				return waiting
			})
			if _, err := tx.Exec(ctx, `SELECT count(*) FROM `+c.reads); err != nil {
				t.Fatalf("the hot path's next read: %v", err)
			}
			testenv.Must(t, tx.Commit(ctx))
			if err := <-done; err != nil {
				if strings.Contains(err.Error(), "40P01") {
					t.Fatalf("maintenance: %v", err)
				}
				testenv.Must(t, c.maintain(db)) // it waited longer than its lock timeout: the next round
			}
			if n := testenv.PartitionsOf(t, db, d); n != c.want {
				t.Fatalf("%d partitions of the day; want %d", n, c.want)
			}
		})
	}
}

// A day's partitions are made like the ones the migrations made: the same
// indexes, deliveries with room for HOT updates.
func TestMakePartitions_SameShapeAsTheMigrations(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	d := time.Now().AddDate(0, 0, -20)
	_, err := db.MakePartitions(ctx, d, d)
	testenv.Must(t, err)
	today := time.Now().UTC().Format("20060102")
	shape := func(suffix string) (out []string) {
		rows, err := db.Pool().Query(ctx, `SELECT c.relname || ' ' || coalesce(array_to_string(c.reloptions, ','), '') || ' ' ||
				(SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid)
			FROM pg_class c WHERE c.relname LIKE '%\_p' || $1 ORDER BY c.relname`, suffix)
		testenv.Must(t, err)
		for rows.Next() {
			var s string
			testenv.Must(t, rows.Scan(&s))
			out = append(out, strings.ReplaceAll(s, suffix, "D"))
		}
		testenv.Must(t, rows.Err())
		return out
	}
	made, migrated := shape(d.UTC().Format("20060102")), shape(today)
	if len(made) != 4 || !slices.Equal(made, migrated) {
		t.Fatalf("made %q; the migrations' %q", made, migrated)
	}
}

// A day whose rows are in the default partition already cannot be attached;
// the days after it are made all the same.
func TestMakePartitions_ADayThatCannotBeMadeDoesNotStopTheNext(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Default")
	stuck := time.Now().AddDate(0, 0, -25)
	testenv.PublishLead(t, db, org, stuck) // no partition that day: into the default
	_, err := db.MakePartitions(ctx, stuck, stuck.AddDate(0, 0, 1))
	if err == nil || !strings.Contains(err.Error(), stuck.UTC().Format(time.DateOnly)) {
		t.Fatalf("err = %v; want the stuck day's", err)
	}
	if n := testenv.PartitionsOf(t, db, stuck.AddDate(0, 0, 1)); n != 4 {
		t.Fatalf("%d partitions of the day after; want 4", n)
	}
}
