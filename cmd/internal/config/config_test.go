package config

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/jobs"
	"github.com/redis/go-redis/v9"
)

func TestLoad_DefaultsMatchTheDesign(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.DeliveryTimeout != 10*time.Second || c.DeliveryMaxRetries != 3 ||
		c.DeliveryRetryWindow != 30*time.Minute || c.DedupWindow != 60*time.Second || c.AllowInsecureTargets ||
		c.MaxBodyBytes != 1<<20 || c.EndpointDisableAfter != 120*time.Hour {
		t.Fatalf("defaults differ from the documented ones (README.md, Configuration): %+v", c)
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

// Every field of Config is read from its variable: each is set to a value other
// than its default, and each must arrive.
func TestLoad_ReadsEveryVariable(t *testing.T) {
	special := map[string]string{
		"DATABASE_URL":           "postgres://app@db.internal:6543/hooks?sslmode=require",
		"DATABASE_READ_URL":      "postgres://app@replica.internal:6543/hooks?sslmode=require",
		"REDIS_URL":              "redis://cache.internal:6380/2",
		"LOG_LEVEL":              "debug",
		"LOG_FORMAT":             "text",
		"DELIVERY_MAX_RETRIES":   "7",
		"MAX_BODY_BYTES":         "4096",
		"DEDUP_LEASE":            "3s",
		"SECRET_ENCRYPTION_KEY":  "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"REDIS_CLUSTER_ADDRS":    "127.0.0.1:7000,127.0.0.1:7001",
		"BREAKER_PROBE_INTERVAL": "7m",
		"REDIS_PIPELINING":       "false",
		"ENDPOINT_CACHE":         "false",
		"TASK_BATCHING":          "false",
		"CALCOM_SHARED_ROUTE":    "false",
		"TRUSTED_PROXIES":        "10.0.0.0/8,192.0.2.7",
		"ALLOWED_TARGET_CIDRS":   "10.20.0.0/16",
		"PUBLIC_URL":             "https://webhooks.example.com/",
	}
	defaults := Defaults()
	typ := reflect.TypeOf(defaults)
	for i := range typ.NumField() {
		f := typ.Field(i)
		key := f.Tag.Get("envconfig")
		if !f.IsExported() {
			continue
		}
		if key == "" {
			t.Fatalf("field %s has no envconfig tag", f.Name)
		}
		v, ok := special[key]
		if !ok {
			switch f.Type.Kind() {
			case reflect.String:
				v = "set-" + strings.ToLower(key)
			case reflect.Int:
				v = "3001"
			case reflect.Int64: // time.Duration
				v = "97h"
			case reflect.Bool:
				v = "true"
			default:
				t.Fatalf("field %s: no test value for kind %s", f.Name, f.Type.Kind())
			}
		}
		t.Setenv(key, v)
	}
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	got, def := reflect.ValueOf(*c), reflect.ValueOf(defaults)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if reflect.DeepEqual(got.Field(i).Interface(), def.Field(i).Interface()) {
			t.Errorf("%s (%s) kept its default %v", f.Name, f.Tag.Get("envconfig"), def.Field(i).Interface())
		}
	}
	if c.DeliveryTimeout != 97*time.Hour || c.WorkerConcurrency != 3001 || len(c.RedisClusterAddrs) != 2 || c.LogLevel != "debug" {
		t.Fatalf("values not parsed as set: %+v", c)
	}
	if c.PublicURL != "https://webhooks.example.com" || c.PublicURLDefaulted() || len(c.Proxies()) != 2 || len(c.Targets().AllowedCIDRs) != 1 {
		t.Fatalf("PUBLIC_URL %q, proxies %v, allowed %v", c.PublicURL, c.Proxies(), c.Targets().AllowedCIDRs)
	}
}

// The ranges, the public URL and its default.
func TestLoad_RangesAndThePublicURL(t *testing.T) {
	for name, bad := range map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33", "ALLOWED_TARGET_CIDRS": "not-a-range", "PUBLIC_URL": "ftp://x"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, bad)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%s: %v", name, bad, err)
			}
		})
	}
	t.Setenv("HTTP_ADDR", "127.0.0.1:9090")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "http://localhost:9090" || !c.PublicURLDefaulted() {
		t.Fatalf("default PUBLIC_URL %q (defaulted %v)", c.PublicURL, c.PublicURLDefaulted())
	}
}

// The pipelined client is made never to resend a batch and to wait 2 s for
// replies (jobs.PipelineMaxRetries, jobs.PipelineReadTimeout); a read_timeout
// in REDIS_URL is kept; without pipelining go-redis's defaults stay.
func TestRedis_PipelinedClientSettings(t *testing.T) {
	c := Defaults()
	options := func(rdb redis.UniversalClient) *redis.Options {
		defer rdb.Close()
		return rdb.(*redis.Client).Options()
	}
	if o := options(c.redis(jobs.PipelineMaxRetries, jobs.PipelineReadTimeout)); o.MaxRetries != 0 || o.ReadTimeout != 2*time.Second {
		// go-redis stores "no retries" (-1) as 0 once the client is made
		t.Errorf("pipelined: max retries %d, read timeout %s; want none and 2s", o.MaxRetries, o.ReadTimeout)
	}
	if o := options(c.redis(0, 0)); o.MaxRetries != 3 || o.ReadTimeout != 5*time.Second {
		t.Errorf("plain: max retries %d, read timeout %s; want go-redis's 3 and 5s", o.MaxRetries, o.ReadTimeout)
	}
	c.RedisURL = "redis://127.0.0.1:6379/0?read_timeout=7s"
	if o := options(c.redis(jobs.PipelineMaxRetries, jobs.PipelineReadTimeout)); o.ReadTimeout != 7*time.Second {
		t.Errorf("read_timeout=7s in REDIS_URL gave %s", o.ReadTimeout)
	}
}
