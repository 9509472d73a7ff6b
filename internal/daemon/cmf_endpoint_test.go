package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestDaemonCMFEndpointOverride: Config.CMFEndpoints (run --cmf-endpoint)
// syncs the example's cmf environment with a CMF stand-in although the
// served repository keeps the example's endpoint (a real CMF's URL, which
// does not resolve here); an override naming a cfk environment fails that
// environment, saying why, and no other.
func TestDaemonCMFEndpointOverride(t *testing.T) {
	const repo = "../../examples/repo-layout"
	cfg := testenv.Config(t)
	f := &fixture{t: t, cfg: cfg, suffix: fmt.Sprintf("-d%d", fixtureN.Add(1)), alerts: newAlertSink(t)}
	s := cmftest.ForRepository(t, repo) // fails the test on a violation of CMF's API description
	// Namespaces made unique, the endpoint left as the example has it
	// (newFixture would point it at the stand-in).
	f.git = newGitServer(t, repo, testenv.UniqueNamespaces(t, cfg, f.suffix))
	s.WriteClientSecret(t, cfg, f.ns(exampleCMFEnv), exampleCMFSecret)
	f.dyn, _ = dynamic.NewForConfig(cfg)
	f.d = f.newDaemon(options{interval: 200 * time.Millisecond, drift: 300 * time.Millisecond})
	// newDaemon (fixture_test.go) takes no endpoints; Run reads them.
	f.d.cfg.CMFEndpoints = map[string]string{exampleCMFEnv: s.URL, "prod-eu": "https://cmf.example:8080"}
	f.start()

	const app = "/environments/" + exampleCMFEnv + "/applications/audit-archiver"
	eventually(t, 60*time.Second, "prod-cmf applied on the stand-in", func() bool {
		e := f.env(exampleCMFEnv)
		return e.AppliedRevision == f.head() && e.Result == report.ResultSuccess && s.Get(app) != nil
	})
	if e := f.env(exampleCMFEnv); len(e.Errors) > 0 {
		t.Errorf("prod-cmf errors: %v", e.Errors)
	}
	for _, p := range []string{"/environments/" + exampleCMFEnv + "/applications/inventory-sync", "/environments/" + exampleCMFEnv + "/compute-pools/sql"} {
		if s.Get(p) == nil {
			t.Errorf("the stand-in does not hold %s; it holds %v", p, s.Paths("/environments/"+exampleCMFEnv))
		}
	}
	const want = "--cmf-endpoint prod-eu: environment prod-eu has target cfk, not cmf"
	eventually(t, 30*time.Second, "prod-eu failed naming the override", func() bool {
		return strings.Contains(strings.Join(f.env("prod-eu").Errors, "\n"), want)
	})
	eventually(t, 30*time.Second, "dev applied (the override fails prod-eu alone)", func() bool {
		e := f.env("dev")
		return e.AppliedRevision == f.head() && e.Result == report.ResultSuccess
	})
}
