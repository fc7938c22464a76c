// Package helm tests the chart deploy/helm/empfio offline: helm lint (strict)
// and helm template with the Helm pinned in go.mod (go tool helm), every
// rendered manifest decoded strictly into the Kubernetes API's own types
// (k8s.io/api) — an unknown or misplaced field fails — and what each must say.
package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// required are the values without which the chart refuses to render.
var required = []string{"existingSecret=empfio", "postgres.urlSecret.name=empfio-db", "redis.urlSecret.name=empfio-redis"}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "helm"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func set(values ...string) []string {
	var args []string
	for _, v := range values {
		args = append(args, "--set", v)
	}
	return args
}

// manifests renders the chart with values and decodes each manifest by its
// kind, strictly.
func manifests(t *testing.T, values ...string) map[string]any {
	t.Helper()
	out, err := helm(t, append([]string{"template", "acme", "./empfio"}, set(values...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, doc := range strings.Split(out, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
			continue
		}
		raw, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("a manifest that is not YAML: %v\n%s", err, doc)
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "autoscaling/v2 HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		case "batch/v1 Job":
			obj = &batchv1.Job{}
		default:
			t.Fatalf("a manifest of %s %s, which this test does not know", head.APIVersion, head.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", head.Kind, err, doc)
		}
		var meta struct{ Metadata struct{ Name string } }
		json.Unmarshal(raw, &meta)
		got[head.Kind+"/"+meta.Metadata.Name] = obj
	}
	return got
}

func TestChart_Lints(t *testing.T) {
	if out, err := helm(t, append([]string{"lint", "--strict", "./empfio"}, set(required...)...)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// Without its Secrets the chart refuses to render, saying which value is missing.
func TestChart_RefusesWithoutItsSecrets(t *testing.T) {
	for _, missing := range []string{"existingSecret", "postgres.urlSecret.name", "redis"} {
		var values []string
		for _, v := range required {
			if !strings.HasPrefix(v, missing) {
				values = append(values, v)
			}
		}
		out, err := helm(t, append([]string{"template", "acme", "./empfio"}, set(values...)...)...)
		if err == nil || !strings.Contains(out, missing) {
			t.Errorf("without %s: %v\n%s", missing, err, out)
		}
	}
}

// The default rendering: api and worker Deployments with their probes, the
// credentials from the named Secrets only, PDBs over each, the migration Job
// as a pre-install/pre-upgrade hook, no HPA.
func TestChart_RendersWhatADeploymentNeeds(t *testing.T) {
	m := manifests(t, required...)
	api := m["Deployment/acme-empfio-api"].(*appsv1.Deployment)
	worker := m["Deployment/acme-empfio-worker"].(*appsv1.Deployment)
	for _, d := range []*appsv1.Deployment{api, worker} {
		c := d.Spec.Template.Spec.Containers[0]
		if c.ReadinessProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
			t.Errorf("%s: probes %+v %+v", d.Name, c.ReadinessProbe, c.LivenessProbe)
		}
		if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s runs as root", d.Name)
		}
		secrets := map[string]bool{}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				secrets[e.SecretRef.Name] = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secrets[e.ValueFrom.SecretKeyRef.Name] = true
			}
			if strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "SECRET") || strings.HasSuffix(e.Name, "_URL") && e.Value != "" {
				t.Errorf("%s: %s given as a plain value", d.Name, e.Name)
			}
		}
		if !secrets["empfio"] || !secrets["empfio-db"] || !secrets["empfio-redis"] {
			t.Errorf("%s reads the Secrets %v", d.Name, secrets)
		}
	}
	if p := api.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path; p != "/readyz" {
		t.Errorf("the api's readiness probe asks %s", p)
	}
	if worker.Spec.Replicas == nil || *worker.Spec.Replicas != 2 {
		t.Errorf("workers: %v", worker.Spec.Replicas)
	}
	for _, name := range []string{"PodDisruptionBudget/acme-empfio-api", "PodDisruptionBudget/acme-empfio-worker", "Service/acme-empfio-api"} {
		if m[name] == nil {
			t.Errorf("no %s among %v", name, keys(m))
		}
	}
	job := m["Job/acme-empfio-migrate"].(*batchv1.Job)
	if cmd := job.Spec.Template.Spec.Containers[0].Command; len(cmd) != 2 || cmd[1] != "migrate" ||
		job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("migration job: %v, hooks %q", cmd, job.Annotations["helm.sh/hook"])
	}
	if _, ok := m["HorizontalPodAutoscaler/acme-empfio-worker"]; ok {
		t.Error("an HPA although autoscaling is off")
	}
}

// With autoscaling, the workers' count is the HPA's, on the queue's pending
// tasks; with a Redis Cluster, its seed nodes replace REDIS_URL.
func TestChart_AutoscaledWorkersOverARedisCluster(t *testing.T) {
	m := manifests(t, "existingSecret=empfio", "postgres.urlSecret.name=empfio-db",
		"redis.clusterAddrs={redis-0:6379,redis-1:6379}", "worker.autoscaling.enabled=true")
	worker := m["Deployment/acme-empfio-worker"].(*appsv1.Deployment)
	if worker.Spec.Replicas != nil {
		t.Errorf("replicas %d set beside the HPA", *worker.Spec.Replicas)
	}
	hpa := m["HorizontalPodAutoscaler/acme-empfio-worker"].(*autoscalingv2.HorizontalPodAutoscaler)
	ext := hpa.Spec.Metrics[0].External
	if hpa.Spec.ScaleTargetRef.Name != worker.Name || ext == nil || ext.Metric.Name != "empfio_queue_tasks" ||
		ext.Metric.Selector.MatchLabels["state"] != "pending" || ext.Target.AverageValue.String() != "500" {
		t.Fatalf("HPA %+v", hpa.Spec)
	}
	var cluster string
	for _, e := range worker.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "REDIS_URL" {
			t.Error("REDIS_URL beside a cluster")
		}
		if e.Name == "REDIS_CLUSTER_ADDRS" {
			cluster = e.Value
		}
	}
	if cluster != "redis-0:6379,redis-1:6379" {
		t.Errorf("REDIS_CLUSTER_ADDRS %q", cluster)
	}
}

func keys(m map[string]any) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	return k
}
