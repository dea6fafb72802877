package deploy

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestIngestorRequiresItsTokens: the base never runs the ingestor open; it
// reads --tokens-file from a mounted Secret, which holds hashes only.
func TestIngestorRequiresItsTokens(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("base/ingestor.yaml")
	require.NoError(t, err)
	var dep struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Args         []string `yaml:"args"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name   string `yaml:"name"`
						Secret *struct {
							SecretName string `yaml:"secretName"`
							Optional   bool   `yaml:"optional"`
						} `yaml:"secret"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	require.NoError(t, yaml.NewDecoder(strings.NewReader(string(raw))).Decode(&dep))
	require.Equal(t, "Deployment", dep.Kind)
	pod := dep.Spec.Template.Spec
	var file string
	for _, a := range pod.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--tokens-file="); ok {
			file = v
		}
	}
	require.NotEmpty(t, file, "the ingestor is given a tokens file")
	mounted := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounted[m.Name] = m.MountPath
	}
	for _, v := range pod.Volumes {
		if v.Secret == nil || v.Secret.SecretName != "leads-ingestor-tokens" {
			continue
		}
		assert.False(t, v.Secret.Optional, "a missing Secret stops the pod instead of running it open")
		assert.True(t, strings.HasPrefix(file, mounted[v.Name]+"/"), "%s is in the Secret's mount %s", file, mounted[v.Name])
		return
	}
	t.Fatal("no volume from the Secret leads-ingestor-tokens")
}
