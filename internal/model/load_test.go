package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/diag"
)

// base is a small valid repository; test cases replace or add files.
var base = map[string]string{
	"environments/dev.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  target: fko
  namespace: flink-dev
  nodes:
    cpu: "4"
    memory: 16Gi
    count: 3
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
`,
	"pools/small.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata:
  name: small
spec:
  taskManager:
    cpu: "1"
    memory: 4Gi
`,
	"apps/a.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: a
spec:
  environments: [dev]
  pool: small
  job:
    jarURI: local:///a.jar
  workload:
    recordsPerSecond: 1000
`,
}

func repoFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range base {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	for name, data := range files {
		if data == "" {
			delete(fsys, name)
			continue
		}
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// cfkDev is base's dev environment with target cfk and the given default
// Flink version (on line 14).
func cfkDev(version string) string {
	return strings.NewReplacer("target: fko", "target: cfk", "v1_20", version).Replace(base["environments/dev.yaml"]) +
		"  cfk:\n    cmfRestClassRef: {name: cmf}\n"
}

type want struct {
	rule, file string
	line       int
}

func (w want) String() string { return fmt.Sprintf("%s %s:%d", w.rule, w.file, w.line) }

func TestLoadValid(t *testing.T) {
	repo, err := loaded(LoadFS(repoFS(nil)))
	if err != nil {
		t.Fatalf("valid repository: %v", err)
	}
	apps := repo.EffectiveApps("dev")
	if len(apps) != 1 || apps[0].Name != "a" || apps[0].Pool == nil || apps[0].Pool.Metadata.Name != "small" {
		t.Fatalf("effective apps: %+v", apps)
	}
	s := apps[0].Spec
	if s.Image != "flink:1.20" || s.FlinkVersion != "v1_20" {
		t.Errorf("environment defaults not applied: image %q version %q", s.Image, s.FlinkVersion)
	}
	if s.Mode != ModeNative || s.Job.UpgradeMode != "stateless" || s.Job.State != "running" {
		t.Errorf("app defaults: mode %q upgrade %q state %q", s.Mode, s.Job.UpgradeMode, s.Job.State)
	}
	if s.Workload.AvgRecordBytes != DefaultAvgRecordBytes || s.Workload.Complexity != ComplexityMedium ||
		s.Workload.Latency != DefaultLatency || s.Workload.Skew != SkewLow {
		t.Errorf("workload defaults: %+v", s.Workload)
	}
	env := repo.Environment("dev")
	if env.Spec.ServiceAccount != "flink" || env.Spec.Sync.Drift != DriftCorrect || !env.Spec.Sync.PruneEnabled() {
		t.Errorf("environment defaults: %+v", env.Spec)
	}
	pool := repo.Pool("small")
	if pool.Spec.TaskManager.Slots != 1 || pool.Spec.JobManager.CPU.String() != "1" || pool.Spec.JobManager.Memory.String() != "2Gi" {
		t.Errorf("pool defaults: %+v", pool.Spec)
	}
}

func TestLoadErrors(t *testing.T) {
	app := func(spec string) string {
		return "apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata:\n  name: b\nspec:\n" + spec
	}
	const okSpec = "  environments: [dev]\n  pool: small\n  job:\n    jarURI: local:///b.jar\n  workload:\n    recordsPerSecond: 10\n"
	cases := []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{"malformed YAML", map[string]string{"apps/b.yaml": "apiVersion: x\nkind: [\n"},
			[]want{{RuleSyntax.ID(), "apps/b.yaml", 2}}},
		{"unknown field", map[string]string{"apps/b.yaml": app(okSpec + "  paralelism: 4\n")},
			[]want{{RuleUnknownField.ID(), "apps/b.yaml", 12}}},
		{"wrong type", map[string]string{"apps/b.yaml": app("  environments: dev\n  pool: small\n  job:\n    jarURI: local:///b.jar\n  workload:\n    recordsPerSecond: 10\n")},
			[]want{{RuleWrongType.ID(), "apps/b.yaml", 6}}},
		{"missing required field", map[string]string{"apps/b.yaml": app("  environments: [dev]\n  pool: small\n  job:\n    entryClass: B\n  workload:\n    recordsPerSecond: 10\n")},
			[]want{{RuleRequired.ID(), "apps/b.yaml", 9}}},
		{"name not a DNS-1123 label", map[string]string{"apps/b.yaml": strings.Replace(app(okSpec), "name: b", "name: Orders_B", 1)},
			[]want{{RuleName.ID(), "apps/b.yaml", 4}}},
		{"duplicate name", map[string]string{"apps/z.yaml": strings.Replace(base["apps/a.yaml"], "a.jar", "z.jar", 1)},
			[]want{{RuleDuplicate.ID(), "apps/z.yaml", 4}}},
		{"missing environment", map[string]string{"apps/b.yaml": app(strings.Replace(okSpec, "[dev]", "[dev, qa]", 1))},
			[]want{{RuleReference.ID(), "apps/b.yaml", 6}}},
		{"missing pool", map[string]string{"apps/b.yaml": app(strings.Replace(okSpec, "pool: small", "pool: huge", 1))},
			[]want{{RuleReference.ID(), "apps/b.yaml", 7}}},
		{"pool not allowed", map[string]string{"pools/small.yaml": base["pools/small.yaml"] + "  environments: [prod]\n",
			"environments/prod.yaml": strings.NewReplacer("name: dev", "name: prod", "flink-dev", "flink-prod").Replace(base["environments/dev.yaml"])},
			[]want{{RulePoolNotAllow.ID(), "apps/a.yaml", 7}}},
		// The real CFK 3.3.0 FlinkApplication CRD takes v1_18 .. v2_1 only.
		{"Flink version CFK does not run, from the defaults", map[string]string{"environments/dev.yaml": cfkDev("v1_17")},
			[]want{{RuleEnum.ID(), "environments/dev.yaml", 14}}},
		{"Flink version CFK does not run, from the app", map[string]string{"environments/dev.yaml": cfkDev("v1_20"),
			"apps/b.yaml": app(okSpec + "  flinkVersion: v2_2\n")},
			[]want{{RuleEnum.ID(), "apps/b.yaml", 12}}},
		{"invalid quantity", map[string]string{"pools/small.yaml": strings.Replace(base["pools/small.yaml"], "4Gi", "4GB", 1)},
			[]want{{RuleQuantity.ID(), "pools/small.yaml", 8}}},
		{"cluster name not a DNS-1123 label", map[string]string{"environments/dev.yaml": strings.Replace(base["environments/dev.yaml"], "namespace: flink-dev", "namespace: flink-dev\n  cluster: EU_1", 1)},
			[]want{{RuleName.ID(), "environments/dev.yaml", 8}}},
		{"state acknowledgement naming no job", map[string]string{"environments/dev.yaml": base["environments/dev.yaml"] + "  stateGuard:\n    acknowledge:\n      - {reason: x, expires: 2026-12-01}\n"},
			[]want{{RuleRequired.ID(), "environments/dev.yaml", 17}}},
		{"state acknowledgement naming an app and a statement", map[string]string{"environments/dev.yaml": base["environments/dev.yaml"] + "  stateGuard:\n    acknowledge:\n      - {app: a, statement: s, reason: x, expires: 2026-12-01}\n"},
			[]want{{RuleRequired.ID(), "environments/dev.yaml", 17}}},
		{"state guard mode", map[string]string{"environments/dev.yaml": base["environments/dev.yaml"] + "  stateGuard:\n    mode: strict\n"},
			[]want{{RuleEnum.ID(), "environments/dev.yaml", 16}}},
		{"unknown enum value", map[string]string{"environments/dev.yaml": strings.Replace(base["environments/dev.yaml"], "target: fko", "target: kind", 1)},
			[]want{{RuleEnum.ID(), "environments/dev.yaml", 6}}},
		{"no environment", map[string]string{"environments/dev.yaml": ""},
			[]want{{RuleNoEnv.ID(), "", 0}, {RuleReference.ID(), "apps/a.yaml", 6}}},
		{"unknown kind", map[string]string{"x.yaml": "apiVersion: flinksync.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: x}\nspec: {}\n"},
			[]want{{RuleKind.ID(), "x.yaml", 2}}},
		{"invalid duration", map[string]string{"apps/b.yaml": app(okSpec + "    latency: fast\n")},
			[]want{{RuleInvalidValue.ID(), "apps/b.yaml", 12}}},
		{"override for an environment the app does not run in", map[string]string{"apps/b.yaml": app(okSpec + "  overrides:\n    qa:\n      pool: small\n")},
			[]want{{RuleReference.ID(), "apps/b.yaml", 13}}},
		{"bad field inside an override", map[string]string{"apps/b.yaml": app(okSpec + "  overrides:\n    dev:\n      workload: {recordsPerSecond: many}\n")},
			[]want{{RuleWrongType.ID(), "apps/b.yaml", 14}}},
		{"five different errors", map[string]string{
			"apps/b.yaml":           app("  environments: [dev]\n  pool: huge\n  job:\n    jarURI: local:///b.jar\n    upgradeMode: sometimes\n  workload:\n    recordsPerSecond: 10\n    stateSize: 20GB\n  replicas: 3\n"),
			"environments/dev.yaml": strings.Replace(base["environments/dev.yaml"], "count: 3", "count: three", 1)},
			[]want{{RuleReference.ID(), "apps/b.yaml", 7}, {RuleEnum.ID(), "apps/b.yaml", 10}, {RuleQuantity.ID(), "apps/b.yaml", 13}, {RuleUnknownField.ID(), "apps/b.yaml", 14}, {RuleWrongType.ID(), "environments/dev.yaml", 11}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, findings, err := LoadFS(repoFS(tc.files))
			got := findings
			if err != nil || len(got) == 0 {
				t.Fatalf("want findings %v and no error, got none (err %v)", tc.want, err)
			}
			var gotW []string
			for _, f := range got {
				gotW = append(gotW, want{f.Rule, f.File, f.Line}.String())
				if f.Severity != diag.Error || f.Message == "" {
					t.Errorf("finding without severity or message: %+v", f)
				}
			}
			var wantW []string
			for _, w := range tc.want {
				wantW = append(wantW, w.String())
			}
			if strings.Join(gotW, "\n") != strings.Join(wantW, "\n") {
				t.Errorf("findings:\n got: %v\nwant: %v\nmessages:\n%v", gotW, wantW, err)
			}
		})
	}
}

func TestOverridesMerge(t *testing.T) {
	fsys := repoFS(map[string]string{
		"environments/prod.yaml": strings.NewReplacer("name: dev", "name: prod", "flink-dev", "flink-prod", "flink:1.20", "flink:1.20-prod").Replace(base["environments/dev.yaml"]),
		"pools/big.yaml":         strings.Replace(base["pools/small.yaml"], "name: small", "name: big", 1),
		"apps/a.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: a
spec:
  environments: [dev, prod]
  pool: small
  job:
    jarURI: local:///a.jar
    args: [--a, "1"]
  workload:
    recordsPerSecond: 1000
    latency: 1s
  flinkConfiguration:
    x.y: 1
    keep.me: "yes"
  overrides:
    prod:
      pool: big
      job: {args: [--b]}
      workload: {recordsPerSecond: 50000}
      flinkConfiguration:
        x.y: 2
`,
	})
	repo, err := loaded(LoadFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	dev, prod := repo.EffectiveApps("dev")[0], repo.EffectiveApps("prod")[0]
	if dev.Spec.Workload.RecordsPerSecond != 1000 || dev.Pool.Metadata.Name != "small" || dev.Spec.FlinkConfiguration["x.y"] != "1" {
		t.Errorf("dev must keep the base spec: %+v", dev.Spec)
	}
	if prod.Spec.Workload.RecordsPerSecond != 50000 || prod.Spec.Workload.Latency.String() != "1s" {
		t.Errorf("prod workload must merge field by field: %+v", prod.Spec.Workload)
	}
	if prod.Pool.Metadata.Name != "big" || strings.Join(prod.Spec.Job.Args, " ") != "--b" || prod.Spec.Job.JarURI != "local:///a.jar" {
		t.Errorf("prod pool/job: %s %+v", prod.Pool.Metadata.Name, prod.Spec.Job)
	}
	if prod.Spec.FlinkConfiguration["x.y"] != "2" || prod.Spec.FlinkConfiguration["keep.me"] != "yes" {
		t.Errorf("prod flinkConfiguration must merge key by key: %v", prod.Spec.FlinkConfiguration)
	}
	if prod.Spec.Image != "flink:1.20-prod" {
		t.Errorf("prod image must come from prod's defaults, got %q", prod.Spec.Image)
	}
	if got := prod.Origin.LineOf("spec.workload.recordsPerSecond"); got != 21 {
		t.Errorf("overridden field must point at the override's line 21, got %d", got)
	}
	if got := prod.Origin.LineOf("spec.workload.latency"); got != 13 {
		t.Errorf("inherited field must point at the base line 13, got %d", got)
	}
}

func TestSkipsOverlaysAndHiddenFolders(t *testing.T) {
	junk := "this: is: not yaml: ["
	_, err := loaded(LoadFS(repoFS(map[string]string{
		"overlays/dev/kustomization.yaml": junk,
		".github/workflows/ci.yaml":       junk,
		"apps/.hidden.yaml":               junk,
		"README.md":                       junk,
	})))
	if err != nil {
		t.Fatalf("overlays, hidden folders and non-YAML files must be skipped: %v", err)
	}
}

func TestMultiDocumentFiles(t *testing.T) {
	repo, err := loaded(LoadFS(fstest.MapFS{"all.yml": &fstest.MapFile{Data: []byte(
		base["environments/dev.yaml"] + "---\n" + base["pools/small.yaml"] + "---\n# empty\n---\n" + base["apps/a.yaml"])}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Environments) != 1 || len(repo.Pools) != 1 || len(repo.Apps) != 1 {
		t.Fatalf("want 1 of each kind, got %d/%d/%d", len(repo.Environments), len(repo.Pools), len(repo.Apps))
	}
	if l := repo.App("a").Origin.Line; l < 20 {
		t.Errorf("the app's line must count from the top of the file, got %d", l)
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	_, findings, err := Load(filepath.Join(t.TempDir(), "nope"))
	if err == nil || findings != nil {
		t.Fatalf("a missing directory is an error that is not a finding, got %v", err)
	}
}

func TestExampleRepositoryLoadsClean(t *testing.T) {
	repo, err := loaded(Load("../../examples/repo-layout"))
	if err != nil {
		t.Fatalf("examples/repo-layout must load clean:\n%v", err)
	}
	if len(repo.Environments) < 3 || len(repo.Pools) < 3 || len(repo.Apps) < 8 {
		t.Errorf("example too small: %d environments, %d pools, %d apps", len(repo.Environments), len(repo.Pools), len(repo.Apps))
	}
	if _, err := os.Stat("../../examples/repo-layout/overlays/prod/kustomization.yaml"); err != nil {
		t.Errorf("example must have a prod overlay: %v", err)
	}
}

// TestAppNameFitsFlinkClusterID: names of 46 to 63 characters are DNS
// labels but not Flink cluster ids.
func TestAppNameFitsFlinkClusterID(t *testing.T) {
	for _, n := range []int{45, 46, 63} {
		name := strings.Repeat("a", n)
		fsys := fstest.MapFS{
			"envs/dev.yaml": {Data: []byte("apiVersion: flinksync.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {target: fko, namespace: flink-dev, defaults: {image: flink:1.20, flinkVersion: v1_20}}\n")},
			"pools/p.yaml":  {Data: []byte("apiVersion: flinksync.dev/v1alpha1\nkind: ComputePool\nmetadata: {name: p}\nspec: {taskManager: {cpu: \"1\", memory: 4Gi}}\n")},
			"apps/a.yaml":   {Data: []byte("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata:\n  name: " + name + "\nspec: {environments: [dev], pool: p, job: {jarURI: local:///a.jar}, workload: {recordsPerSecond: 10}}\n")},
		}
		_, findings, err := LoadFS(fsys)
		var tooLong bool
		for _, f := range findings {
			tooLong = tooLong || (f.Rule == RuleName.ID() && f.File == "apps/a.yaml" && f.Line == 4 && strings.Contains(f.Message, "at most 45"))
		}
		if tooLong != (n > 45) {
			t.Errorf("name of %d characters: too-long finding %v, want %v; findings: %v", n, tooLong, n > 45, err)
		}
	}
}

// Files are parsed on every CPU and merged in the order they were read: a
// duplicate is reported at the later file whatever the scheduling, and
// the result is the same on every load (run with -race, it also checks
// the parsers share nothing).
func TestParallelParseIsDeterministic(t *testing.T) {
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("apps/app-%03d.yaml", i)] = strings.Replace(base["apps/a.yaml"], "name: a", fmt.Sprintf("name: app-%03d", i), 1)
	}
	files["apps/zz-dup.yaml"] = strings.Replace(base["apps/a.yaml"], "name: a", "name: app-007", 1)
	files["apps/app-100.yaml"] += "  bogus: 1\n"
	var first string
	for range 5 {
		repo, findings, err := LoadFS(repoFS(files))
		fs := findings
		if len(fs) != 2 || fs[0].File != "apps/app-100.yaml" || fs[1].File != "apps/zz-dup.yaml" || fs[1].Rule != RuleDuplicate.ID() {
			t.Fatalf("want the unknown field in app-100 and the duplicate at zz-dup, got %v", err)
		}
		if len(repo.Apps) != 202 || len(repo.EffectiveApps("dev")) != 201 {
			t.Fatalf("apps %d, effective %d", len(repo.Apps), len(repo.EffectiveApps("dev")))
		}
		got := fmt.Sprint(err, repo.Files)
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("two loads differ:\n%s\n%s", first, got)
		}
	}
}

// loaded is a load's result for a test that wants it clean: the repository,
// and an error when it could not be read or has findings.
func loaded(repo *Repository, findings []*diag.Finding, err error) (*Repository, error) {
	if err == nil && len(findings) > 0 {
		err = fmt.Errorf("%d finding(s): %v", len(findings), findings)
	}
	return repo, err
}

// A policy file's problems are findings at their lines, and no policy; the
// error is only for a file that cannot be read.
func TestLoadPolicyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, spec string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n"+spec), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "  unwaivable: [TLS-003]\n")
	if p, fs, err := LoadPolicyFile(good); err != nil || len(fs) > 0 || p == nil || p.Spec.Unwaivable[0] != "TLS-003" {
		t.Fatalf("a good policy file: %v %v %v", p, fs, err)
	}
	for _, tc := range []struct {
		spec string
		want want
	}{
		{"  maxTaskManagerCPUs: \"4\"\n", want{RuleUnknownField.ID(), "", 5}},
		{"  unwaivable: [TLS-003, tls-3]\n", want{RuleInvalidValue.ID(), "", 5}},
	} {
		file := write("bad.yaml", tc.spec)
		tc.want.file = file
		p, fs, err := LoadPolicyFile(file)
		if err != nil || p != nil || len(fs) != 1 || (want{fs[0].Rule, fs[0].File, fs[0].Line}) != tc.want || fs[0].Severity != diag.Error {
			t.Errorf("%q: want one finding %v and neither a policy nor an error, got %v %v %v", tc.spec, tc.want, p, fs, err)
		}
	}
	if _, fs, err := LoadPolicyFile(filepath.Join(dir, "nope.yaml")); err == nil || fs != nil {
		t.Errorf("a missing file is an error, not a finding: %v %v", fs, err)
	}
}
