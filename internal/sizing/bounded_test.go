package sizing

import (
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// TestHostileInputsEndQuickly loads and sizes repositories whose numbers are
// hostile (a huge exponent, a megabyte of digits) in the workload, the pool,
// the nodes and the Flink configuration. Each must end, within a deadline that
// only a hang misses, with a load finding or a sizing error at the value's
// file and line, and a message of reasonable length.
func TestHostileInputsEndQuickly(t *testing.T) {
	mb := strings.Repeat("9", 1<<20)
	app := func(workload, conf string) map[string]string {
		return map[string]string{"apps/a.yaml": "apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata: {name: a}\nspec:\n  environments: [prod]\n  pool: big\n  job: {jarURI: \"local:///a.jar\"}\n  workload:\n    recordsPerSecond: 200000\n" + workload + "  flinkConfiguration:\n" + conf}
	}
	cases := []struct {
		name  string
		files map[string]string
		want  string // the start of the first problem
	}{
		{"stateSize 1e2147483648", app("    stateSize: 1e2147483648\n", ""),
			`LOAD-009 apps/a.yaml:10: spec.workload.stateSize: "1e2147483648" has an exponent out of range`},
		{"stateSize 1e4294967296", app("    stateSize: 1e4294967296\n", ""),
			`LOAD-009 apps/a.yaml:10: spec.workload.stateSize: "1e4294967296" has an exponent out of range`},
		{"stateSize at the bound", app("    stateSize: 1e30\n", ""),
			`SIZE-001 apps/a.yaml:10: cannot size: workload.stateSize: 1e30 is absurd`},
		{"node CPU 1e-100000000", map[string]string{"environments/prod.yaml": strings.Replace(string(repoFS(nil)["environments/prod.yaml"].Data), `cpu: "8"`, "cpu: 1e-100000000", 1)},
			`LOAD-009 environments/prod.yaml:7: spec.nodes.cpu: "1e-100000000" has an exponent out of range`},
		{"TaskManager memory of a megabyte", map[string]string{"pools/big.yaml": strings.Replace(string(repoFS(nil)["pools/big.yaml"].Data), "64Gi", mb, 1)},
			`LOAD-009 pools/big.yaml:5: spec.taskManager.memory: a quantity of 1048576 characters is too long`},
		{"checkpoint interval of a megabyte", app("", "    execution.checkpointing.interval: "+mb+"\n"),
			`SIZE-001 apps/a.yaml:10: cannot size: execution.checkpointing.interval: a duration of 1048576 characters is too long`},
		{"checkpoint interval 1e2147483648 s", app("", "    execution.checkpointing.interval: 1e2147483648 s\n"),
			`SIZE-001 apps/a.yaml:10: cannot size: execution.checkpointing.interval: "1e2147483648 s" is not a duration: unknown unit`},
		{"incremental of a megabyte", app("", "    state.backend.incremental: "+mb+"\n"),
			`SIZE-001 apps/a.yaml:10: cannot size: state.backend.incremental: "9999999999999999999999999999999999999999"… (1048576 bytes) is not true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan []string, 1)
			go func() { done <- loadAndSize(tc.files) }()
			var problems []string
			select {
			case problems = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("loading and sizing did not finish within 5 s: an unbounded parse")
			}
			if len(problems) == 0 || !strings.HasPrefix(problems[0], tc.want) {
				t.Fatalf("want a problem starting %q, got %.1000q", tc.want, problems)
			}
			for _, p := range problems {
				if len(p) > 400 {
					t.Errorf("a message of %d bytes: %.400s…", len(p), p)
				}
			}
		})
	}
}

// loadAndSize loads the repository of files and sizes it, and returns the
// problems of both stages as text.
func loadAndSize(files map[string]string) []string {
	var out []string
	repo, findings, err := model.LoadFS(repoFS(files))
	if err == nil && len(findings) == 0 {
		_, findings, err = ForRepository(repo, Limits{})
	}
	for _, f := range findings {
		out = append(out, f.Rule+" "+f.Location()+": "+f.Message)
	}
	if err != nil {
		out = append(out, err.Error())
	}
	return out
}
