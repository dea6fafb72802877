package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/leadscore/leads/pkg/store"
)

// TestComposeLoadsWithComposeGo loads docker-compose.yml as Docker Compose
// does (compose-go: schema validation, interpolation, anchors and merges
// resolved) and checks the stack it describes.
func TestComposeLoadsWithComposeGo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"}, cli.WithWorkingDirectory(".."), cli.WithName("leads"))
	require.NoError(t, err)
	p, err := opts.LoadProject(ctx)
	require.NoError(t, err)

	kafka := p.Services["kafka"]
	assert.True(t, strings.HasPrefix(kafka.Image, "apache/kafka:"), kafka.Image)
	assert.Equal(t, "broker,controller", *kafka.Environment["KAFKA_PROCESS_ROLES"], "KRaft, no ZooKeeper")
	assert.NotContains(t, p.Services, "zookeeper")
	require.NotNil(t, kafka.HealthCheck)

	redis := p.Services["redis"]
	assert.True(t, strings.HasPrefix(redis.Image, "redis:7"), redis.Image)
	assert.Contains(t, strings.Join(redis.Command, " "), "--appendonly yes")
	assert.Contains(t, strings.Join(redis.Command, " "), "--hash-max-listpack-value "+strconv.Itoa(store.HashMaxListpackValue))
	require.NotNil(t, redis.HealthCheck)

	topics := p.Services["topics"]
	script := strings.Join(topics.Command, " ")
	for _, want := range []string{
		"--topic leads.events --partitions 12 --config retention.ms=-1",
		"--topic leads.transitions --partitions 12 --config retention.ms=2592000000",
		"--topic leads.events.dlq --partitions 3 --config retention.ms=2592000000",
	} {
		assert.Contains(t, script, want)
	}
	assert.Equal(t, types.ServiceConditionHealthy, topics.DependsOn["kafka"].Condition)

	for name := range programs {
		s, ok := p.Services[name]
		require.True(t, ok, name)
		assert.Equal(t, types.ShellCommand{"/usr/local/bin/" + name}, s.Entrypoint)
		assert.Equal(t, types.ServiceConditionCompletedSuccessfully, s.DependsOn["topics"].Condition)
		assert.Equal(t, types.ServiceConditionHealthy, s.DependsOn["redis"].Condition)
		require.NotNil(t, s.HealthCheck, name)
		assert.Contains(t, strings.Join(s.HealthCheck.Test, " "), "http://127.0.0.1:"+defaultPorts[name]+"/readyz")
		env := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		acceptsFlags(t, name, envToFlags(env))
		var mounted bool
		for _, v := range s.Volumes {
			if v.Target == env["LEADS_MODEL"] {
				mounted = true
				assertDefaultModel(t, v.Source)
				assert.True(t, v.ReadOnly)
			}
		}
		assert.True(t, mounted, "%s mounts its model from deploy/", name)
	}
}

// TestKubernetesManifestsDecodeStrictly builds the kustomize base (with
// kubectl, or the base files as they are without it) and decodes every
// manifest strictly into the Kubernetes API types: an unknown or misspelt
// field fails.
func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	var docs [][]byte
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", "base").CombinedOutput()
		require.NoError(t, err, "%s", out)
		docs = splitYAML(out)
	} else {
		t.Log("kubectl is not installed: checking the base files without kustomize")
		for name := range programs {
			raw, err := os.ReadFile("base/" + name + ".yaml")
			require.NoError(t, err)
			docs = append(docs, splitYAML(raw)...)
		}
	}
	kinds := map[string]int{}
	deployments := map[string]*appsv1.Deployment{}
	services := map[string]*corev1.Service{}
	var configMaps []*corev1.ConfigMap
	for _, doc := range docs {
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(doc, &meta))
		kinds[meta.Kind]++
		switch meta.Kind {
		case "Deployment":
			var d appsv1.Deployment
			require.NoError(t, yaml.UnmarshalStrict(doc, &d), "%s", doc)
			deployments[d.Name] = &d
		case "Service":
			var s corev1.Service
			require.NoError(t, yaml.UnmarshalStrict(doc, &s), "%s", doc)
			services[s.Name] = &s
		case "PodDisruptionBudget":
			var b policyv1.PodDisruptionBudget
			require.NoError(t, yaml.UnmarshalStrict(doc, &b), "%s", doc)
			assert.NotNil(t, b.Spec.Selector)
		case "ConfigMap":
			var c corev1.ConfigMap
			require.NoError(t, yaml.UnmarshalStrict(doc, &c), "%s", doc)
			configMaps = append(configMaps, &c)
		default:
			t.Errorf("unexpected kind %s", meta.Kind)
		}
	}
	assert.Equal(t, 3, kinds["Deployment"])
	assert.Equal(t, 3, kinds["Service"])
	assert.Equal(t, 3, kinds["PodDisruptionBudget"])

	env := map[string]string{}
	for _, c := range configMaps {
		for k, v := range c.Data {
			if strings.HasPrefix(k, "LEADS_") {
				env[k] = v
			}
		}
		if m, ok := c.Data["model.yaml"]; ok {
			path := t.TempDir() + "/model.yaml"
			require.NoError(t, os.WriteFile(path, []byte(m), 0o600))
			assertDefaultModel(t, path)
		}
	}
	for name := range programs {
		var d *appsv1.Deployment
		for dn, dd := range deployments {
			if strings.HasSuffix(dn, name) {
				d = dd
			}
		}
		require.NotNil(t, d, "a Deployment for %s", name)
		c := d.Spec.Template.Spec.Containers[0]
		require.Equal(t, []string{"/usr/local/bin/" + name}, c.Command)
		acceptsFlags(t, name, append(envToFlags(env), c.Args...))
		port := c.Ports[0]
		assert.Equal(t, defaultPorts[name], fmt.Sprint(port.ContainerPort))
		assert.Contains(t, c.Args, "--http-addr=:"+fmt.Sprint(port.ContainerPort))
		require.NotNil(t, c.LivenessProbe)
		require.NotNil(t, c.ReadinessProbe)
		assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
		assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, intstr.FromString(port.Name), c.ReadinessProbe.HTTPGet.Port)
		assert.False(t, c.Resources.Requests.Cpu().IsZero(), "%s requests CPU", name)
		assert.False(t, c.Resources.Requests.Memory().IsZero(), "%s requests memory", name)
		ann := d.Spec.Template.Annotations
		assert.Equal(t, "true", ann["prometheus.io/scrape"], "%s is scraped", name)
		assert.Equal(t, fmt.Sprint(port.ContainerPort), ann["prometheus.io/port"])
		if name == "scorer" {
			require.NotNil(t, d.Spec.Replicas)
			assert.LessOrEqual(t, *d.Spec.Replicas, int32(12), "scorers beyond the partition count idle")
		}
		if name == "ingestor" {
			var secret bool
			for _, v := range d.Spec.Template.Spec.Volumes {
				secret = secret || v.Secret != nil && v.Secret.SecretName != ""
			}
			assert.True(t, secret, "the ingestor's tokens come from a Secret")
			// The bodies in hand at the default --max-decoding-bytes hold
			// about 252 MiB of heap at worst (README "Security"): the heap's
			// soft limit leaves room for them and stays under the pod's.
			var limit resource.Quantity
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					limit = resource.MustParse(strings.TrimSuffix(e.Value, "B"))
				}
			}
			assert.Greater(t, limit.Value(), int64(252<<20), "GOMEMLIMIT leaves room for the bodies in hand")
			assert.Less(t, limit.Value(), c.Resources.Limits.Memory().Value(), "GOMEMLIMIT under the pod's memory limit")
		}
	}
	for name, s := range services {
		assert.NotEmpty(t, s.Spec.Selector, name)
	}
}

func splitYAML(b []byte) [][]byte {
	var out [][]byte
	for _, doc := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
	return out
}

func TestStrictDecodingRefusesMisspeltFields(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("base/scorer.yaml")
	require.NoError(t, err)
	doc := splitYAML(bytes.Replace(raw, []byte("readinessProbe:"), []byte("readynessProbe:"), 1))[0]
	var d appsv1.Deployment
	require.Error(t, yaml.UnmarshalStrict(doc, &d))
}
