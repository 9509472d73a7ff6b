package pipeline

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// The stage contract (package doc, internal/diag): a problem in the
// repository is a finding with its file, line, rule and severity, and the
// error beside it is nil. Each stage gets a known-bad input of its own; a
// stage that returned the problem as an error, or lost its place, fails.
func TestStagesReportProblemsAsFindings(t *testing.T) {
	if _, ok := any(&diag.Finding{}).(error); ok {
		t.Fatal("*diag.Finding is an error again: findings would travel as errors, outside the contract")
	}
	rules := map[string]diag.Severity{}
	for _, r := range Rules() {
		rules[r.ID] = r.Severity
	}
	const app = "apps/app-0000.yaml"
	const kust = "overlays/env0/kustomization.yaml"
	// The bad inputs, each a change of a clean repository: file, text, and
	// its replacement (a new file when the text is empty).
	unknownField := []string{app, "  pool: medium\n", "  pool: medium\n  pools: medium\n"}
	notADuration := []string{app, "  workload:", "  flinkConfiguration: {execution.checkpointing.interval: 1 fortnight}\n  workload:"}
	missingPath := []string{kust, "", "patches:\n- target: {kind: FlinkDeployment}\n  patch: |-\n    - op: remove\n      path: /spec/nothere\n"}
	defaultAccount := []string{"environments/env0.yaml", "  namespace: flink-env0\n", "  namespace: flink-env0\n  serviceAccount: default\n"}

	type want struct {
		rule, file string
		line       int
	}
	check := func(t *testing.T, stage string, got []*diag.Finding, err error, w want) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s returned an error for a problem in the repository: %v", stage, err)
		}
		for _, f := range got {
			if f.Rule == w.rule && f.File == w.file && f.Line == w.line {
				if f.Severity == "" || f.Severity != rules[f.Rule] || f.Message == "" {
					t.Errorf("%s: %s without the severity of its rule (%q) or a message: %+v", stage, f.Rule, rules[f.Rule], f)
				}
				return
			}
		}
		t.Errorf("%s: want a %s finding at %s:%d, got %v", stage, w.rule, w.file, w.line, got)
	}

	t.Run("model", func(t *testing.T) {
		_, got, err := model.LoadFS(changed(t, unknownField))
		check(t, "model.LoadFS", got, err, want{"LOAD-002", app, 7})
	})
	t.Run("sizing", func(t *testing.T) {
		repo := testrepo.Clean[*model.Repository](t)(model.LoadFS(changed(t, notADuration)))
		_, got, err := sizing.ForRepository(repo, sizing.Limits{})
		check(t, "sizing.ForRepository", got, err, want{"SIZE-001", app, 9})
	})
	t.Run("render", func(t *testing.T) {
		fsys := changed(t, missingPath)
		repo := testrepo.Clean[*model.Repository](t)(model.LoadFS(fsys))
		size := func(string, string) (render.Resources, error) {
			return render.Resources{TaskManagers: 1, Slots: 1}, nil
		}
		out, got, err := render.Render(render.InputOf(repo, repo.Environment("env0"), size), render.Options{Source: fsys})
		check(t, "render.Render (overlay)", got, err, want{"RENDER-001", kust, 2})
		if out != nil {
			t.Error("render.Render returned objects beside its findings: nothing of the environment may be applied")
		}
		tooBig := func(string, string) (render.Resources, error) { return render.Resources{}, errors.New("too big") }
		_, got, err = render.Render(render.InputOf(repo, repo.Environment("env0"), tooBig), render.Options{})
		check(t, "render.Render (app)", got, err, want{"RENDER-001", app, 1})
	})
	t.Run("policy", func(t *testing.T) {
		repo := testrepo.Clean[*model.Repository](t)(model.LoadFS(changed(t, defaultAccount)))
		got := policy.Evaluate(policy.Input{Repo: repo, Now: fixedNow})
		check(t, "policy.Evaluate", got, nil, want{"RBAC-003", "environments/env0.yaml", 7})
	})
	t.Run("pipeline", func(t *testing.T) {
		// Every bad input at once: the pass runs, and each stage's finding
		// is in the result.
		res, err := Run(changed(t, unknownField, missingPath, defaultAccount), Options{Now: fixedNow})
		if err != nil {
			t.Fatalf("pipeline.Run returned an error for problems in the repository: %v", err)
		}
		check(t, "pipeline.Run", res.Findings, nil, want{"LOAD-002", app, 7})
		check(t, "pipeline.Run", res.Findings, nil, want{"RENDER-001", kust, 2})
		check(t, "pipeline.Run", res.Findings, nil, want{"RBAC-003", "environments/env0.yaml", 7})
		res, err = Run(changed(t, notADuration), Options{Now: fixedNow})
		if err != nil {
			t.Fatalf("pipeline.Run returned an error for a problem in the repository: %v", err)
		}
		check(t, "pipeline.Run", res.Findings, nil, want{"SIZE-001", app, 9})
	})
}

// changed is a repository of two apps in one environment, with changes:
// triples of file, text and replacement (a new file when text is empty).
func changed(t *testing.T, changes ...[]string) fstest.MapFS {
	t.Helper()
	files := testrepo.Files(testrepo.Options{Apps: 2, Nodes: 4})
	for _, c := range changes {
		file, from, to := c[0], c[1], c[2]
		switch {
		case from == "":
			files[file] = to
		case !strings.Contains(files[file], from):
			t.Fatalf("%s does not contain %q", file, from)
		default:
			files[file] = strings.Replace(files[file], from, to, 1)
		}
	}
	return testrepo.FS(files)
}

// No product code makes a finding by hand (a diag.Finding literal that
// names its Rule): findings come from a diag.Rule, which carries the
// rule's severity, so none can name a rule without it, or with a typo.
func TestFindingsAreMadeFromRules(t *testing.T) {
	fset := token.NewFileSet()
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			if filepath.Dir(p) == filepath.Join("..", "..", "internal", "diag") {
				return nil // Rule.At itself
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok || !isFinding(lit.Type) {
					return true
				}
				for _, e := range lit.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok && (k.Name == "Rule" || k.Name == "Severity") {
							t.Errorf("%s: a diag.Finding made by hand (%s: …); make it from its rule: Rule.At", fset.Position(lit.Pos()), k.Name)
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// isFinding reports whether a composite literal's type is diag.Finding.
func isFinding(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "diag" && sel.Sel.Name == "Finding"
}
