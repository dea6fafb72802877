package app

import (
	"cmp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build says which build a binary is, as the Go toolchain stamped it.
type Build struct {
	// Version is the main module's: a tag, a pseudo-version, or (devel)
	// for a build the toolchain could not version.
	Version string
	// Revision is the VCS commit built, or unknown without a VCS stamp
	// (go build -buildvcs=false, a tree without .git such as the Docker
	// build context, and go test).
	Revision  string
	GoVersion string
}

// ReadBuild reads the running binary's Build.
func ReadBuild() Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	return buildOf(bi)
}

func buildOf(bi *debug.BuildInfo) Build {
	b := Build{Version: cmp.Or(bi.Main.Version, "unknown"), Revision: "unknown", GoVersion: cmp.Or(bi.GoVersion, runtime.Version())}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			b.Revision = s.Value
		}
	}
	return b
}

// Line is what --version prints for program.
func (b Build) Line(program string) string {
	return program + " " + b.Version + ", revision " + b.Revision + ", " + b.GoVersion
}

// collector is leads_build_info{version,revision,go_version}, always 1, so
// dashboards and alerts can tell which build each instance runs.
func (b Build) collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "leads_build_info",
		Help:        "The build of this binary (always 1): module version, VCS revision, Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "go_version": b.GoVersion}},
		func() float64 { return 1 })
}
