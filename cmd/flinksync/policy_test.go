package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/report"
)

// A compliant repository for `flinksync validate`: prod (fko) requires TLS
// and has its certificate secret, runs standalone on three 8-CPU nodes; eu
// (cfk) renders its CMFRestClass with https and mTLS. The app pins two
// TaskManagers, so the real sizing engine gives every environment 2 × 2 + 1
// = 5 CPU of 24. Line numbers below refer to these files.
var compliantRepo = map[string]string{
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
    mode: standalone
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
  nodes:
    cpu: "8"
    memory: 32Gi
    count: 3
  serviceAccount: flink
  defaults:
    image: confluentinc/cp-flink:1.20.1-cp1
    flinkVersion: v1_20
    mode: standalone
  cfk:
    cmfRestClassRef:
      name: cmf
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
  job:
    jarURI: local:///opt/flink/usrlib/a.jar
    args: ["--topic", "orders"]
  taskManagers: 2
  flinkConfiguration:
    pipeline.name: a
`,
}

// Lines of compliantRepo that findings point at.
const (
	prodNamespace, prodCount, prodServiceAccount, prodTLS = 7, 11, 12, 17
	euNamespace, euEndpoint                               = 7, 21
	poolTMCPU, poolTMMemory, poolJMCPU                    = 7, 8, 11
	appTaskManagers, appConf                              = 11, 13
	overlay                                               = "overlays/prod/kustomization.yaml"
)

// edit is a change to the compliant repository: replace from with to in
// file, or write file whole when from is empty.
type edit struct{ file, from, to string }

// writeRepo writes the compliant repository with edits applied to a new
// folder and returns it.
func writeRepo(t *testing.T, edits ...edit) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range repoFiles(t, edits...) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// repoFiles are the files of the compliant repository with edits applied.
func repoFiles(t *testing.T, edits ...edit) map[string]string {
	t.Helper()
	files := map[string]string{}
	for k, v := range compliantRepo {
		files[k] = v
	}
	for _, e := range edits {
		if e.from == "" {
			files[e.file] = e.to
			continue
		}
		if !strings.Contains(files[e.file], e.from) {
			t.Fatalf("test setup: %s does not contain %q", e.file, e.from)
		}
		files[e.file] = strings.Replace(files[e.file], e.from, e.to, 1)
	}
	return files
}

// validateJSON runs `flinksync validate --output json` and decodes its output.
func validateJSON(t *testing.T, args ...string) (int, report.FindingsDoc) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"validate", "--output", "json"}, args...)...)
	var doc report.FindingsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("exit %d: JSON output does not parse: %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	return code, doc
}

func dumpFindings(fs []*diag.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %s %s/%s waived=%v: %s\n", f.Location(), f.Severity, f.Rule, f.Environment, f.App, f.Waived, f.Message)
	}
	return b.String()
}

type loc struct {
	file string
	line int
}

func TestValidateReportsEachRule(t *testing.T) {
	addSecretsToRole := "patches:\n- target: {kind: Role}\n  patch: |-\n    - op: add\n      path: /rules/-\n      value: {apiGroups: [\"\"], resources: [secrets], verbs: [get, list]}\n"
	cases := []struct {
		name  string
		rule  string
		edits []edit
		// want are the locations of the rule's findings, each once or more.
		want []loc
		// severity of the findings when it is not the rule's own.
		severity diag.Severity
	}{
		{name: "RBAC-001 overlay injects a ClusterRoleBinding", rule: "RBAC-001",
			edits: []edit{{overlay, "", "resources: [crb.yaml]\n"}, {"overlays/prod/crb.yaml", "",
				"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: flink-admin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: flink, namespace: flink-prod}]\n"}},
			want: []loc{{overlay, 1}}},
		{name: "RBAC-002 overlay gives the Role secrets", rule: "RBAC-002",
			edits: []edit{{overlay, "", addSecretsToRole}}, want: []loc{{overlay, 1}}},
		{name: "RBAC-003 default service account", rule: "RBAC-003",
			edits: []edit{{"environments/prod.yaml", "serviceAccount: flink", "serviceAccount: default"}},
			want:  []loc{{"environments/prod.yaml", prodServiceAccount}}},
		{name: "RBAC-004 shared namespace", rule: "RBAC-004",
			edits: []edit{{"environments/eu.yaml", "namespace: flink-eu", "namespace: flink-prod"}},
			want:  []loc{{"environments/prod.yaml", prodNamespace}, {"environments/eu.yaml", euNamespace}}},
		{name: "RBAC-005 overlay binds a ClusterRole", rule: "RBAC-005",
			edits: []edit{{overlay, "", "patches:\n- target: {kind: RoleBinding}\n  patch: |-\n    - op: replace\n      path: /roleRef/kind\n      value: ClusterRole\n"}},
			want:  []loc{{overlay, 1}}},
		{name: "RBAC-006 native mode where TLS is required", rule: "RBAC-006",
			edits: []edit{{"environments/prod.yaml", "mode: standalone", "mode: native"}},
			want:  []loc{{"environments/prod.yaml", prodTLS}}},
		{name: "TLS-001 REST TLS off", rule: "TLS-001",
			edits: []edit{{"apps/a.yaml", "pipeline.name: a", `security.ssl.rest.enabled: "false"`}},
			want:  []loc{{"apps/a.yaml", appConf}}},
		{name: "TLS-002 no certificate secret", rule: "TLS-002",
			edits: []edit{{"environments/prod.yaml", "    secretName: prod-tls\n", ""}},
			want:  []loc{{"environments/prod.yaml", prodTLS}}},
		{name: "TLS-002 overlay drops the keystore password", rule: "TLS-002",
			edits: []edit{{overlay, "", "patches:\n- target: {kind: FlinkDeployment}\n  patch: |-\n    - op: add\n      path: /spec/jobManager/podTemplate\n      value: {spec: {nodeSelector: {pool: flink}}}\n"}},
			want:  []loc{{overlay, 1}}},
		{name: "TLS-003 inline password", rule: "TLS-003",
			edits: []edit{{"apps/a.yaml", "pipeline.name: a", "security.ssl.internal.keystore-password: hunter2"}},
			want:  []loc{{"apps/a.yaml", appConf}}},
		{name: "TLS-004 weak protocol", rule: "TLS-004",
			edits: []edit{{"apps/a.yaml", "pipeline.name: a", "security.ssl.protocol: TLSv1.1"}},
			want:  []loc{{"apps/a.yaml", appConf}}},
		{name: "TLS-005 Kafka plaintext", rule: "TLS-005",
			edits: []edit{{"apps/a.yaml", "pipeline.name: a", "properties.security.protocol: PLAINTEXT"}},
			want:  []loc{{"apps/a.yaml", appConf}}},
		{name: "TLS-006 CMF over http", rule: "TLS-006",
			edits: []edit{{"environments/eu.yaml", "https://cmf", "http://cmf"}},
			want:  []loc{{"environments/eu.yaml", euEndpoint}}},
		{name: "TLS-008 catalog's Schema Registry over http", rule: "TLS-008",
			edits: withSQL(euTLS, edit{"catalogs/kafka.yaml", "https://sr", "http://sr"}),
			want:  []loc{{"catalogs/kafka.yaml", catalogURL}}},
		{name: "CPU-001 TaskManager larger than a node", rule: "CPU-001",
			edits: []edit{{"pools/p.yaml", `cpu: "2"`, `cpu: "12"`}},
			want:  []loc{{"pools/p.yaml", poolTMCPU}}},
		{name: "CPU-002 JobManager larger than a node", rule: "CPU-002",
			edits: []edit{{"pools/p.yaml", `cpu: "1"`, `cpu: "9"`}},
			want:  []loc{{"pools/p.yaml", poolJMCPU}}},
		{name: "CPU-003 more TaskManagers than the pool allows", rule: "CPU-003",
			edits: []edit{{"apps/a.yaml", "taskManagers: 2", "taskManagers: 5"}},
			want:  []loc{{"apps/a.yaml", appTaskManagers}}},
		{name: "CPU-004 more CPU than the nodes", rule: "CPU-004",
			edits: []edit{{"pools/p.yaml", "maxTaskManagers: 4", "maxTaskManagers: 20"},
				{"apps/a.yaml", "    pipeline.name: a\n", "    pipeline.name: a\n  overrides:\n    prod: {taskManagers: 12}\n"}},
			want: []loc{{"environments/prod.yaml", prodCount}}},
		{name: "CPU-004 above 80% warns", rule: "CPU-004", severity: diag.Warning,
			edits: []edit{{"pools/p.yaml", "maxTaskManagers: 4", "maxTaskManagers: 20"},
				{"apps/a.yaml", "    pipeline.name: a\n", "    pipeline.name: a\n  overrides:\n    prod: {taskManagers: 10}\n"}},
			want: []loc{{"environments/prod.yaml", prodCount}}},
		{name: "CPU-005 two nodes", rule: "CPU-005",
			edits: []edit{{"environments/prod.yaml", "count: 3", "count: 2"}},
			want:  []loc{{"environments/prod.yaml", prodCount}}},
		{name: "CPU-006 pod memory above a node", rule: "CPU-006",
			edits: []edit{{"pools/p.yaml", "memory: 8Gi", "memory: 40Gi"}},
			want:  []loc{{"pools/p.yaml", poolTMMemory}}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule, ok := policy.RuleByID(tc.rule)
			if !ok {
				t.Fatalf("no rule %s", tc.rule)
			}
			sev := rule.Severity
			if tc.severity != "" {
				sev = tc.severity
			}
			code, doc := validateJSON(t, "--repo", writeRepo(t, tc.edits...))
			if len(doc.Findings) == 0 {
				t.Fatalf("want %s, got no finding", tc.rule)
			}
			got := map[loc]bool{}
			for _, f := range doc.Findings {
				if f.Rule != tc.rule || f.Severity != sev || f.Waived || f.Environment == "" || f.Message == "" {
					t.Errorf("want only unwaived %s %s findings with an environment and a message:\n%s", sev, tc.rule, dumpFindings(doc.Findings))
					break
				}
				got[loc{f.File, f.Line}] = true
			}
			var want []string
			for _, l := range tc.want {
				want = append(want, fmt.Sprintf("%s:%d", l.file, l.line))
				if !got[l] {
					t.Errorf("no %s at %s:%d:\n%s", tc.rule, l.file, l.line, dumpFindings(doc.Findings))
				}
				delete(got, l)
			}
			if len(got) > 0 {
				t.Errorf("%s at unexpected places %v (want %s):\n%s", tc.rule, got, strings.Join(want, ", "), dumpFindings(doc.Findings))
			}
			wantCode, s := 0, diag.Summarize(doc.Findings)
			if sev == diag.Error {
				wantCode = 1
			}
			if code != wantCode || doc.Summary != s {
				t.Errorf("exit %d, summary %+v; want exit %d, summary %+v", code, doc.Summary, wantCode, s)
			}
			covered[tc.rule] = true
		})
	}
	// TLS-007 checks a live certificate (policy.CheckCertificate, run by
	// sync when a cluster is reachable); the WAIVER rules have tests below;
	// the STATE rules judge a change, not a repository (internal/state,
	// plan's TestStateGuardUntilAcknowledged, sync's guard tests).
	for _, r := range policy.Rules {
		if !covered[r.ID] && r.ID != "TLS-007" && !strings.HasPrefix(r.ID, "WAIVER-") && !strings.HasPrefix(r.ID, "STATE-") {
			t.Errorf("no case makes validate report %s", r.ID)
		}
	}
}

func TestValidateCompliantVariantsPass(t *testing.T) {
	for name, dir := range map[string]string{
		"compliant repository": writeRepo(t),
		// An overlay that patches what policy allows keeps the repository clean.
		"harmless overlay": writeRepo(t, edit{overlay, "", "labels:\n- pairs: {cost-center: data}\npatches:\n- target: {kind: FlinkDeployment}\n  patch: |-\n    - op: add\n      path: /spec/podTemplate\n      value: {spec: {tolerations: [{key: dedicated, operator: Exists}]}}\n"}),
		"the example":      example,
	} {
		code, doc := validateJSON(t, "--repo", dir)
		if code != 0 || len(doc.Findings) != 0 || doc.Summary != (diag.Summary{}) {
			t.Errorf("%s: want exit 0 and no finding, got exit %d:\n%s", name, code, dumpFindings(doc.Findings))
		}
	}
}

// waiverPolicy waives TLS-004 for app a in every environment until expires.
func waiverPolicy(expires string) edit {
	return edit{"policy.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: Policy
metadata:
  name: org
spec:
  waivers:
    - rule: TLS-004
      app: a
      reason: "the vendor's broker speaks TLS 1.1 until March"
      expires: ` + expires + "\n"}
}

const waiverLine = 7 // spec.waivers[0] in waiverPolicy

var weakProtocol = edit{"apps/a.yaml", "pipeline.name: a", "security.ssl.protocol: TLSv1.1"}

func TestValidateWaiverAppliesUntilItsExpiryDate(t *testing.T) {
	// The waiver covers both environments' TLS-004 errors; waived errors do
	// not fail validate. On its expiry date a waiver still applies.
	var code int
	var doc report.FindingsDoc
	for {
		today := time.Now().UTC().Format(time.DateOnly)
		code, doc = validateJSON(t, "--repo", writeRepo(t, weakProtocol, waiverPolicy(today)))
		if time.Now().UTC().Format(time.DateOnly) == today {
			break // else the date turned during the run: again
		}
	}
	if code != 0 || doc.Summary != (diag.Summary{Waived: 2}) || len(doc.Findings) != 2 {
		t.Fatalf("a waiver on its last day must suppress both TLS-004 findings (exit %d, summary %+v):\n%s", code, doc.Summary, dumpFindings(doc.Findings))
	}
	for _, f := range doc.Findings {
		if f.Rule != "TLS-004" || !f.Waived || !strings.Contains(f.WaivedBy, fmt.Sprintf("policy.yaml:%d", waiverLine)) || !strings.Contains(f.WaivedBy, "March") {
			t.Errorf("want a waived TLS-004 naming its waiver: %+v", f)
		}
	}

	// The day after, the findings count again and the waiver is reported.
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	code, doc = validateJSON(t, "--repo", writeRepo(t, weakProtocol, waiverPolicy(yesterday)))
	if code != 1 || doc.Summary != (diag.Summary{Errors: 2, Warnings: 1}) {
		t.Fatalf("an expired waiver must not apply (exit %d, summary %+v):\n%s", code, doc.Summary, dumpFindings(doc.Findings))
	}
	var expired bool
	for _, f := range doc.Findings {
		if f.Rule == "WAIVER-001" {
			expired = f.File == "policy.yaml" && f.Line == waiverLine && strings.Contains(f.Message, yesterday)
		}
	}
	if !expired {
		t.Errorf("want WAIVER-001 at policy.yaml:%d naming the date:\n%s", waiverLine, dumpFindings(doc.Findings))
	}
}

func writeDaemonPolicy(t *testing.T, spec string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "daemon-policy.yaml")
	if err := os.WriteFile(p, []byte("apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: daemon\nspec:\n"+spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateDaemonPolicyBeatsRepositoryWaiver(t *testing.T) {
	repo := writeRepo(t, weakProtocol, waiverPolicy("2099-12-31"))
	if code, doc := validateJSON(t, "--repo", repo); code != 0 || doc.Summary.Waived != 2 {
		t.Fatalf("without the daemon's policy the waiver applies (exit %d):\n%s", code, dumpFindings(doc.Findings))
	}
	daemon := writeDaemonPolicy(t, "  unwaivable: [TLS-004]\n")
	code, doc := validateJSON(t, "--repo", repo, "--policy", daemon)
	if code != 1 || doc.Summary != (diag.Summary{Errors: 2, Warnings: 1}) {
		t.Fatalf("an unwaivable rule must not be waived (exit %d, summary %+v):\n%s", code, doc.Summary, dumpFindings(doc.Findings))
	}
	rules := map[string]int{}
	for _, f := range doc.Findings {
		rules[f.Rule]++
		if f.Rule == "WAIVER-002" && (f.File != "policy.yaml" || f.Line != waiverLine) {
			t.Errorf("WAIVER-002 must point at the repository's waiver: %+v", f)
		}
	}
	if rules["TLS-004"] != 2 || rules["WAIVER-002"] != 1 {
		t.Errorf("want two TLS-004 errors and one WAIVER-002:\n%s", dumpFindings(doc.Findings))
	}
}

func TestValidateRepositoryCannotLoosenDaemonPolicy(t *testing.T) {
	// The repository asks for 16 CPU per TaskManager, the daemon allows 1:
	// the daemon's limit holds (CPU-001 on the pool's 2 CPU).
	repo := writeRepo(t, edit{"policy.yaml", "", "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: org\nspec:\n  maxTaskManagerCPU: \"16\"\n"})
	code, doc := validateJSON(t, "--repo", repo, "--policy", writeDaemonPolicy(t, "  maxTaskManagerCPU: \"1\"\n"))
	var rules []string
	for _, f := range doc.Findings {
		rules = append(rules, f.Rule)
		if f.Rule == "CPU-001" && (f.File != "pools/p.yaml" || f.Line != poolTMCPU) {
			t.Errorf("CPU-001 at %s", f.Location())
		}
	}
	sort.Strings(rules)
	if code != 1 || strings.Join(rules, " ") != "CPU-001 CPU-001" {
		t.Errorf("want CPU-001 in both environments (exit %d):\n%s", code, dumpFindings(doc.Findings))
	}
	// requireTLS from the daemon adds eu, which has no certificate secret.
	code, doc = validateJSON(t, "--repo", writeRepo(t), "--policy", writeDaemonPolicy(t, "  requireTLS: [eu]\n"))
	seen := map[string]bool{}
	for _, f := range doc.Findings {
		seen[f.Rule] = seen[f.Rule] || f.Environment == "eu"
	}
	if code != 1 || !seen["TLS-001"] || !seen["TLS-002"] {
		t.Errorf("the daemon's requireTLS must apply to eu (exit %d):\n%s", code, dumpFindings(doc.Findings))
	}
}
