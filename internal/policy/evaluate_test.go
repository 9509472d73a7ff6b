package policy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// manyEnvironments is a repository of six fko environments with findings
// in each: env4 and env5 share a namespace (RBAC-004, across
// environments), env0 and env2 require TLS without configuring it
// (TLS-001, TLS-002, and TLS-005 for the apps' Kafka on PLAINTEXT), every
// app writes a secret inline (TLS-003, waived in env1) and a weak TLS
// protocol (TLS-004), and three nodes are too few for 40 apps (CPU-004).
func manyEnvironments() map[string]string {
	files := testrepo.Files(testrepo.Options{Apps: 40, Envs: 6, Nodes: 3, Namespace: func(env string) string {
		return "flink-" + strings.Replace(env, "env5", "env4", 1)
	}})
	for a := 0; a < 40; a++ {
		files[testrepo.AppFile(a)] += fmt.Sprintf("  flinkConfiguration: {s3.secret-key: k%d, security.ssl.protocol: TLSv1.1, kafka.security.protocol: PLAINTEXT}\n", a)
	}
	files["policies/org.yaml"] = `apiVersion: flinksync.dev/v1alpha1
kind: Policy
metadata: {name: org}
spec:
  requireTLS: [env0, env2]
  waivers:
  - {rule: TLS-003, environment: env1, reason: migrating, expires: 2099-01-01}
`
	return files
}

// Evaluate checks environments concurrently; its findings are the same,
// in the same order, pass after pass.
func TestEvaluateIsDeterministic(t *testing.T) {
	in, loadFindings := input(t, manyEnvironments(), func(string, string) render.Resources { return twoTMs }, nil)
	if len(loadFindings) > 0 {
		t.Fatal(loadFindings)
	}
	first := values(Evaluate(in))
	envs := map[string]bool{}
	for _, f := range first {
		envs[f.Environment] = true
	}
	if len(envs) != 6 {
		t.Fatalf("want findings in all 6 environments, got them in %d:\n%v", len(envs), first)
	}
	for pass := 2; pass <= 5; pass++ {
		if again := values(Evaluate(in)); !reflect.DeepEqual(again, first) {
			t.Fatalf("pass %d differs from pass 1 (%d findings, then %d)", pass, len(first), len(again))
		}
	}
}

func values(fs []*diag.Finding) []diag.Finding {
	out := make([]diag.Finding, len(fs))
	for i, f := range fs {
		out[i] = *f
	}
	return out
}

// A repository whose load reported a statement named like an app is still
// rendered and checked (pipeline.Run): a finding about the statement's
// FlinkStatement points at the statement, not at the app of its name.
func TestStatementNamedLikeAnAppOwnsItsObject(t *testing.T) {
	files := withSQL("statements/enrich.yaml", "name: enrich\n", "name: a\n",
		"statements/enrich.yaml", "pipeline.name: enrich", "s3.secret-key: hunter2")
	in, loadFindings := input(t, files, func(string, string) render.Resources { return twoTMs }, nil)
	if !strings.Contains(fmt.Sprint(loadFindings), "has the name of the FlinkApplication") {
		t.Fatalf("want the load to report the shared name, got %v", loadFindings)
	}
	fs := Evaluate(in)
	for _, f := range fs {
		if f.Rule == "TLS-003" && f.App == "a" && f.File == "statements/enrich.yaml" && f.Line == enrichConf {
			return
		}
	}
	t.Errorf("want TLS-003 at statements/enrich.yaml:%d for statement a, got:\n%s", enrichConf, dump(fs))
}
