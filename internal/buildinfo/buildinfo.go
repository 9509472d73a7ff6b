// Package buildinfo says which flinksync this is: its version, the commit
// it was built from, the Go version, and the operator APIs it renders for.
// The version and commit come from the linker (-X) when the Makefile
// builds the binary, else from what the Go toolchain records of the
// module and its VCS checkout.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker: go build -ldflags "-X github.com/flinksync/flinksync/internal/buildinfo.version=v0.3.0 -X ...commit=abc".
var (
	version string
	commit  string
)

// API is an operator API flinksync renders objects for.
type API struct {
	// Operator is FKO or CFK.
	Operator string `json:"operator"`
	// APIVersion is the group and version of the objects ("flink.apache.org/v1beta1").
	APIVersion string `json:"apiVersion"`
	// Checked is the operator release whose schemas the tests judge
	// rendered objects against.
	Checked string `json:"checkedAgainst"`
}

// APIs are the operator APIs this build renders for.
var APIs = []API{
	{Operator: "FKO", APIVersion: "flink.apache.org/v1beta1", Checked: "Flink Kubernetes Operator 1.15.0 CRDs"},
	{Operator: "CFK", APIVersion: "platform.confluent.io/v1beta1", Checked: "Confluent for Kubernetes 3.3.0 CRDs"},
}

// Info is what `flinksync version` prints and flinksync_build_info carries.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	APIs      []API  `json:"apis"`
}

// Get is this binary's Info.
func Get() Info {
	i := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, APIs: APIs}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}

// String is the one-line form the daemon logs at start.
func (i Info) String() string {
	commit := i.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if i.Modified {
		commit += "-dirty"
	}
	var apis []string
	for _, a := range i.APIs {
		apis = append(apis, a.Operator+" "+a.APIVersion)
	}
	return fmt.Sprintf("flinksync %s (commit %s, %s, %s; renders %s)", i.Version, commit, i.GoVersion, i.Platform, strings.Join(apis, ", "))
}
