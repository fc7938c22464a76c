package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster starts a three-node Redis Cluster of t's own (redis-server in
// cluster mode on three free loopback ports, joined with redis-cli --cluster
// create) and returns a client for it and the nodes' addresses. The nodes stop
// when t ends.
func RedisCluster(t testing.TB) (*redis.ClusterClient, []string) {
	t.Helper()
	server, err := osexec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is needed for the Redis Cluster tests (Debian's redis-server package; make test installs it)")
	}
	dir := t.TempDir()
	var addrs []string
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Must(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		node := filepath.Join(dir, strconv.Itoa(i))
		Must(t, os.MkdirAll(node, 0o755))
		cmd := osexec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(node, "nodes.conf"), "--dir", node, "--save", "", "--appendonly", "no",
			"--protected-mode", "no")
		Must(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		Eventually(t, 10*time.Second, "Redis node "+addr+" answers", func() bool {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			return c.Ping(context.Background()).Err() == nil
		})
		addrs = append(addrs, addr)
	}
	create := osexec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	Eventually(t, 20*time.Second, "the cluster is ok on every node", func() bool {
		for _, a := range addrs {
			n := redis.NewClient(&redis.Options{Addr: a})
			info, err := n.ClusterInfo(context.Background()).Result()
			n.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return c.Ping(context.Background()).Err() == nil
	})
	return c, addrs
}
