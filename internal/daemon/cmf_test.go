package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/report"
)

// TestDaemonSyncsACMFEnvironment: the daemon syncs a target: cmf
// environment through the CMF stand-in (mTLS, credentials from files),
// reports it in its status, and corrects a change made in CMF at the next
// pass.
func TestDaemonSyncsACMFEnvironment(t *testing.T) {
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	s.AddSecret("sr-credentials")
	s.AddSecret("kafka-credentials")
	t.Setenv(cmf.FilesDirEnv, s.FilesDir)
	repo := s.Repository(t, "../cmf/cmfsync/testdata/repo")
	f := newFixture(t, options{repo: repo, interval: 200 * time.Millisecond, drift: 300 * time.Millisecond})
	eventually(t, 30*time.Second, "the cmf environment applied", func() bool {
		e := f.env("prod-cmf")
		return e.AppliedRevision == f.head() && e.Result == report.ResultSuccess && s.Get("/environments/prod-cmf/applications/orders-enrich") != nil
	})
	const path = "/environments/prod-cmf/applications/orders-enrich"
	live := s.Get(path)
	live["spec"].(map[string]any)["job"].(map[string]any)["parallelism"] = 99
	s.Set(path, live)
	eventually(t, 30*time.Second, "the change in CMF corrected", func() bool {
		p := s.Get(path)["spec"].(map[string]any)["job"].(map[string]any)["parallelism"]
		return p != nil && p != float64(99) && p != 99
	})
	if e := f.env("prod-cmf"); len(e.Errors) > 0 {
		t.Errorf("errors: %v", e.Errors)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("the CMF stand-in counted violations:\n%s", strings.Join(v, "\n"))
	}
}
