package jobs_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// sweepUntilFound sweeps until the sweeper looks at something (once the grace has passed).
func sweepUntilFound(t *testing.T, a *apptest.App) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the sweeper finds the overdue delivery", func() bool {
		n, err := a.Sweeper.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
}

// pendingDelivery starts an app without a worker (sweeper grace 200 ms), and
// publishes one event to one endpoint at a receiver answering 200. It returns the
// app, the receiver, the endpoint's id and its one pending delivery.
func pendingDelivery(t *testing.T) (*apptest.App, *apptest.Receiver, string, deliveryRow) {
	t.Helper()
	a := apptest.Start(t, apptest.Options{SweepGrace: 200 * time.Millisecond})
	orgID, key := a.Org(t, t.Name())
	recv := apptest.NewReceiver(t, apptest.Status(200))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := deliveriesOf(t, a, hookID)[0]
	// The api answers once the event is committed; the task follows.
	testenv.Eventually(t, 5*time.Second, "the delivery has its task", func() bool {
		return a.Redis.Exists(context.Background(), "asynq:{"+a.Queue.Name()+"}:t:"+d.ID).Val() == 1
	})
	return a, recv, hookID, d
}

func TestSweeper_RedisFlushedBeforeDeliveryLosesNothing(t *testing.T) {
	a, recv, hookID, d := pendingDelivery(t)
	insp := asynq.NewInspectorFromRedisClient(a.Redis)
	if _, err := insp.GetTaskInfo(a.Queue.Name(), d.ID); err != nil {
		t.Fatalf("the delivery has no task after publishing: %v", err)
	}
	if err := a.Redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := insp.GetTaskInfo(a.Queue.Name(), d.ID); !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatalf("task still there after FLUSHDB: %v", err)
	}
	sweepUntilFound(t, a)
	// asynq's client remembers queues it registered, so after a flush its
	// Inspector no longer lists the queue; the task itself is back in Redis.
	if n := a.Redis.Exists(context.Background(), "asynq:{"+a.Queue.Name()+"}:t:"+d.ID).Val(); n != 1 {
		t.Fatal("the sweeper did not give the delivery its task back")
	}
	a.StartWorker(t, 2*time.Second)
	waitStatus(t, a, hookID, webhooks.StatusSucceeded, 10*time.Second)
	if n := len(recv.Of("lead.created")); n != 1 {
		t.Errorf("receiver got %d deliveries, want 1", n)
	}
}

func TestSweeper_ArchivedTaskMarksTheDeliveryFailed(t *testing.T) {
	a, _, _, d := pendingDelivery(t)
	// What asynq's recoverer does to a task whose worker died on its last retry.
	if err := asynq.NewInspectorFromRedisClient(a.Redis).ArchiveTask(a.Queue.Name(), d.ID); err != nil {
		t.Fatal(err)
	}
	sweepUntilFound(t, a)
	var status, reason string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT status, last_error FROM deliveries WHERE id = $1`, d.ID).Scan(&status, &reason))
	if status != webhooks.StatusFailed || !strings.Contains(reason, "interrupted") {
		t.Fatalf("delivery %s (%q), want failed", status, reason)
	}
}

func TestSweeper_LiveTasksAreLeftAlone(t *testing.T) {
	a, _, hookID, _ := pendingDelivery(t)
	sweepUntilFound(t, a)
	d := deliveriesOf(t, a, hookID)[0]
	if d.Status != webhooks.StatusPending {
		t.Fatalf("status %s after sweeping a delivery whose task is queued", d.Status)
	}
	info, err := asynq.NewInspectorFromRedisClient(a.Redis).GetTaskInfo(a.Queue.Name(), d.ID)
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("task %v, %v; want still pending", info, err)
	}
}

func TestSweeper_OneSweeperAtATime(t *testing.T) {
	a, _, _, _ := pendingDelivery(t)
	ctx := context.Background()
	// Another sweeper holds the lock.
	tx, err := a.DB.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(28549302169726721)`); err != nil { // store's sweepLockID
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the delivery is overdue", func() bool {
		var overdue bool
		testenv.Must(t, a.DB.Pool().QueryRow(ctx, `SELECT bool_and(next_attempt_at < now() - interval '300 ms') FROM deliveries`).Scan(&overdue))
		return overdue
	})
	if n, err := a.Sweeper.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("sweep while another sweeper works: %d, %v; want 0, nil", n, err)
	}
	tx.Rollback(ctx)
	if n, err := a.Sweeper.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("sweep after the lock is free: %d, %v; want 1", n, err)
	}
}

// TestWorker_KilledMidDeliveryStillDelivers kills a real worker process with
// SIGKILL while the receiver holds its request, then lets an in-process worker
// take over: once the delivery's lease runs out (its attempt's timeout and
// margin, 25 s here) the task asynq's recoverer gives back, or the sweeper's,
// takes it, and the receiver sees the same delivery id again.
func TestWorker_KilledMidDeliveryStillDelivers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute: asynq's lease must expire")
	}
	t.Parallel()
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "Crash")
	arrived := make(chan struct{}, 1)
	recv := apptest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == "lead.created" && len(arrived) == 0 && n <= 1 {
			arrived <- struct{}{}
			<-r.Context().Done() // hold the request until the worker dies
			return
		}
		w.WriteHeader(200)
	})
	hookID, _ := a.Webhook(t, key, recv.URL, "*")

	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/worker").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+a.DSN, "REDIS_URL="+a.RedisURL, "ALLOW_INSECURE_TARGETS=true",
		"DELIVERY_TIMEOUT=10s", "LOG_LEVEL=warn", "METRICS_ADDR=")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker process never delivered")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := time.Now()

	a.StartWorker(t, 2*time.Second)
	d := waitStatus(t, a, hookID, webhooks.StatusSucceeded, 3*time.Minute)
	t.Logf("the orphaned delivery arrived %s after the kill", time.Since(killed).Round(time.Second))
	got := recv.Of("lead.created")
	if len(got) != 2 || got[0].Header.Get("X-Empfio-Delivery") != d.ID || got[1].Header.Get("X-Empfio-Delivery") != d.ID {
		t.Fatalf("receiver got %d requests; want the same delivery id %s twice", len(got), d.ID)
	}
}

// When Redis loses its data (FLUSHALL here), the sweeper notices within its
// watch interval and gives every open delivery its task back, due when it was
// due — without waiting for the sweep's grace period (a minute here).
func TestSweeper_RedisLossIsRecoveredAtOnce(t *testing.T) {
	a := apptest.Start(t, apptest.Options{SweepGrace: time.Minute, SweepInterval: time.Hour})
	orgID, key := a.Org(t, "Flush")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Sweeper.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 5*time.Second, "the sweeper sets its marker", func() bool {
		return a.Redis.Exists(context.Background(), "empfio:sweeper:marker").Val() == 1
	})

	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := deliveriesOf(t, a, hookID)[0]
	// A retrying delivery due in a minute, as if its first attempt had failed.
	_, err := a.DB.Pool().Exec(context.Background(), `WITH d AS (
			INSERT INTO deliveries (id, created_at, organization_id, event_id, endpoint_id, event_type, status, attempts, next_attempt_at, updated_at)
			SELECT empfio_uuidv7(created_at), created_at, organization_id, event_id, endpoint_id, event_type, 'retrying', 1,
				now() + interval '1 minute', now() FROM deliveries WHERE id = $1
			RETURNING endpoint_id, created_at, id)
		INSERT INTO open_deliveries SELECT * FROM d`, d.ID)
	testenv.Must(t, err)
	testenv.Must(t, a.Redis.FlushDB(context.Background()).Err())
	lost := time.Now()

	var later string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM deliveries WHERE status = 'retrying'`).Scan(&later))
	testenv.Eventually(t, 5*time.Second, "both deliveries have their tasks back", func() bool {
		return a.Redis.Exists(context.Background(), "asynq:{"+a.Queue.Name()+"}:t:"+d.ID, "asynq:{"+a.Queue.Name()+"}:t:"+later).Val() == 2
	})
	t.Logf("tasks back %s after the flush", time.Since(lost).Round(time.Millisecond))
	// asynq's Inspector forgets a flushed queue; its scheduled set tells when.
	due, err := a.Redis.ZScore(context.Background(), "asynq:{"+a.Queue.Name()+"}:scheduled", later).Result()
	if err != nil || time.Unix(int64(due), 0).Before(time.Now().Add(30*time.Second)) {
		t.Fatalf("the retrying delivery's task is due at %v (%v); want its own time, a minute away", time.Unix(int64(due), 0), err)
	}
	a.StartWorker(t, 2*time.Second)
	testenv.Eventually(t, 10*time.Second, "the due delivery arrives", func() bool { return len(recv.Of("lead.created")) == 1 })
}

// After Redis lost its data, recovery gives every open delivery a task of its
// own — those enqueued since the loss too, waiting in a batch task no task id
// finds: each is still sent once, the delivery's own state deciding
// (store.Take), not which task comes first.
func TestSweeper_RedisLossRecoverySendsEachDeliveryOnce(t *testing.T) {
	a := apptest.Start(t, apptest.Options{SweepGrace: time.Minute, SweepInterval: time.Hour})
	ctx := context.Background()
	orgID, key := a.Org(t, "Recover")
	recv := apptest.NewReceiver(t, apptest.Status(http.StatusNoContent))
	a.Webhook(t, key, recv.URL, "lead.created")
	stored(t, a, orgID, 1) // its task went with Redis's data
	since, envelopes := stored(t, a, orgID, 2)
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-since", since, envelopes))

	created, err := a.Sweeper.RecoverAll(ctx)
	testenv.Must(t, err)
	if created != 3 {
		t.Fatalf("recovery created %d tasks, want one for each of the 3 open deliveries", created)
	}
	testenv.Must(t, a.Redis.Set(ctx, jobs.RedisMarker, "test", 0).Err())
	a.StartWorker(t, 5*time.Second)
	testenv.Eventually(t, 10*time.Second, "the three deliveries arrive", func() bool { return len(countByDelivery(recv)) == 3 })
	waitGone(t, a, "batch-since")
	for id, n := range countByDelivery(recv) {
		if n != 1 {
			t.Errorf("delivery %s was sent %d times", id, n)
		}
	}
}

// A delivery whose task is active, though no attempt holds it (its worker died
// after the dequeue, and asynq gives the task back only a lease and a minute
// later), gets another task from the sweeper, and is sent once.
func TestSweeper_AnOrphanedActiveTaskGetsAnotherAtOnce(t *testing.T) {
	a, recv, hookID, d := pendingDelivery(t)
	ctx := context.Background()
	q := "asynq:{" + a.Queue.Name() + "}:"
	// What a worker's dequeue leaves: the task active, with asynq's lease.
	testenv.Must(t, a.Redis.LRem(ctx, q+"pending", 0, d.ID).Err())
	testenv.Must(t, a.Redis.LPush(ctx, q+"active", d.ID).Err())
	testenv.Must(t, a.Redis.HSet(ctx, q+"t:"+d.ID, "state", "active").Err())
	testenv.Must(t, a.Redis.ZAdd(ctx, q+"lease", redis.Z{Score: float64(time.Now().Add(30 * time.Second).Unix()), Member: d.ID}).Err())
	sweepUntilFound(t, a)
	keys, err := a.Redis.Keys(ctx, q+"t:"+d.ID+":orphan:*").Result()
	testenv.Must(t, err)
	if len(keys) != 1 {
		t.Fatalf("tasks given to the orphaned delivery: %v, want one", keys)
	}
	a.StartWorker(t, 2*time.Second)
	waitStatus(t, a, hookID, webhooks.StatusSucceeded, 10*time.Second)
	if n := len(recv.Of("lead.created")); n != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", n)
	}
}
