package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// A compliant repository: TLS required and configured, standalone mode,
// three nodes, a pool that fits them.
var compliant = map[string]string{
	"environments/prod.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
  target: fko
  namespace: flink-prod
  nodes:
    cpu: "8"
    memory: 32Gi
    count: 3
  serviceAccount: flink
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    flinkConfiguration:
      state.checkpoints.dir: s3://b/c
  tls:
    required: true
    secretName: prod-tls
`,
	"environments/eu.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata:
  name: eu
spec:
  target: cfk
  namespace: flink-eu
  nodes: {cpu: "8", memory: 32Gi, count: 3}
  defaults: {image: cp-flink:1.20, flinkVersion: v1_20}
  cfk:
    cmfRestClassRef: {name: cmf}
    cmfRest:
      endpoint: https://cmf.confluent.svc:8080
      authentication: mtls
`,
	"pools/p.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata:
  name: p
spec:
  taskManager:
    cpu: "2"
    memory: 8Gi
    slots: 2
  jobManager:
    cpu: "1"
    memory: 2Gi
  maxTaskManagers: 4
`,
	"apps/a.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: a
spec:
  environments: [prod, eu]
  pool: p
  mode: standalone
  job:
    jarURI: local:///a.jar
    args: ["--topic", "orders"]
  workload:
    recordsPerSecond: 1000
  flinkConfiguration:
    pipeline.name: a
`,
}

var twoTMs = render.Resources{TaskManagers: 2, Slots: 2, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30,
	JobManagerCPU: 1, JobManagerMemory: 2 << 30, CheckpointInterval: 30 * time.Second}

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// evaluate loads files, renders each environment with res and runs policy.
func evaluate(t *testing.T, files map[string]string, res render.Resources, daemon *model.Policy) []*diag.Finding {
	t.Helper()
	return evaluateSized(t, files, func(string, string) render.Resources { return res }, daemon)
}

// evaluateSized is evaluate with sizing per environment and app or statement.
func evaluateSized(t *testing.T, files map[string]string, size func(env, name string) render.Resources, daemon *model.Policy) []*diag.Finding {
	t.Helper()
	in, loadFindings := input(t, files, size, daemon)
	if len(loadFindings) > 0 {
		t.Fatalf("test repository must load: %v", loadFindings)
	}
	return Evaluate(in)
}

// input loads files and renders each environment with size, as
// pipeline.Run does: a repository with load findings (returned) is
// rendered and checked all the same.
func input(t *testing.T, files map[string]string, size func(env, name string) render.Resources, daemon *model.Policy) (Input, []*diag.Finding) {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range files {
		if v != "" {
			fsys[k] = &fstest.MapFile{Data: []byte(v)}
		}
	}
	repo, loadFindings, err := model.LoadFS(fsys)
	if err != nil {
		t.Fatalf("test repository does not load at all: %v", err)
	}
	rendered := map[string]*render.Environment{}
	for _, env := range repo.Environments {
		out, findings, err := render.Render(render.InputOf(repo, env,
			func(e, n string) (render.Resources, error) { return size(e, n), nil }), render.Options{Source: fsys})
		if err != nil || len(findings) > 0 {
			t.Fatalf("render %s: %v %v", env.Metadata.Name, err, findings)
		}
		rendered[env.Metadata.Name] = out
	}
	return Input{Repo: repo, Rendered: rendered, Daemon: daemon, Now: now}, loadFindings
}

// with is the compliant repository with changes: triples of file, text
// and its replacement (a whole new file when the text is empty).
func with(changes ...string) map[string]string { return edited(compliant, changes...) }

// edited is a copy of files with changes, as with.
func edited(files map[string]string, changes ...string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[k] = v
	}
	for i := 0; i+2 < len(changes)+1; i += 3 {
		file, from, to := changes[i], changes[i+1], changes[i+2]
		if from == "" {
			out[file] = to
			continue
		}
		if !strings.Contains(out[file], from) {
			panic(fmt.Sprintf("%s does not contain %q", file, from))
		}
		out[file] = strings.Replace(out[file], from, to, 1)
	}
	return out
}

func TestCompliantRepositoryPasses(t *testing.T) {
	if fs := evaluate(t, compliant, twoTMs, nil); len(fs) > 0 {
		for _, f := range fs {
			t.Errorf("unexpected finding: %s %s", f.Rule, f.String())
		}
	}
}

const overlayFile = "overlays/prod/kustomization.yaml"

func TestEachRule(t *testing.T) {
	cases := []struct {
		rule  string
		files map[string]string
		res   render.Resources
		file  string
		line  int
	}{
		{"RBAC-001", with(overlayFile, "", "resources: [crb.yaml]\n", "overlays/prod/crb.yaml", "",
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: flink, namespace: flink-prod}]\n"),
			twoTMs, overlayFile, 1},
		{"RBAC-002", with(overlayFile, "", "patches:\n- target: {kind: Role}\n  patch: |-\n    - op: add\n      path: /rules/-\n      value: {apiGroups: [\"\"], resources: [secrets], verbs: [get]}\n"),
			twoTMs, overlayFile, 1},
		{"RBAC-003", with("environments/prod.yaml", "serviceAccount: flink", "serviceAccount: default"), twoTMs, "environments/prod.yaml", 12},
		{"RBAC-004", with("environments/eu.yaml", "namespace: flink-eu", "namespace: flink-prod"), twoTMs, "environments/eu.yaml", 7},
		{"RBAC-005", with(overlayFile, "", "patches:\n- target: {kind: RoleBinding}\n  patch: |-\n    - op: replace\n      path: /roleRef/kind\n      value: ClusterRole\n"),
			twoTMs, overlayFile, 1},
		{"RBAC-006", with("apps/a.yaml", "  mode: standalone\n", ""), twoTMs, "environments/prod.yaml", 18},
		{"TLS-001", with("apps/a.yaml", "pipeline.name: a", "security.ssl.rest.enabled: false"), twoTMs, "apps/a.yaml", 15},
		{"TLS-002", with("environments/prod.yaml", "    secretName: prod-tls\n", ""), twoTMs, "environments/prod.yaml", 18},
		{"TLS-003", with("apps/a.yaml", "pipeline.name: a", "security.ssl.internal.keystore-password: hunter2"), twoTMs, "apps/a.yaml", 15},
		{"TLS-004", with("apps/a.yaml", "pipeline.name: a", "security.ssl.protocol: TLSv1.1"), twoTMs, "apps/a.yaml", 15},
		{"TLS-005", with("apps/a.yaml", "pipeline.name: a", "properties.security.protocol: PLAINTEXT"), twoTMs, "apps/a.yaml", 15},
		{"TLS-006", with("environments/eu.yaml", "https://cmf", "http://cmf"), twoTMs, "environments/eu.yaml", 13},
		{"CPU-001", with("pools/p.yaml", "cpu: \"2\"", "cpu: \"12\"", "pools/p.yaml", "memory: 8Gi", "memory: 8Gi"), twoTMs, "pools/p.yaml", 7},
		{"CPU-002", with("pools/p.yaml", "cpu: \"1\"", "cpu: \"9\""), twoTMs, "pools/p.yaml", 11},
		{"CPU-003", with(), render.Resources{TaskManagers: 5, Slots: 1, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30, JobManagerCPU: 1, JobManagerMemory: 2 << 30},
			"apps/a.yaml", 12},
		{"CPU-004", with("pools/p.yaml", "maxTaskManagers: 4", "maxTaskManagers: 20"), render.Resources{TaskManagers: 12, Slots: 1, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30, JobManagerCPU: 1, JobManagerMemory: 2 << 30},
			"environments/eu.yaml", 8},
		{"CPU-005", with("environments/prod.yaml", "count: 3", "count: 2"), twoTMs, "environments/prod.yaml", 11},
		{"CPU-006", with("pools/p.yaml", "memory: 8Gi", "memory: 40Gi"), twoTMs, "pools/p.yaml", 8},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			fs := evaluate(t, tc.files, tc.res, nil)
			rules := map[string]bool{}
			var hit *diag.Finding
			for _, f := range fs {
				rules[f.Rule] = true
				if f.Rule == tc.rule && hit == nil {
					hit = f
				}
			}
			var got []string
			for r := range rules {
				got = append(got, r)
			}
			sort.Strings(got)
			if len(got) != 1 || got[0] != tc.rule {
				t.Fatalf("want exactly %s, got %v:\n%s", tc.rule, got, dump(fs))
			}
			if hit.File != tc.file || hit.Line != tc.line {
				t.Errorf("%s at %s:%d, want %s:%d (%s)", tc.rule, hit.File, hit.Line, tc.file, tc.line, hit.Message)
			}
			r, _ := RuleByID(tc.rule)
			if hit.Severity != r.Severity || hit.Environment == "" || hit.Message == "" {
				t.Errorf("finding lacks severity, environment or message: %+v", hit)
			}
		})
	}
}

func dump(fs []*diag.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %s/%s: %s\n", f.Location(), f.Rule, f.Environment, f.App, f.Message)
	}
	return b.String()
}

func TestOverlayRoleWithSecretsIsCaughtWithoutAnOverlayedFile(t *testing.T) {
	fs := evaluate(t, with(overlayFile, "", "patches:\n- target: {kind: Role}\n  patch: |-\n    - op: replace\n      path: /rules/0/resources\n      value: [\"*\"]\n"), twoTMs, nil)
	if len(fs) != 1 || fs[0].Rule != "RBAC-002" || !strings.Contains(fs[0].Message, "wildcard") {
		t.Fatalf("want one RBAC-002 wildcard finding:\n%s", dump(fs))
	}
}

func TestCapacityWarningAbove80Percent(t *testing.T) {
	// prod: 3 nodes × 8 = 24 CPU; 10 TMs × 2 + 1 JM = 21 CPU = 87.5%.
	fs := evaluate(t, with("pools/p.yaml", "maxTaskManagers: 4", "maxTaskManagers: 20"),
		render.Resources{TaskManagers: 10, Slots: 1, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30, JobManagerCPU: 1, JobManagerMemory: 2 << 30}, nil)
	if len(fs) != 2 || fs[0].Rule != "CPU-004" || fs[0].Severity != diag.Warning {
		t.Fatalf("want CPU-004 warnings only:\n%s", dump(fs))
	}
	if s := diag.Summarize(fs); s.Errors != 0 || s.Warnings != 2 {
		t.Errorf("summary %+v", s)
	}
}

const waiverPolicy = `apiVersion: flinksync.dev/v1alpha1
kind: Policy
metadata: {name: org}
spec:
  waivers:
    - rule: CPU-005
      environment: prod
      reason: "a third node arrives next month"
      expires: %s
`

func TestWaiverSuppressesUntilExpiry(t *testing.T) {
	files := with("environments/prod.yaml", "count: 3", "count: 2", "policy.yaml", "", fmt.Sprintf(waiverPolicy, "2026-11-21"))
	fs := evaluate(t, files, twoTMs, nil)
	if len(fs) != 1 || !fs[0].Waived || fs[0].Rule != "CPU-005" || !strings.Contains(fs[0].WaivedBy, "next month") {
		t.Fatalf("a waiver on its last day must still apply:\n%s", dump(fs))
	}
	if s := diag.Summarize(fs); s.Waived != 1 || s.Warnings != 0 {
		t.Errorf("summary %+v", s)
	}

	files["policy.yaml"] = fmt.Sprintf(waiverPolicy, "2026-11-20")
	fs = evaluate(t, files, twoTMs, nil)
	rules := map[string]bool{}
	for _, f := range fs {
		rules[f.Rule] = !f.Waived
	}
	if !rules["CPU-005"] || !rules["WAIVER-001"] || len(fs) != 2 {
		t.Fatalf("an expired waiver stops applying and is reported:\n%s", dump(fs))
	}
}

func TestUnwaivableRuleCannotBeWaivedByRepository(t *testing.T) {
	files := with("environments/prod.yaml", "count: 3", "count: 2", "policy.yaml", "", fmt.Sprintf(waiverPolicy, "2027-03-31"))
	daemon := &model.Policy{Spec: model.PolicySpec{Unwaivable: []string{"CPU-005"}}}
	fs := evaluate(t, files, twoTMs, daemon)
	var waived, warned bool
	for _, f := range fs {
		waived = waived || f.Waived
		warned = warned || f.Rule == "WAIVER-002"
	}
	if waived || !warned {
		t.Fatalf("the daemon's unwaivable rule must not be waived, and the waiver reported:\n%s", dump(fs))
	}
}

// The rules prune and isolation rest on cannot be waived, even when the
// daemon runs without a policy of its own (the chart's default), and not by
// the daemon's own policy either.
func TestBuiltinUnwaivableRules(t *testing.T) {
	shared := with("environments/eu.yaml", "namespace: flink-eu", "namespace: flink-prod")
	waive := `apiVersion: flinksync.dev/v1alpha1
kind: Policy
metadata: {name: org}
spec:
  waivers:
    - rule: RBAC-004
      reason: "we know"
      expires: 2099-01-01
`
	for _, tc := range []struct {
		name   string
		files  map[string]string
		daemon *model.Policy
	}{
		{"repository waiver, no daemon policy", with2(shared, "policy.yaml", waive), nil},
		{"daemon waiver", shared, &model.Policy{Spec: model.PolicySpec{Waivers: []model.Waiver{{Rule: "RBAC-004", Reason: "x", Expires: model.Date{Time: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := evaluate(t, tc.files, twoTMs, tc.daemon)
			var blocking, warned bool
			for _, f := range fs {
				blocking = blocking || (f.Rule == "RBAC-004" && f.Blocks())
				warned = warned || f.Rule == "WAIVER-002"
			}
			if !blocking || !warned {
				t.Fatalf("RBAC-004 must stay an unwaived error and the waiver be reported:\n%s", dump(fs))
			}
		})
	}
}

func with2(files map[string]string, name, content string) map[string]string {
	out := map[string]string{name: content}
	for k, v := range files {
		out[k] = v
	}
	return out
}

func TestRepositoryCanOnlyTighten(t *testing.T) {
	daemon := &model.Policy{Spec: model.PolicySpec{MaxTaskManagerCPU: model.MustQuantity("4"), RequireTLS: []string{"eu"}}}
	repo := []*model.Policy{{Spec: model.PolicySpec{MaxTaskManagerCPU: model.MustQuantity("16")}}}
	e := Merge(daemon, repo)
	if e.MaxTaskManagerCPU.String() != "4" {
		t.Errorf("a repository must not raise the daemon's CPU limit: %s", e.MaxTaskManagerCPU.String())
	}
	repo[0].Spec.MaxTaskManagerCPU = model.MustQuantity("2")
	if e := Merge(daemon, repo); e.MaxTaskManagerCPU.String() != "2" {
		t.Errorf("a repository may lower it: %s", e.MaxTaskManagerCPU.String())
	}
	if !e.requireTLS["eu"] {
		t.Errorf("the daemon's requireTLS must stay")
	}
	// requireTLS from the daemon makes eu's missing TLS an error.
	fs := evaluate(t, compliant, twoTMs, &model.Policy{Spec: model.PolicySpec{RequireTLS: []string{"eu"}}})
	rules := map[string]bool{}
	for _, f := range fs {
		rules[f.Rule] = true
	}
	if !rules["TLS-001"] || !rules["TLS-002"] {
		t.Errorf("requireTLS from the daemon must apply to eu:\n%s", dump(fs))
	}
}

func TestCheckCertificate(t *testing.T) {
	env := &model.Environment{Metadata: model.ObjectMeta{Name: "prod"}, Spec: model.EnvironmentSpec{Namespace: "flink-prod", TLS: &model.TLS{SecretName: "prod-tls"}}}
	for _, tc := range []struct {
		notAfter time.Time
		want     string
	}{{now.Add(-time.Hour), "expired"}, {now.Add(10 * 24 * time.Hour), "expires on"}, {now.Add(90 * 24 * time.Hour), ""}} {
		f := CheckCertificate(env, selfSigned(t, tc.notAfter), now)
		switch {
		case tc.want == "" && f != nil:
			t.Errorf("a certificate valid for 90 days raised %s", f.Message)
		case tc.want != "" && (f == nil || f.Rule != "TLS-007" || !strings.Contains(f.Message, tc.want)):
			t.Errorf("want TLS-007 %q, got %+v", tc.want, f)
		}
	}
	if f := CheckCertificate(env, []byte("garbage"), now); f == nil {
		t.Errorf("an unreadable certificate must be reported")
	}
}

func selfSigned(t *testing.T, notAfter time.Time) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flink"},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestOverlayThatDropsTheTLSPasswordIsCaught(t *testing.T) {
	// Replacing a component's pod template removes the init container that
	// writes the keystore password: TLS-002, at the overlay.
	fs := evaluate(t, with(overlayFile, "", "patches:\n- target: {kind: FlinkDeployment}\n  patch: |-\n    - op: add\n      path: /spec/taskManager/podTemplate\n      value: {spec: {tolerations: [{key: dedicated, operator: Exists}]}}\n"), twoTMs, nil)
	if len(fs) != 1 || fs[0].Rule != "TLS-002" || fs[0].File != overlayFile || !strings.Contains(fs[0].Message, "taskManager") ||
		strings.Contains(fs[0].Message, "jobManager") || !strings.Contains(fs[0].Message, "prod-tls-password") {
		t.Fatalf("want one TLS-002 at the overlay for the taskManager pods:\n%s", dump(fs))
	}
	// A pod-wide template beside the component templates is merged by the
	// operator and keeps the password wiring.
	fs = evaluate(t, with(overlayFile, "", "patches:\n- target: {kind: FlinkDeployment}\n  patch: |-\n    - op: add\n      path: /spec/podTemplate\n      value: {spec: {tolerations: [{key: dedicated, operator: Exists}]}}\n"), twoTMs, nil)
	if len(fs) != 0 {
		t.Fatalf("a spec.podTemplate patch must not break the password wiring:\n%s", dump(fs))
	}
}
