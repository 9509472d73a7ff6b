package policy

import (
	"strings"
	"testing"
)

// The cmf environment the tests below make of eu: CMF wants an
// environment's name to have at least 4 characters.
const (
	euCMF        = "eu-cmf"
	overlayEUCMF = "overlays/" + euCMF + "/kustomization.yaml"
)

// onCMF is files with eu (cfk) turned into euCMF, a cmf environment with
// the same nodes, defaults and SQL: eu's statements, pools, catalogs and
// overlay go to it, and the overlay's patches target the CMF kinds of the
// CFK kinds they named.
func onCMF(files map[string]string) map[string]string {
	envs := strings.NewReplacer("[eu]", "["+euCMF+"]", "[prod, eu]", "[prod, "+euCMF+"]")
	kinds := strings.NewReplacer("kind: FlinkComputePool", "kind: ComputePool", "kind: FlinkStatement", "kind: Statement",
		"kind: FlinkKafkaCatalog", "kind: KafkaCatalog", "kind: FlinkKafkaDatabase", "kind: KafkaDatabase")
	out := map[string]string{}
	for p, text := range files {
		if rest, ok := strings.CutPrefix(p, "overlays/eu/"); ok {
			p, text = "overlays/"+euCMF+"/"+rest, kinds.Replace(text)
		}
		out[p] = envs.Replace(text)
	}
	return edited(out, "environments/eu.yaml", "name: eu\n", "name: "+euCMF+"\n", "environments/eu.yaml", "target: cfk", "target: cmf",
		"environments/eu.yaml", `  cfk:
    cmfRestClassRef: {name: cmf}
    cmfRest:
      endpoint: https://cmf.confluent.svc:8080
      authentication: mtls
`, `  cmf:
    endpoint: https://cmf.confluent.svc:8080
    auth: {mtls: {secretRef: cmf-client-tls}}
`)
}

func TestCompliantSQLRepositoryPassesOnCMF(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"cmf":               onCMF(withSQL()),
		"cmf requiring TLS": onCMF(withSQL(euTLS...)),
	} {
		t.Run(name, func(t *testing.T) {
			if fs := evaluate(t, files, twoTMs, nil); len(fs) > 0 {
				t.Errorf("unexpected findings:\n%s", dump(fs))
			}
		})
	}
}

// Every rule that reaches CFK's SQL objects reaches their CMF
// counterparts, at the same lines: the model's, or the overlay's.
func TestEachRuleOnSQLOnCMF(t *testing.T) {
	for _, tc := range sqlRuleCases() {
		tc.files = onCMF(tc.files)
		if tc.file == "overlays/eu/kustomization.yaml" {
			tc.file = overlayEUCMF
		}
		tc.msg = strings.TrimPrefix(tc.msg, "Flink")
		t.Run(tc.name, func(t *testing.T) { tc.check(t) })
	}
}

// Defaults an overlay adds to the CMF environment reach its statements and
// pools as a FlinkEnvironment's reach CFK's: they are checked, at the
// overlay.
func TestOverlayDefaultsOfTheCMFEnvironmentAreChecked(t *testing.T) {
	files := onCMF(withSQL(edits(euTLS, []string{"overlays/eu/kustomization.yaml", "", patchOf("kind: Environment", "add", "/spec/statementDefaults",
		"{detached: {flinkConfiguration: {properties.security.protocol: PLAINTEXT}}}") +
		"- target: {kind: Environment}\n  patch: |-\n    - op: add\n      path: /spec/computePoolDefaults\n      value: {clusterSpec: {flinkConfiguration: {fs.s3a.secret.key: hunter2}}}\n"})...))
	fs := evaluate(t, files, twoTMs, nil)
	if len(fs) != 3 {
		t.Errorf("want 3 findings, got:\n%s", dump(fs))
	}
	got := map[string]bool{}
	for _, f := range fs {
		got[f.Rule+" "+strings.Split(f.Object, "/")[0]+" "+f.App] = true
		if f.File != overlayEUCMF || f.Line != 1 {
			t.Errorf("%s at %s:%d, want it at the overlay", f.Rule, f.File, f.Line)
		}
	}
	for _, want := range []string{"TLS-005 Statement enrich", "TLS-005 Statement create-orders", "TLS-003 ComputePool "} {
		if !got[want] {
			t.Errorf("want %s:\n%s", want, dump(fs))
		}
	}
}
