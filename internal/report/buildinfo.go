package report

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flinksync/flinksync/internal/buildinfo"
)

// registerBuildInfo adds flinksync_build_info: 1, labelled with the
// version, commit and Go version of the running binary, as Prometheus's
// own build_info metrics are, so that a dashboard can tell which
// flinksync runs where.
func registerBuildInfo(reg prometheus.Registerer, i buildinfo.Info) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_build_info",
		Help: "1, labelled with the version, commit and Go version of the running flinksync."},
		[]string{"version", "commit", "goversion"})
	g.WithLabelValues(i.Version, i.Commit, i.GoVersion).Set(1)
	reg.MustRegister(g)
}
