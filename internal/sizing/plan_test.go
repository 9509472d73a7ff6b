package sizing

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testrepo"
)

func loadExample(t *testing.T) *model.Repository {
	t.Helper()
	return testrepo.Clean[*model.Repository](t)(model.Load("../../examples/repo-layout"))
}

func TestForRepositoryExample(t *testing.T) {
	repo := loadExample(t)
	plan := testrepo.Clean[*Plan](t)(ForRepository(repo, Limits{}))
	pairs := 0
	for _, e := range repo.Environments {
		pairs += len(repo.EffectiveApps(e.Metadata.Name))
		for _, st := range repo.EffectiveStatements(e.Metadata.Name) {
			if st.Kind == model.SQLDML { // streaming statements size like apps
				pairs++
			}
		}
	}
	if len(plan.Results) != pairs || pairs == 0 {
		t.Fatalf("%d results for %d pairs", len(plan.Results), pairs)
	}
	if !sort.SliceIsSorted(plan.Results, func(i, j int) bool {
		a, b := plan.Results[i], plan.Results[j]
		return a.Environment < b.Environment || a.Environment == b.Environment && a.App < b.App
	}) {
		t.Error("results are not ordered by environment, then app")
	}
	for _, r := range plan.Results {
		if got := plan.Result(r.Environment, r.App); got != r {
			t.Errorf("Plan.Result(%s, %s) = %v", r.Environment, r.App, got)
		}
		if r.Parallelism != r.TaskManagers*r.SlotsPerTaskManager {
			t.Errorf("%s/%s: parallelism %d", r.Environment, r.App, r.Parallelism)
		}
		if r.App == "audit-archiver" {
			if r.TaskManagers != 2 || r.BindingConstraint != ConstraintExplicit || r.CheckpointInterval != 120 || r.CheckpointIntervalSource != LevelApp {
				t.Errorf("%s/audit-archiver: %d TaskManagers set by %s, interval %v s from %s",
					r.Environment, r.TaskManagers, r.BindingConstraint, r.CheckpointInterval, r.CheckpointIntervalSource)
			}
		}
	}
	if plan.Result("dev", "fraud-detection") != nil {
		t.Error("fraud-detection does not run in dev")
	}

	// Overrides reach the sizing: fraud-detection is smaller in staging, on another pool.
	staging, prod := plan.Result("staging", "fraud-detection"), plan.Result("prod", "fraud-detection")
	if staging.Pool != "medium" || prod.Pool != "large" || staging.TaskManagers >= prod.TaskManagers {
		t.Errorf("fraud-detection: staging %d × %s, prod %d × %s", staging.TaskManagers, staging.Pool, prod.TaskManagers, prod.Pool)
	}
	// The environment's incremental checkpoints are read: prod has them, prod-eu not.
	if !plan.Result("prod", "orders-enrich").IncrementalCheckpoints || plan.Result("prod-eu", "payments-ledger").IncrementalCheckpoints {
		t.Error("state.backend.incremental is not read from the environment defaults")
	}

	names := map[string]bool{}
	for _, tot := range plan.Environments {
		names[tot.Environment] = true
		env := repo.Environment(tot.Environment)
		var cpu float64
		var mem int64
		var tms, apps int
		for _, r := range plan.Results {
			if r.Environment == tot.Environment {
				cpu += r.TotalCPU
				mem += r.TotalMemory
				tms += r.TaskManagers
				apps++
			}
		}
		if math.Abs(cpu-tot.TotalCPU) > 1e-9 || mem != tot.TotalMemory || tms != tot.TaskManagers || apps != tot.Apps {
			t.Errorf("%s: totals %+v, want CPU %v, memory %d, %d TaskManagers, %d apps", tot.Environment, tot, cpu, mem, tms, apps)
		}
		if want := env.Spec.Nodes.CPU.AsApproximateFloat64() * float64(env.Spec.Nodes.Count); tot.CapacityCPU != want || tot.Nodes != env.Spec.Nodes.Count {
			t.Errorf("%s: capacity %v CPU on %d nodes, want %v", tot.Environment, tot.CapacityCPU, tot.Nodes, want)
		}
		if tot.NodesNeeded < MinNodes || float64(tot.NodesNeeded)*tot.NodeCPU < tot.TotalCPU {
			t.Errorf("%s: %d nodes cannot hold %v CPU", tot.Environment, tot.NodesNeeded, tot.TotalCPU)
		}
	}
	if len(names) != len(repo.Environments) || plan.Environment("prod") == nil || plan.Environment("nope") != nil {
		t.Errorf("environment totals %v", names)
	}
}

// repoFS is a small valid repository; files replace or add files.
func repoFS(files map[string]string) fstest.MapFS {
	base := map[string]string{
		"environments/prod.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  target: fko
  namespace: flink-prod
  nodes: {cpu: "8", memory: 32Gi, count: 6}
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    flinkConfiguration:
      execution.checkpointing.interval: 90 s
`,
		"pools/big.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: big}
spec:
  taskManager: {cpu: "16", memory: 64Gi, slots: 4}
  maxTaskManagers: 2
`,
		"apps/a.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: a}
spec:
  environments: [prod]
  pool: big
  job: {jarURI: "local:///a.jar"}
  workload:
    recordsPerSecond: 200000
    complexity: simple
    latency: 10s
`,
	}
	fsys := fstest.MapFS{}
	for name, data := range base {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestForRepositoryClampAndEnvironmentInterval(t *testing.T) {
	repo := testrepo.Clean[*model.Repository](t)(model.LoadFS(repoFS(nil)))
	plan := testrepo.Clean[*Plan](t)(ForRepository(repo, Limits{}))
	r := plan.Result("prod", "a")
	if !r.Clamped || r.PoolTaskManagerCPU != 16 || r.TaskManagerCPU != 8 || r.TaskManagers != 3 {
		t.Errorf("clamp: %+v", r)
	}
	if r.CheckpointInterval != 90 || r.CheckpointIntervalSource != LevelEnvironment {
		t.Errorf("interval %v s from %s, want 90 from the environment", r.CheckpointInterval, r.CheckpointIntervalSource)
	}
	text := strings.Join(r.Explanation, "\n")
	for _, want := range []string{"environments/prod.yaml:11", "above the pool's maxTaskManagers of 2 (policy CPU-003)", "clamped to 8"} {
		if !strings.Contains(text, want) {
			t.Errorf("the explanation does not say %q:\n%s", want, text)
		}
	}
}

func TestForRepositoryErrors(t *testing.T) {
	repo := testrepo.Clean[*model.Repository](t)(model.LoadFS(repoFS(map[string]string{
		"apps/b.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: b}
spec:
  environments: [prod]
  pool: big
  job: {jarURI: "local:///b.jar"}
  workload:
    recordsPerSecond: 900000000000
  flinkConfiguration:
    execution.checkpointing.interval: 1 fortnight
`,
		"apps/c.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: c}
spec:
  environments: [prod]
  pool: big
  job: {jarURI: "local:///c.jar"}
  workload:
    recordsPerSecond: 9000000000
`,
	})))
	plan, findings, err := ForRepository(repo, Limits{})
	if err != nil || len(findings) != 2 {
		t.Fatalf("want two findings and no error, got %v and %v", findings, err)
	}
	if len(plan.Results) != 1 || plan.Environment("prod").Apps != 1 {
		t.Errorf("the apps that sized are not in the plan: %d results", len(plan.Results))
	}
	for i, want := range []string{
		`SIZE-001 error apps/b.yaml:10: prod b: cannot size: execution.checkpointing.interval: "1 fortnight" is not a duration`,
		`SIZE-001 error apps/c.yaml:9: prod c: cannot size: workload.recordsPerSecond: the throughput needs 225,000 TaskManagers of 8 CPU, more than the sane bound of 100000`,
	} {
		f := findings[i]
		if got := fmt.Sprintf("%s %s %s: %s %s: %s", f.Rule, f.Severity, f.Location(), f.Environment, f.App, f.Message); !strings.HasPrefix(got, want) {
			t.Errorf("finding %d = %q, want it to start with %q", i, got, want)
		}
	}
}

func TestForAppWithoutPool(t *testing.T) {
	repo, _, _ := model.LoadFS(repoFS(nil))
	app := repo.EffectiveApps("prod")[0]
	broken := *app
	broken.Pool = nil
	_, err := ForApp(&broken, Limits{})
	var ae *AppError
	if !errors.As(err, &ae) || ae.File != "apps/a.yaml" || !strings.Contains(err.Error(), "no usable pool") {
		t.Errorf("ForApp without a pool: %v", err)
	}
	if _, err := ForApp(nil, Limits{}); err == nil {
		t.Error("ForApp(nil) did not fail")
	}
}

func TestTotalsPacksAcrossApps(t *testing.T) {
	// Two apps that each need 3 nodes alone share them.
	one := &Result{TaskManagers: 3, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30, JobManagerCPU: 1, JobManagerMemory: 2 << 30, TotalCPU: 7, TotalMemory: 26 << 30}
	two := *one
	tot := Totals("prod", nodes("8", "32Gi", 6), []*Result{one, &two})
	if tot.NodesNeeded != 3 || tot.TotalCPU != 14 || tot.TaskManagers != 6 || tot.CapacityCPU != 48 || tot.CapacityMemory != 192<<30 {
		t.Errorf("totals %+v", tot)
	}
	if empty := Totals("dev", nodes("4", "16Gi", 3), nil); empty.NodesNeeded != 0 || empty.CapacityCPU != 12 {
		t.Errorf("no apps: %+v", empty)
	}
}
