package daemon

import (
	"regexp"

	"github.com/flinksync/flinksync/internal/cmf/cmftest"
)

// The example's target: cmf environment and the Secret of its client
// certificate (examples/repo-layout/environments/prod-cmf.yaml).
const (
	exampleCMFEnv    = "prod-cmf"
	exampleCMFSecret = "cmf-client-tls"
)

// cmfEndpoint is the endpoint line of an environment's spec.cmf.
var cmfEndpoint = regexp.MustCompile(`(?m)^    endpoint: \S+$`)

// exampleCMF is a CMF stand-in for the example's cmf environment
// (cmftest.ForRepository: it fails the test on a violation of CMF's API
// description).
type exampleCMF struct{ *cmftest.Server }

// rewrite wraps a CopyTree rewrite: the cmf environment's endpoint (a real
// CMF's URL in the example) becomes the stand-in's, in the test's copy.
// Most daemon tests serve a repository that names the stand-in;
// TestDaemonCMFEndpointOverride keeps the example's endpoint and gives the
// daemon Config.CMFEndpoints (run --cmf-endpoint) instead.
func (c exampleCMF) rewrite(next func(string, []byte) []byte) func(string, []byte) []byte {
	return func(rel string, data []byte) []byte {
		if next != nil {
			data = next(rel, data)
		}
		if rel == "environments/"+exampleCMFEnv+".yaml" {
			data = cmfEndpoint.ReplaceAll(data, []byte("    endpoint: "+c.URL))
		}
		return data
	}
}
