package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/model"
)

const exampleRepo = "../../examples/repo-layout"

// execSize runs `flinksync size args...` and returns its output and exit code.
func execSize(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"size"}, args...))
	err := root.Execute()
	var ee *exitError
	switch {
	case err == nil:
		code = exitOK
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errOut.WriteString(ee.err.Error())
		}
	default: // cobra's own errors: bad flags
		code = exitCantRun
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

// sizeJSON is the part of a result the tests read.
type sizeJSON struct {
	Environment           string   `json:"environment"`
	App                   string   `json:"app"`
	TaskManagers          int      `json:"taskManagers"`
	EstimatedTaskManagers int      `json:"estimatedTaskManagers"`
	Slots                 int      `json:"slotsPerTaskManager"`
	Parallelism           int      `json:"parallelism"`
	TaskManagerCPU        float64  `json:"taskManagerCPU"`
	TaskManagerMemory     int64    `json:"taskManagerMemory"`
	TotalCPU              float64  `json:"totalCPU"`
	TotalMemory           int64    `json:"totalMemory"`
	JobManagerCPU         float64  `json:"jobManagerCPU"`
	JobManagerMemory      int64    `json:"jobManagerMemory"`
	CheckpointInterval    float64  `json:"checkpointInterval"`
	NodesNeeded           int      `json:"nodesNeeded"`
	BindingConstraint     string   `json:"bindingConstraint"`
	Explanation           []string `json:"explanation"`
}

func TestSizeJSON(t *testing.T) {
	out, errOut, code := execSize(t, "--repo", exampleRepo, "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var results []sizeJSON
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	// Every app in every environment it runs in.
	repo, findings, err := model.Load(exampleRepo)
	if err != nil || len(findings) > 0 {
		t.Fatalf("%v %v", err, findings)
	}
	pairs := 0
	for _, e := range repo.Environments {
		pairs += len(repo.EffectiveApps(e.Metadata.Name))
		for _, st := range repo.EffectiveStatements(e.Metadata.Name) {
			if st.Kind == model.SQLDML { // streaming statements size like apps
				pairs++
			}
		}
	}
	if len(results) != pairs || pairs < 20 {
		t.Errorf("%d results, want %d", len(results), pairs)
	}
	seen := map[string]int{}
	for _, r := range results {
		seen[r.App]++
		if r.Parallelism != r.TaskManagers*r.Slots || r.Parallelism < 1 {
			t.Errorf("%s/%s: parallelism %d ≠ %d × %d", r.Environment, r.App, r.Parallelism, r.TaskManagers, r.Slots)
		}
		wantCPU := float64(r.TaskManagers)*r.TaskManagerCPU + r.JobManagerCPU
		wantMem := int64(r.TaskManagers)*r.TaskManagerMemory + r.JobManagerMemory
		if r.TotalCPU != wantCPU || r.TotalMemory != wantMem || r.NodesNeeded < 3 || r.CheckpointInterval <= 0 || len(r.Explanation) == 0 {
			t.Errorf("%s/%s: %+v", r.Environment, r.App, r)
		}
		if r.TaskManagerCPU > 8 {
			t.Errorf("%s/%s: %v CPU per TaskManager", r.Environment, r.App, r.TaskManagerCPU)
		}
		switch r.App {
		case "audit-archiver":
			if r.TaskManagers != 2 || r.BindingConstraint != "explicit" || r.CheckpointInterval != 120 {
				t.Errorf("%s/audit-archiver: %d TaskManagers set by %s, interval %v s; want 2, explicit, 120 s",
					r.Environment, r.TaskManagers, r.BindingConstraint, r.CheckpointInterval)
			}
		case "clickstream-filter":
			// 20,000 simple 512 B records at 300 ms: 2 cores × 1.5 on 1-CPU TaskManagers (1,000 rec/s in dev).
			want := map[string]int{"dev": 1, "staging": 3, "prod": 3, "prod-eu": 3}[r.Environment]
			if r.TaskManagers != want || r.CheckpointInterval != 10 || r.BindingConstraint != "throughput" {
				t.Errorf("%s/clickstream-filter: %d TaskManagers, interval %v s, binding %s; want %d, 10 s, throughput",
					r.Environment, r.TaskManagers, r.CheckpointInterval, r.BindingConstraint, want)
			}
		}
	}
	if seen["audit-archiver"] != 5 || seen["fraud-detection"] != 2 || seen["recommendations-join"] != 1 {
		t.Errorf("apps per environment: %v", seen)
	}
}

func TestSizeText(t *testing.T) {
	out, errOut, code := execSize(t, "--repo", exampleRepo)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"environment dev: ", " node(s) of 4 CPU and 16Gi\n",
		"environment prod: ", " node(s) of 8 CPU and 32Gi\n",
		"NAME", "KIND", "TMS", "SLOTS", "PARALLELISM", "TM CPU", "TM MEMORY", "TOTAL CPU", "CHECKPOINT", "BINDING",
		"2 (est. 1)", "2 min (app)", "explicit",
		"total: ", " TaskManagers, CPU ", "nodes needed ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	// One table per environment, in name order, each with a total line.
	if got := strings.Count(out, "\ntotal: "); got != 5 {
		t.Errorf("%d total lines, want 5:\n%s", got, out)
	}
	order := []string{"environment dev:", "environment prod:", "environment prod-cmf:", "environment prod-eu:", "environment staging:"}
	for i := 1; i < len(order); i++ {
		if strings.Index(out, order[i-1]) > strings.Index(out, order[i]) {
			t.Errorf("%q comes after %q", order[i-1], order[i])
		}
	}
	// The columns line up: every row of a table starts its TMS column at the header's.
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "  NAME ") {
			continue
		}
		col := strings.Index(l, "TMS")
		for _, row := range lines[i+1:] {
			if !strings.HasPrefix(row, "  ") {
				break
			}
			if len(row) <= col || row[col-1] != ' ' || row[col] == ' ' {
				t.Errorf("misaligned row %q under %q", row, l)
			}
		}
	}
}

func TestSizeFilterAndExplain(t *testing.T) {
	out, errOut, code := execSize(t, "--repo", exampleRepo, "--env", "prod", "--app", "orders-enrich", "--explain")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"environment prod:", "orders-enrich", "      - per-core rate: 10,000 rec/s baseline",
		"      - TaskManagers: 13, set by throughput", "environment total (6 app(s)):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fraud-detection") || strings.Contains(out, "environment dev") {
		t.Errorf("the filter let other apps or environments through:\n%s", out)
	}

	out, _, code = execSize(t, "--repo", exampleRepo, "--app", "fraud-detection", "-o", "json")
	var results []sizeJSON
	if code != exitOK || json.Unmarshal([]byte(out), &results) != nil || len(results) != 2 {
		t.Fatalf("--app fraud-detection: exit %d, %d results:\n%s", code, len(results), out)
	}
	if results[0].Environment != "prod" || results[1].Environment != "staging" {
		t.Errorf("environments %s, %s", results[0].Environment, results[1].Environment)
	}
}

func TestSizeCannotRun(t *testing.T) {
	broken := t.TempDir()
	write := func(dir, name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(broken, "environments/dev.yaml", "apiVersion: flinksync.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  target: fko\n  namespace: flink-dev\n  nodes: {cpu: \"4\", memory: 16Gi, count: 3}\n  colour: blue\n")

	absurd := t.TempDir()
	write(absurd, "environments/dev.yaml", "apiVersion: flinksync.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  target: fko\n  namespace: flink-dev\n  nodes: {cpu: \"4\", memory: 16Gi, count: 3}\n  defaults: {image: flink:1.20, flinkVersion: v1_20}\n")
	write(absurd, "pools/small.yaml", "apiVersion: flinksync.dev/v1alpha1\nkind: ComputePool\nmetadata: {name: small}\nspec:\n  taskManager: {cpu: \"1\", memory: 4Gi}\n")
	write(absurd, "apps/huge.yaml", "apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata: {name: huge}\nspec:\n  environments: [dev]\n  pool: small\n  job: {jarURI: \"local:///a.jar\"}\n  workload: {recordsPerSecond: 999999999999}\n")

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no repo", nil, []string{"--repo is required"}},
		{"not a directory", []string{"--repo", filepath.Join(broken, "nope")}, []string{"not a readable directory"}},
		{"bad output", []string{"--repo", exampleRepo, "-o", "yaml"}, []string{`--output "yaml"`}},
		{"unknown env", []string{"--repo", exampleRepo, "--env", "qa"}, []string{`--env "qa": no such environment (declared: dev, prod, prod-cmf, prod-eu, staging)`}},
		{"unknown app", []string{"--repo", exampleRepo, "--app", "nope"}, []string{`--app "nope": no such application or statement`}},
		{"DDL statement", []string{"--repo", exampleRepo, "--app", "create-checkout-pageviews"}, []string{"statement create-checkout-pageviews is DDL", "not sized"}},
		{"app not in env", []string{"--repo", exampleRepo, "--env", "dev", "--app", "fraud-detection"}, []string{"does not run in environment \"dev\""}},
		{"load errors", []string{"--repo", broken}, []string{"environments/dev.yaml:8: error LOAD-002", "load error(s)"}},
		{"absurd workload", []string{"--repo", absurd}, []string{"apps/huge.yaml:8: error SIZE-001 dev/huge: cannot size: workload.recordsPerSecond:", "sane bound", "could not be sized"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := execSize(t, tc.args...)
			if code != exitCantRun {
				t.Errorf("exit %d, want %d", code, exitCantRun)
			}
			for _, want := range tc.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// A repository Policy tightens maxTaskManagerCPU: the pool's TaskManagers are
// clamped to it, and the text output shows the pool's own CPU beside it.
func TestSizeRepositoryPolicyTightens(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"environments/dev.yaml": "apiVersion: flinksync.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  target: fko\n  namespace: flink-dev\n  nodes: {cpu: \"8\", memory: 32Gi, count: 3}\n  defaults: {image: flink:1.20, flinkVersion: v1_20}\n",
		"pools/wide.yaml":       "apiVersion: flinksync.dev/v1alpha1\nkind: ComputePool\nmetadata: {name: wide}\nspec:\n  taskManager: {cpu: \"4\", memory: 8Gi}\n",
		"apps/a.yaml":           "apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata: {name: a}\nspec:\n  environments: [dev]\n  pool: wide\n  job: {jarURI: \"local:///a.jar\"}\n  workload: {recordsPerSecond: 40000, complexity: simple, latency: 10s}\n",
		"policy.yaml":           "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: org}\nspec:\n  maxTaskManagerCPU: \"2\"\n",
	}
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := execSize(t, "--repo", dir, "-o", "json")
	var results []struct {
		TaskManagers   int     `json:"taskManagers"`
		TaskManagerCPU float64 `json:"taskManagerCPU"`
		PoolCPU        float64 `json:"poolTaskManagerCPU"`
		Clamped        bool    `json:"clamped"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &results) != nil || len(results) != 1 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	// 40,000 simple records need 4 cores: two TaskManagers of 2 CPU, not one of 4.
	if r := results[0]; !r.Clamped || r.TaskManagerCPU != 2 || r.PoolCPU != 4 || r.TaskManagers != 2 {
		t.Errorf("got %+v", r)
	}
	out, _, _ = execSize(t, "--repo", dir)
	if !strings.Contains(out, "2 (pool 4)") {
		t.Errorf("the table does not show the clamp:\n%s", out)
	}
}
