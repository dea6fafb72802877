package deploy

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/program"
	"github.com/leadscore/leads/pkg/store"
)

var programs = map[string]func(context.Context, []string, program.Options) error{
	"ingestor": program.Ingestor, "scorer": program.Scorer, "decayer": program.Decayer,
}

var defaultPorts = map[string]string{"ingestor": "8080", "scorer": "8081", "decayer": "8082"}

// flagsError says why a program refuses its flags: parsing reaches the
// final --help only when all flags before it are defined and valid.
func flagsError(name string, args []string) error {
	err := programs[name](context.Background(), append(args, "--help"), program.Options{})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return fmt.Errorf("%s refuses %v: %w", name, args, err)
}

func acceptsFlags(t *testing.T, name string, args []string) {
	t.Helper()
	require.NoError(t, flagsError(name, args))
}

func TestFlagCheckRefusesUnknownFlags(t *testing.T) {
	t.Parallel()
	assert.Error(t, flagsError("scorer", []string{"--no-such-flag=1"}))
	assert.Error(t, flagsError("decayer", envToFlags(map[string]string{"LEADS_INTERVAL": "soon"})))
	assert.NoError(t, flagsError("ingestor", envToFlags(map[string]string{"LEADS_MAX_EVENTS": "5"})))
}

// envToFlags turns LEADS_X_Y=v into --x-y=v.
func envToFlags(env map[string]string) []string {
	var out []string
	for k, v := range env {
		name, ok := strings.CutPrefix(k, "LEADS_")
		if !ok {
			continue
		}
		out = append(out, "--"+strings.ReplaceAll(strings.ToLower(name), "_", "-")+"="+v)
	}
	return out
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Command     any               `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func TestDockerCompose(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var f composeFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	require.NoError(t, dec.Decode(&f))

	kafka := f.Services["kafka"]
	assert.Equal(t, "broker,controller", kafka.Environment["KAFKA_PROCESS_ROLES"], "KRaft, no ZooKeeper")
	assert.NotContains(t, f.Services, "zookeeper")
	assert.NotNil(t, kafka.Healthcheck)
	assert.Equal(t, "false", kafka.Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"])

	topics := fmt.Sprint(f.Services["topics"].Command)
	assert.Contains(t, topics, "--topic leads.events --partitions 12 --config retention.ms=-1", "events are kept: replay rebuilds Redis")
	assert.Contains(t, topics, "--topic leads.transitions")
	assert.Contains(t, topics, "--topic leads.events.dlq")
	assert.Equal(t, "service_healthy", f.Services["topics"].DependsOn["kafka"].Condition)

	redis := fmt.Sprint(f.Services["redis"].Command)
	assert.Contains(t, redis, "--appendonly yes")
	assert.Contains(t, redis, fmt.Sprint("--hash-max-listpack-value ", store.HashMaxListpackValue), "homes stay listpacks")
	assert.NotNil(t, f.Services["redis"].Healthcheck)

	for name := range programs {
		s, ok := f.Services[name]
		require.True(t, ok, "service %s", name)
		assert.Equal(t, []string{"/usr/local/bin/" + name}, s.Entrypoint)
		assert.Equal(t, "service_completed_successfully", s.DependsOn["topics"].Condition)
		assert.Equal(t, "service_healthy", s.DependsOn["redis"].Condition)
		require.NotNil(t, s.Healthcheck, name)
		assert.Contains(t, strings.Join(s.Healthcheck.Test, " "), "http://127.0.0.1:"+defaultPorts[name]+"/readyz")
		acceptsFlags(t, name, envToFlags(s.Environment))
		for _, v := range s.Volumes {
			host, _, _ := strings.Cut(v, ":")
			if strings.HasSuffix(host, "model.yaml") {
				assertDefaultModel(t, "../"+host)
			}
		}
	}
}

func assertDefaultModel(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = model.Parse(data)
	require.NoError(t, err, "the deployed model validates")
	assert.Equal(t, string(model.DefaultYAML()), string(data), "the deployed model is the built-in default")
}

type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				Containers []struct {
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Ports   []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					Liveness  probe `yaml:"livenessProbe"`
					Readiness probe `yaml:"readinessProbe"`
					Resources struct {
						Requests map[string]string `yaml:"requests"`
					} `yaml:"resources"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func decodeAll(t *testing.T, r io.Reader) []manifest {
	t.Helper()
	dec := yaml.NewDecoder(r)
	var out []manifest
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, m)
	}
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	var all []manifest
	for name := range programs {
		f, err := os.Open("base/" + name + ".yaml")
		require.NoError(t, err)
		all = append(all, decodeAll(t, f)...)
		f.Close()
	}
	var kust struct {
		ConfigMapGenerator []struct {
			Name     string   `yaml:"name"`
			Literals []string `yaml:"literals"`
			Files    []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	raw, err := os.ReadFile("base/kustomization.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &kust))
	env := map[string]string{}
	for _, g := range kust.ConfigMapGenerator {
		for _, l := range g.Literals {
			k, v, _ := strings.Cut(l, "=")
			env[k] = v
		}
		for _, file := range g.Files {
			assertDefaultModel(t, "base/"+file)
		}
	}
	kinds := map[string]int{}
	for _, m := range all {
		kinds[m.Kind]++
		if m.Kind != "Deployment" {
			continue
		}
		c := m.Spec.Template.Spec.Containers[0]
		name := strings.TrimPrefix(c.Command[0], "/usr/local/bin/")
		require.Contains(t, programs, name)
		acceptsFlags(t, name, append(envToFlags(env), c.Args...))
		assert.Contains(t, c.Args, "--http-addr=:"+fmt.Sprint(c.Ports[0].ContainerPort))
		assert.Equal(t, defaultPorts[name], fmt.Sprint(c.Ports[0].ContainerPort))
		assert.Equal(t, "/healthz", c.Liveness.HTTPGet.Path)
		assert.Equal(t, "/readyz", c.Readiness.HTTPGet.Path)
		assert.Equal(t, c.Ports[0].Name, c.Liveness.HTTPGet.Port)
		assert.NotEmpty(t, c.Resources.Requests["cpu"])
		assert.NotEmpty(t, c.Resources.Requests["memory"])
		if name == "scorer" {
			assert.LessOrEqual(t, m.Spec.Replicas, 12, "scorers beyond the partition count idle")
		}
	}
	assert.Equal(t, map[string]int{"Deployment": 3, "Service": 3, "PodDisruptionBudget": 3}, kinds)
}

// TestKustomizeBuilds runs kustomize (through kubectl) when it is installed.
func TestKustomizeBuilds(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; TestKubernetesManifests checked the files themselves")
	}
	out, err := exec.Command(kubectl, "kustomize", "base").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ms := decodeAll(t, bytes.NewReader(out))
	assert.Len(t, ms, 11, "3 deployments, 3 services, 3 budgets, 2 config maps")
}
