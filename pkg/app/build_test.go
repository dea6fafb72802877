package app

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildNamesTheVersionRevisionAndGo(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		info *debug.BuildInfo
		want Build
	}{
		{"stamped by go build in a git checkout", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Path: "github.com/leadscore/leads", Version: "v0.0.0-20261206120000-670df2a6c0ff+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "670df2a6c0ffee6d0e7c1e5f4f0c1c2d3e4f5a6b"},
				{Key: "vcs.modified", Value: "true"}}},
			Build{Version: "v0.0.0-20261206120000-670df2a6c0ff+dirty", Revision: "670df2a6c0ffee6d0e7c1e5f4f0c1c2d3e4f5a6b", GoVersion: "go1.26.8"}},
		{"a release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}},
			Build{Version: "v1.4.0", Revision: "abc123", GoVersion: "go1.26.8"}},
		{"no VCS stamp (-buildvcs=false, no .git)", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			Build{Version: "(devel)", Revision: "unknown", GoVersion: "go1.26.8"}},
		{"nothing known", &debug.BuildInfo{}, Build{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, buildOf(tt.info))
		})
	}
	assert.Equal(t, "scorer v1.4.0, revision abc123, go1.26.8", Build{Version: "v1.4.0", Revision: "abc123", GoVersion: "go1.26.8"}.Line("scorer"))
}

// TestRegistryExportsTheBuild: every program's registry has
// leads_build_info{version,revision,go_version} 1, of the running binary.
func TestRegistryExportsTheBuild(t *testing.T) {
	t.Parallel()
	mfs, err := Registry().Gather()
	require.NoError(t, err)
	b := ReadBuild()
	assert.Equal(t, runtime.Version(), b.GoVersion)
	for _, mf := range mfs {
		if mf.GetName() != "leads_build_info" {
			continue
		}
		require.Len(t, mf.GetMetric(), 1)
		m := mf.GetMetric()[0]
		assert.Equal(t, 1.0, m.GetGauge().GetValue())
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		assert.Equal(t, map[string]string{"version": b.Version, "revision": b.Revision, "go_version": b.GoVersion}, labels)
		return
	}
	t.Fatal("no leads_build_info")
}
