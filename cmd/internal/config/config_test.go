package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad_DefaultsMatchTheDesign(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.DeliveryTimeout != 10*time.Second || c.DeliveryMaxRetries != 3 ||
		c.DeliveryRetryWindow != 30*time.Minute || c.DedupWindow != 60*time.Second || c.AllowInsecureTargets ||
		c.MaxBodyBytes != 1<<20 || c.EndpointDisableAfter != 120*time.Hour {
		t.Fatalf("defaults differ from DESIGN.md: %+v", c)
	}
}

func TestLoad_BadValueNamesTheVariable(t *testing.T) {
	cases := map[string]struct{ key, value, want string }{
		"duration":     {"DELIVERY_TIMEOUT", "abc", `DELIVERY_TIMEOUT="abc" is not valid: expected a duration`},
		"database url": {"DATABASE_URL", "postgres://%zz", "DATABASE_URL is not valid"},
		"redis url":    {"REDIS_URL", "mysql://x", "REDIS_URL is not valid"},
		"int":          {"WORKER_CONCURRENCY", "many", `WORKER_CONCURRENCY="many" is not valid: expected a whole number`},
		"range":        {"WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY is not valid: expected at least 1"},
		"bool":         {"ALLOW_INSECURE_TARGETS", "yes please", "ALLOW_INSECURE_TARGETS"},
		"log level":    {"LOG_LEVEL", "loud", `LOG_LEVEL="loud" is not valid`},
		"retries":      {"DELIVERY_MAX_RETRIES", "-1", "DELIVERY_MAX_RETRIES is not valid"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv(c.key, c.value)
			_, err := Load()
			if err == nil {
				t.Fatalf("%s=%s was accepted", c.key, c.value)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, c.want)
			}
		})
	}
}

func TestLoad_ReadsEveryVariable(t *testing.T) {
	t.Setenv("DELIVERY_RETRY_WINDOW", "2h")
	t.Setenv("ALLOW_INSECURE_TARGETS", "true")
	t.Setenv("REDIS_CLUSTER_ADDRS", "127.0.0.1:7000,127.0.0.1:7001")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DeliveryRetryWindow != 2*time.Hour || !c.AllowInsecureTargets || len(c.RedisClusterAddrs) != 2 {
		t.Fatalf("got %+v", c)
	}
}
