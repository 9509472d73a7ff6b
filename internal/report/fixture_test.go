package report

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/pipeline"
)

// A repository that produces, through the real pipeline: an error at a line
// (TLS-004), an error in a file whose name needs escaping in a URI (TLS-003
// in "apps/my app.yaml"), a warning that a waiver suppresses (CPU-005), and
// a load error (LOAD-007).
var fixtureRepo = fstest.MapFS{
	"environments/prod.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  target: fko
  namespace: flink-prod
  nodes: {cpu: "8", memory: 32Gi, count: 2}
  serviceAccount: flink
  defaults: {image: flink:1.20, flinkVersion: v1_20}
`)},
	"pools/p.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: p}
spec:
  taskManager: {cpu: "1", memory: 4Gi, slots: 1}
`)},
	"apps/a.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: a}
spec:
  environments: [prod]
  pool: p
  job: {jarURI: local:///a.jar}
  taskManagers: 1
  flinkConfiguration:
    security.ssl.protocol: TLSv1.1
`)},
	"apps/my app.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: b}
spec:
  environments: [prod]
  pool: p
  job: {jarURI: local:///b.jar}
  taskManagers: 1
  flinkConfiguration:
    s3.secret.key: hunter2
`)},
	"apps/c.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: c}
spec:
  environments: [prod]
  pool: missing
  job: {jarURI: local:///c.jar}
`)},
	"policy.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: Policy
metadata: {name: org}
spec:
  waivers:
    - rule: CPU-005
      environment: prod
      reason: "a third node arrives in December"
      expires: 2099-12-31
`)},
}

// fixtureFindings runs the pipeline over fixtureRepo and adds a
// repository-level finding (no file, as LOAD-011 has) and a finding of a
// rule the rule list does not know.
func fixtureFindings(t *testing.T) []*diag.Finding {
	t.Helper()
	res, err := pipeline.Run(fixtureRepo, pipeline.Options{Now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"TLS-004": false, "TLS-003": false, "CPU-005": false, "LOAD-007": false}
	for _, f := range res.Findings {
		if _, ok := want[f.Rule]; ok {
			want[f.Rule] = true
		}
		if f.Rule == "CPU-005" && !f.Waived {
			t.Fatalf("the fixture's CPU-005 must be waived: %+v", f)
		}
	}
	for rule, seen := range want {
		if !seen {
			t.Fatalf("the fixture no longer produces %s: %v", rule, res.Findings)
		}
	}
	fs := append([]*diag.Finding{{Rule: "LOAD-011", Severity: diag.Error,
		Message: "the repository declares no Environment"}}, res.Findings...)
	fs = append(fs, &diag.Finding{Rule: "EXT-001", Severity: diag.Warning, File: "apps/a.yaml", Line: 3, Message: "from an extension"})
	diag.Sort(fs)
	return fs
}
