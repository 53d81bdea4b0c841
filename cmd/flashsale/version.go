package main

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// buildStamp is what the Go toolchain stamped into the binary: the module's
// version (a tag, or "(devel)" for a build from a checkout) and the VCS
// revision, its time and whether the tree had changes.
type buildStamp struct {
	version, revision, time string
	modified                bool
}

func readBuild() buildStamp {
	b := buildStamp{version: "(unknown)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.version = info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// version is the build as one line: "v1.2.0", or "(devel) 3f2a1c9 2026-12-06T23:11:00Z modified".
func version() string {
	b := readBuild()
	parts := []string{b.version}
	if b.revision != "" {
		parts = append(parts, b.revision[:min(len(b.revision), 12)], b.time)
	}
	if b.modified {
		parts = append(parts, "modified")
	}
	return strings.Join(parts, " ")
}

// buildInfo is the flashsale_build_info gauge: 1, labelled with the build,
// so that dashboards show which version each instance runs.
func buildInfo() prometheus.Collector {
	b := readBuild()
	modified := "false"
	if b.modified {
		modified = "true"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "flashsale_build_info",
		Help:        "1, labelled with the version, VCS revision and build time of the running binary.",
		ConstLabels: prometheus.Labels{"version": b.version, "revision": b.revision, "vcs_time": b.time, "modified": modified},
	})
	g.Set(1)
	return g
}
