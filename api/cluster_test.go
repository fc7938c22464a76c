package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/redis/go-redis/v9"
)

// The whole service on a three-node Redis Cluster (REDIS_CLUSTER_ADDRS):
// inbound dedup, delivery through asynq, the sweeper's recovery after every node
// lost its data, and asynqmon.
func TestCluster_ServiceRunsOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	a := apptest.Start(t, apptest.Options{Worker: true, RedisCluster: true, SweepGrace: 200 * time.Millisecond})
	orgID, key := a.Org(t, "Cluster")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, "lead.created")

	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != http.StatusAccepted {
		t.Fatalf("on the cluster: %d %s", r.Status, r.Body)
	}
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != http.StatusOK || r.Map(t)["status"] != "duplicate" {
		t.Fatalf("repeat on the cluster: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 15*time.Second, "the delivery arrives through the cluster", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 1 })

	// Every node loses its data: nothing accepted is lost.
	cluster := a.Redis.(*redis.ClusterClient)
	testenv.Must(t, cluster.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() }))
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"l2","channel":"web"}`)); r.Status != http.StatusAccepted {
		t.Fatalf("after the flush: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 15*time.Second, "the next delivery arrives", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 2 })

	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+apptest.AdminToken))}
	if r := a.DoWith(t, "GET", "/ops/queues/api/queues", nil, basic); r.Status != http.StatusOK {
		t.Fatalf("asynqmon on the cluster: %d %.200s", r.Status, r.Body)
	}
}
