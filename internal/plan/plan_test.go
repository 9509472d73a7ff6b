package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/sync"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const ledgerAudit = `# Audits ledger entries: a small, simple job.
apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: ledger-audit
  labels:
    team: finance
spec:
  environments: [dev, staging]
  pool: small
  image: registry.example.com/flink/ledger-audit:0.1.0
  job:
    jarURI: local:///opt/flink/usrlib/ledger-audit.jar
    entryClass: com.example.finance.LedgerAudit
  workload:
    recordsPerSecond: 5000
    avgRecordBytes: 512
    complexity: simple
    latency: 5s
`

// secretValue is written inline by the policy-violation step; it must
// never appear in a plan.
const secretValue = "hunter2-not-for-git"

// changes lists what a plan does, one "env action ID" line per object,
// sorted, with "env status" for environments added or removed.
func changes(r *Result) []string {
	var out []string
	for _, e := range r.Environments {
		if e.Status == Added || e.Status == Removed {
			out = append(out, e.Name+" "+string(e.Status))
		}
		for _, o := range e.Objects {
			out = append(out, e.Name+" "+string(o.Action)+" "+o.ID)
		}
	}
	sort.Strings(out)
	return out
}

// newFindings lists head's new findings as "env rule app".
func newFindings(r *Result) []string {
	var out []string
	for _, f := range r.AllFindings() {
		if f.New {
			out = append(out, f.Environment+" "+f.Rule+" "+f.App)
		}
	}
	sort.Strings(out)
	return out
}

// sizingChanges lists "env app status TMs-before→after".
func sizingChanges(r *Result) []string {
	var out []string
	for _, e := range r.Environments {
		for _, a := range e.Apps {
			out = append(out, fmt.Sprintf("%s %s %s %s", e.Name, a.App, a.Status,
				sizeField(a, func(s *Size) string { return fmt.Sprint(s.TaskManagers) })))
		}
	}
	sort.Strings(out)
	return out
}

// objectsOf lists every object env renders at rev, as "env change ID".
func objectsOf(t *testing.T, g *gitRepo, rev, env string) []string {
	t.Helper()
	fsys, _, err := source.TreeFS(g.repo, rev)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(fsys, pipeline.Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range res.Rendered[env].Objects {
		out = append(out, env+" change "+o.ID())
	}
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// maskRe matches the keyed masks of internal/redact, whose key changes
// with every process.
var maskRe = regexp.MustCompile(`<masked hmac:[0-9a-f]{12}>`)

// stableMasks numbers the masks of got in order of first appearance, so a
// golden file keeps which values are equal without the process's key.
func stableMasks(got []byte) []byte {
	seen := map[string]string{}
	return maskRe.ReplaceAllFunc(got, func(m []byte) []byte {
		if _, ok := seen[string(m)]; !ok {
			seen[string(m)] = fmt.Sprintf("<masked hmac:#%d>", len(seen)+1)
		}
		return []byte(seen[string(m)])
	})
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = stableMasks(got)
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/plan -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./internal/plan -run %s -update and review the diff.\ngot:\n%s", path, t.Name(), got)
	}
}

// TestPlanEachChange commits the example, then one change a commit, and
// plans each commit against the one before: each plan must name exactly
// the change made, and its Markdown must match the golden file.
func TestPlanEachChange(t *testing.T) {
	g := newExampleRepo(t)
	steps := []struct {
		name   string
		change func()
		// want are the object changes; nil means "computed by wantFn".
		want        []string
		wantFn      func() []string
		wantSizing  []string
		wantNew     []string
		wantBlocked []string
	}{
		{
			name:   "add-app",
			change: func() { g.write("apps/ledger-audit.yaml", ledgerAudit) },
			want: []string{
				"dev add FlinkDeployment/flink-dev/ledger-audit",
				"staging add FlinkDeployment/flink-staging/ledger-audit",
			},
			wantSizing: []string{"dev ledger-audit added – → 1", "staging ledger-audit added – → 1"},
		},
		{
			name: "scale-up",
			change: func() {
				g.edit("apps/orders-enrich.yaml", "recordsPerSecond: 50000", "recordsPerSecond: 80000")
			},
			want:       []string{"prod change FlinkDeployment/flink-prod/orders-enrich"},
			wantSizing: []string{"prod orders-enrich changed 13 → 21"},
		},
		{
			// A stateful job turned stateless: the plan says its state is
			// lost (issue 15). (scale-up above is the state-keeping rescale.)
			name: "state-lost",
			change: func() {
				g.edit("apps/orders-enrich.yaml", "upgradeMode: savepoint", "upgradeMode: stateless")
			},
			want: []string{"dev change FlinkDeployment/flink-dev/orders-enrich", "prod change FlinkDeployment/flink-prod/orders-enrich",
				"staging change FlinkDeployment/flink-staging/orders-enrich"},
			// The state guard: an error in prod (TLS required, so enforce),
			// warnings elsewhere.
			wantNew:     []string{"dev STATE-001 orders-enrich", "prod STATE-001 orders-enrich", "staging STATE-001 orders-enrich"},
			wantBlocked: []string{"prod"},
		},
		{
			name:   "remove-app",
			change: func() { g.remove("apps/metrics-rollup.yaml") },
			want: []string{
				"dev remove FlinkDeployment/flink-dev/metrics-rollup",
				"prod remove FlinkDeployment/flink-prod/metrics-rollup",
			},
			wantSizing: []string{"dev metrics-rollup removed 1 → –", "prod metrics-rollup removed 10 → –"},
		},
		{
			name: "change-overlay",
			change: func() {
				g.edit("overlays/prod/kustomization.yaml", "cost-center: data-platform", "cost-center: streaming")
			},
			wantFn: func() []string { return objectsOf(t, g, "main", "prod") },
		},
		{
			name: "policy-violation",
			change: func() {
				g.write("apps/fraud-detection.yaml", g.read("apps/fraud-detection.yaml")+"  flinkConfiguration:\n    s3.secret-key: "+secretValue+"\n")
			},
			want: []string{
				"prod change FlinkDeployment/flink-prod/fraud-detection",
				"staging change FlinkDeployment/flink-staging/fraud-detection",
			},
			wantNew:     []string{"prod TLS-003 fraud-detection", "staging TLS-003 fraud-detection"},
			wantBlocked: []string{"prod", "staging"},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			g.commit(s.name)
			r := g.plan("main~1", "main", Options{})
			want := s.want
			if s.wantFn != nil {
				want = s.wantFn()
			}
			if got := changes(r); strings.Join(got, "\n") != strings.Join(sorted(want), "\n") {
				t.Errorf("object changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(sorted(want), "\n"))
			}
			if got := sizingChanges(r); strings.Join(got, "\n") != strings.Join(s.wantSizing, "\n") {
				t.Errorf("sizing changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(s.wantSizing, "\n"))
			}
			if got := newFindings(r); strings.Join(got, "\n") != strings.Join(s.wantNew, "\n") {
				t.Errorf("new findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(s.wantNew, "\n"))
			}
			var blocked []string
			for _, e := range r.Environments {
				if len(e.HeadBlocked) > 0 {
					blocked = append(blocked, e.Name)
				}
			}
			if strings.Join(blocked, " ") != strings.Join(s.wantBlocked, " ") {
				t.Errorf("blocked on head: %v, want %v", blocked, s.wantBlocked)
			}
			if !r.Changed() {
				t.Errorf("the plan must report a change")
			}
			var md, text, js bytes.Buffer
			if err := WriteMarkdown(&md, r); err != nil {
				t.Fatal(err)
			}
			if err := WriteText(&text, r); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			for format, out := range map[string]string{"markdown": md.String(), "text": text.String(), "json": js.String()} {
				if strings.Contains(out, secretValue) {
					t.Errorf("%s output shows the secret value", format)
				}
			}
			var back Result
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatalf("JSON output does not parse: %v", err)
			}
			if strings.Join(changes(&back), "\n") != strings.Join(changes(r), "\n") {
				t.Errorf("JSON round trip lost changes")
			}
			checkGolden(t, s.name+".md", md.Bytes())
		})
	}
	if t.Failed() {
		return
	}

	// The violation's diff shows that the value changed, masked.
	r := g.plan("main~1", "main", Options{})
	for _, e := range r.Environments {
		for _, o := range e.Objects {
			if !strings.Contains(o.Diff, `+    s3.secret-key: <masked hmac:`) {
				t.Errorf("%s: the diff must show the key with its value masked:\n%s", o.ID, o.Diff)
			}
		}
	}
	// A plan of a revision against itself changes nothing.
	same := g.plan("main", "main", Options{})
	if same.Changed() || len(changes(same)) != 0 || len(newFindings(same)) != 0 {
		t.Errorf("main against main must change nothing: %v %v", changes(same), newFindings(same))
	}
	if n := same.AtLeast(diag.Error); n != 2 {
		t.Errorf("head has 2 error findings (not new), AtLeast says %d", n)
	}
	// The whole way from the example to the last commit, at once.
	all := g.plan("main~6", "main", Options{})
	if got := strings.Join(changes(all), "\n"); !strings.Contains(got, "dev add FlinkDeployment/flink-dev/ledger-audit") ||
		!strings.Contains(got, "prod remove FlinkDeployment/flink-prod/metrics-rollup") {
		t.Errorf("main~6..main must hold the earlier changes:\n%s", got)
	}
}

// TestPlanEnvironmentAddedAndRemoved renames dev to qa: qa is a new
// environment, and dev's objects stay in the cluster (flinksync never prunes
// a whole environment), which the plan must say.
func TestPlanEnvironmentAddedAndRemoved(t *testing.T) {
	g := newExampleRepo(t)
	g.remove("environments/dev.yaml")
	g.write("environments/qa.yaml", strings.NewReplacer("name: dev", "name: qa", "namespace: flink-dev", "namespace: flink-qa").
		Replace(mustRead(t, filepath.Join(example, "environments", "dev.yaml"))))
	for _, app := range []string{"audit-archiver", "clickstream-filter", "inventory-sync", "metrics-rollup", "orders-enrich", "payments-ledger"} {
		p := "apps/" + app + ".yaml"
		g.write(p, strings.NewReplacer("[dev, ", "[qa, ", "\n    dev:\n", "\n    qa:\n").Replace(g.read(p)))
	}
	g.commit("rename dev to qa")
	r := g.plan("main~1", "main", Options{})

	var dev, qa *EnvironmentPlan
	for _, e := range r.Environments {
		switch e.Name {
		case "dev":
			dev = e
		case "qa":
			qa = e
		default:
			if e.Status != Unchanged {
				t.Errorf("%s must not change: %s %v", e.Name, e.Status, e.Objects)
			}
		}
	}
	if dev == nil || qa == nil {
		t.Fatalf("both dev and qa must be in the plan: %+v", r.Environments)
	}
	if dev.Status != Removed || dev.Count(Keep) != 9 || dev.Count(Prune) != 0 || dev.Totals.After != nil {
		t.Errorf("dev: want removed with its 9 objects kept, got %s keep=%d prune=%d", dev.Status, dev.Count(Keep), dev.Count(Prune))
	}
	if qa.Status != Added || qa.Count(Create) != 9 || qa.Totals.Before != nil || qa.Namespace != "flink-qa" {
		t.Errorf("qa: want added with 9 objects, got %s %d", qa.Status, qa.Count(Create))
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`dev` (removed from Git)", "`qa` (new)", "never prunes a whole environment", "namespace flink-qa must exist"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown must say %q", want)
		}
	}
	checkGolden(t, "rename-environment.md", md.Bytes())
}

// TestPlanNoChange: a commit that changes no rendered object (a comment)
// gives an unchanged plan.
func TestPlanNoChange(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("apps/orders-enrich.yaml", "# Enriches", "# Still enriches")
	g.commit("a comment")
	r := g.plan("main~1", "main", Options{})
	if r.Changed() || len(changes(r)) != 0 {
		t.Fatalf("a comment must change nothing: %v", changes(r))
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md.String(), "<details>") || !strings.Contains(md.String(), "No change") {
		t.Errorf("an unchanged plan is the summary alone:\n%s", md.String())
	}
}

// TestPlanFindingsMatchAcrossMovedLines: a finding whose line moves is not
// new; a second one of the same rule is.
func TestPlanFindingsMatchAcrossMovedLines(t *testing.T) {
	g := newExampleRepo(t)
	g.write("apps/fraud-detection.yaml", g.read("apps/fraud-detection.yaml")+"  flinkConfiguration:\n    s3.secret-key: "+secretValue+"\n")
	g.commit("violation")
	g.edit("apps/fraud-detection.yaml", "# Scores", "# One more line\n# Scores")
	g.commit("move it down a line")
	r := g.plan("main~1", "main", Options{})
	if n := newFindings(r); len(n) != 0 {
		t.Errorf("a finding that only moved is not new: %v", n)
	}
	if r.AtLeast(diag.Error) != 2 || r.AtLeast(diag.Warning) != 2 {
		t.Errorf("AtLeast: error %d, warning %d", r.AtLeast(diag.Error), r.AtLeast(diag.Warning))
	}
	g.edit("apps/orders-enrich.yaml", "pipeline.max-parallelism: \"720\"", "pipeline.max-parallelism: \"720\"\n    sasl.password: x")
	g.commit("another")
	r = g.plan("main~1", "main", Options{})
	if got := strings.Join(newFindings(r), ","); got != "dev TLS-003 orders-enrich,prod TLS-003 orders-enrich,staging TLS-003 orders-enrich" {
		t.Errorf("new findings: %s", got)
	}
	// Fixed on head: the base's findings are resolved.
	g.edit("apps/orders-enrich.yaml", "\n    sasl.password: x", "")
	g.commit("fix")
	r = g.plan("main~1", "main", Options{})
	resolved := 0
	for _, e := range r.Environments {
		resolved += len(e.Resolved)
	}
	if resolved != 3 {
		t.Errorf("want 3 resolved findings, got %d", resolved)
	}
}

// TestMarkdownIsCutOutsideFences plans a change big enough to pass the
// limit and checks the cut: under the limit, every fence and <details>
// closed, and the note there.
func TestMarkdownIsCutOutsideFences(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("overlays/prod/kustomization.yaml", "cost-center: data-platform", "cost-center: streaming")
	g.commit("overlay")
	r := g.plan("main~1", "main", Options{})
	var full bytes.Buffer
	if err := WriteMarkdown(&full, r); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{full.Len() + 1000, full.Len() - 1, 5000, 3000, 1600} {
		var b bytes.Buffer
		if err := writeMarkdown(&b, r, limit); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if len(out) > limit {
			t.Errorf("limit %d: wrote %d bytes", limit, len(out))
		}
		cut := strings.Contains(out, "This plan is cut here")
		if cut != (limit < full.Len()) {
			t.Errorf("limit %d (full %d): cut note present = %v", limit, full.Len(), cut)
		}
		if strings.Count(out, "<details>") != strings.Count(out, "</details>") {
			t.Errorf("limit %d: unbalanced <details>", limit)
		}
		if n := strings.Count(out, "\n```"); n%2 != 0 {
			t.Errorf("limit %d: a code fence is left open (%d fence lines)", limit, n)
		}
		if !strings.Contains(out, "| `prod` |") {
			t.Errorf("limit %d: the summary table must always be there", limit)
		}
	}
}

func TestMarkdownFenceLongerThanBackticksInside(t *testing.T) {
	m := &md{limit: 10000}
	m.fence("diff", "+ a: \"````\"\n")
	if !strings.Contains(m.b.String(), "`````diff\n") {
		t.Errorf("the fence must be longer than the backtick run inside:\n%s", m.b.String())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeDiffer stands in for the cluster in unit tests; the live comparison
// against a real API server is tested in cmd/flinksync.
type fakeDiffer struct{ err error }

func (f fakeDiffer) Diff(context.Context, *model.Environment, *render.Environment) ([]sync.ObjectDiff, error) {
	return nil, f.err
}

func TestPlanLiveErrorsAreReported(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("apps/orders-enrich.yaml", "recordsPerSecond: 50000", "recordsPerSecond: 60000")
	g.commit("scale")
	r := g.plan("main~1", "main", Options{Live: fakeDiffer{err: fmt.Errorf("namespace \"flink-dev\" does not exist")}})
	if !r.Live || len(r.LiveErrors()) != 5 || !strings.Contains(r.LiveErrors()[0], "flink-dev") { // one per environment
		t.Errorf("each environment's live error must be kept: %v", r.LiveErrors())
	}
	r = g.plan("main~1", "main", Options{Live: fakeDiffer{}})
	if r.LiveDiffers() || len(r.LiveErrors()) != 0 {
		t.Errorf("an empty live diff: %v %v", r.LiveDiffers(), r.LiveErrors())
	}
}
