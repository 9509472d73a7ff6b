package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/plan"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// planRepo is a Git repository with a work tree, holding the example under
// sub ("" for the root), committed to with go-git.
type planRepo struct {
	t       *testing.T
	dir     string
	sub     string
	wt      *git.Worktree
	repo    *git.Repository
	commits int
}

func newPlanRepo(t *testing.T, sub string, rewrite func(path, content string) string) *planRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	p := &planRepo{t: t, dir: dir, sub: sub, wt: wt, repo: repo}
	err = filepath.WalkDir(example, func(f string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(example, f)
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		content := string(data)
		if rewrite != nil {
			content = rewrite(filepath.ToSlash(rel), content)
		}
		p.write(filepath.ToSlash(rel), content)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.commit("the example")
	return p
}

// root is the flinksync repository's folder.
func (p *planRepo) root() string { return filepath.Join(p.dir, filepath.FromSlash(p.sub)) }

func (p *planRepo) path(name string) string { return path.Join(p.sub, name) }

func (p *planRepo) write(name, content string) {
	p.t.Helper()
	full := filepath.Join(p.dir, filepath.FromSlash(p.path(name)))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.wt.Add(p.path(name)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *planRepo) edit(name, from, to string) {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, filepath.FromSlash(p.path(name))))
	if err != nil {
		p.t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		p.t.Fatalf("%s does not contain %q", name, from)
	}
	p.write(name, strings.Replace(string(b), from, to, 1))
}

func (p *planRepo) commit(msg string) {
	p.t.Helper()
	p.commits++
	sig := &object.Signature{Name: "test", Email: "test@flinksync.dev", When: time.Date(2026, 11, 1, 9, p.commits, 0, 0, time.UTC)}
	if _, err := p.wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		p.t.Fatal(err)
	}
}

const scaleFrom, scaleTo = "recordsPerSecond: 50000", "recordsPerSecond: 80000"

func violation(p *planRepo) {
	p.edit("apps/fraud-detection.yaml", "    recoveryTarget: 2m\n", "    recoveryTarget: 2m\n  flinkConfiguration:\n    s3.secret-key: not-for-git\n")
}

func TestPlanCommand(t *testing.T) {
	p := newPlanRepo(t, "deploy/flink", nil)
	p.write("../../README.md", "# not part of the flinksync repository\n")
	p.edit("apps/orders-enrich.yaml", scaleFrom, scaleTo)
	p.commit("scale orders-enrich")
	repo := p.root()

	code, out, errOut := runCLI(t, "plan", "--repo", repo, "--base", "main~1", "--head", "main", "--output", "markdown")
	if code != 1 {
		t.Fatalf("a change must exit 1, got %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{plan.MarkdownMarker, "| `prod` | 0 | 1 | 0 | 59 → 67 | 176.5 → 192.5 of 256 | 0 |",
		"change <code>FlinkDeployment/flink-prod/orders-enrich</code>", "-    replicas: 13\n+    replicas: 21"} {
		if !strings.Contains(out, want) {
			t.Errorf("the Markdown must contain %q:\n%s", want, out)
		}
	}
	// --head defaults to HEAD.
	if code, out, _ := runCLI(t, "plan", "--repo", repo, "--base", "HEAD~1"); code != 1 || !strings.Contains(out, "change FlinkDeployment/flink-prod/orders-enrich") {
		t.Errorf("text output with the default head: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "plan", "--repo", repo, "--base", "main", "--head", "main", "-o", "markdown")
	if code != 0 || !strings.Contains(out, "No change") {
		t.Errorf("the same revision twice must exit 0 with no change, got %d:\n%s", code, out)
	}

	code, out, _ = runCLI(t, "plan", "--repo", repo, "--base", "main~1", "--head", "main", "-o", "json")
	var r plan.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 {
		t.Fatalf("JSON: exit %d, %v\n%s", code, err, out)
	}
	var changed []string
	for _, e := range r.Environments {
		for _, o := range e.Objects {
			changed = append(changed, e.Name+" "+string(o.Action)+" "+o.ID)
		}
	}
	if strings.Join(changed, ",") != "prod change FlinkDeployment/flink-prod/orders-enrich" {
		t.Errorf("JSON changes: %v", changed)
	}

	// A policy violation: new findings, SARIF with a baseline state, and
	// --fail-on.
	violation(p)
	p.commit("violation")
	code, out, _ = runCLI(t, "plan", "--repo", repo, "--base", "main~1", "--head", "main", "-o", "sarif")
	if code != 1 {
		t.Fatalf("sarif: exit %d\n%s", code, out)
	}
	states := sarifStates(t, out)
	if strings.Join(states, ",") != "deploy/flink/apps/fraud-detection.yaml TLS-003 new,deploy/flink/apps/fraud-detection.yaml TLS-003 new" {
		t.Errorf("SARIF results: %v", states)
	}
	_, out, _ = runCLI(t, "plan", "--repo", repo, "--base", "main", "--head", "main", "-o", "sarif")
	if states := sarifStates(t, sarifOrFail(t, out)); len(states) != 2 || !strings.HasSuffix(states[0], " unchanged") {
		t.Errorf("SARIF of main against itself: %v", states)
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--base", "main", "--head", "main"}, 0},
		{[]string{"--base", "main", "--head", "main", "--fail-on", "error"}, 1},
		{[]string{"--base", "main", "--head", "main", "--fail-on", "warning"}, 1},
		{[]string{"--base", "main~2", "--head", "main~2", "--fail-on", "warning"}, 0},
	} {
		if code, out, errOut := runCLI(t, append([]string{"plan", "--repo", repo}, c.args...)...); code != c.want {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.want, out, errOut)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--base", "no-such-branch"}, "no-such-branch"},
		{[]string{"--base", "main", "--head", "v9"}, "--head"},
		{[]string{"--head", "main"}, "--base"},
		{[]string{"--base", "main", "-o", "yaml"}, "--output"},
		{[]string{"--base", "main", "--fail-on", "info"}, "--fail-on"},
		{[]string{"--base", "main", "--policy", filepath.Join(repo, "nope.yaml")}, "--policy"},
	} {
		code, _, errOut := runCLI(t, append([]string{"plan", "--repo", repo}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: want exit 2 naming %q, got %d %q", c.args, c.want, code, errOut)
		}
	}
	outside := t.TempDir()
	if code, _, errOut := runCLI(t, "plan", "--repo", outside, "--base", "main"); code != 2 || !strings.Contains(errOut, "not in a Git repository") {
		t.Errorf("a folder outside Git: %d %q", code, errOut)
	}
	// A revision without the folder.
	orphan := plumbing.NewHashReference("refs/heads/empty", writeEmptyCommit(t, p.repo))
	if err := p.repo.Storer.SetReference(orphan); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "plan", "--repo", repo, "--base", "empty"); code != 2 || !strings.Contains(errOut, "has no folder deploy/flink") {
		t.Errorf("a base without the folder: %d %q", code, errOut)
	}
}

func writeEmptyCommit(t *testing.T, repo *git.Repository) plumbing.Hash {
	t.Helper()
	tree := repo.Storer.NewEncodedObject()
	if err := (&object.Tree{}).Encode(tree); err != nil {
		t.Fatal(err)
	}
	th, err := repo.Storer.SetEncodedObject(tree)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "t", Email: "t@x", When: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := repo.Storer.NewEncodedObject()
	if err := (&object.Commit{Author: sig, Committer: sig, Message: "empty", TreeHash: th}).Encode(c); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sarifOrFail(t *testing.T, out string) string {
	t.Helper()
	if !strings.Contains(out, `"version": "2.1.0"`) {
		t.Fatalf("not a SARIF log:\n%s", out)
	}
	return out
}

// sarifStates lists each result as "uri rule baselineState".
func sarifStates(t *testing.T, out string) []string {
	t.Helper()
	var doc struct {
		Runs []struct {
			Results []struct {
				RuleID        string `json:"ruleId"`
				BaselineState string `json:"baselineState"`
				Locations     []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("SARIF does not parse: %v\n%s", err, out)
	}
	var states []string
	for _, r := range doc.Runs[0].Results {
		states = append(states, r.Locations[0].PhysicalLocation.ArtifactLocation.URI+" "+r.RuleID+" "+r.BaselineState)
	}
	return states
}

// snapshot is everything of a repository a read must not change: HEAD
// (symbolic target and commit), every ref, the index file, and every file
// of the work tree with its mode.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		t.Fatal(err)
	}
	out["HEAD"] = head.String()
	refs, _ := repo.References()
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		out["ref "+r.Name().String()] = r.String()
		return nil
	})
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == filepath.Join(".git", "objects") {
				return filepath.SkipDir // reads add nothing here, but go-git may cache packs
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out["file "+rel] = fmt.Sprintf("%v %s", info.Mode(), hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlanLeavesRepositoryAlone: with a dirty work tree, a staged change
// and a third branch checked out, plan reads main and feature from the
// object store and changes nothing: HEAD, refs, the index and every file
// are the same afterwards, and the dirty files do not leak into the plan.
func TestPlanLeavesRepositoryAlone(t *testing.T) {
	p := newPlanRepo(t, "", nil)
	if err := p.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}); err != nil {
		t.Fatal(err)
	}
	p.edit("apps/orders-enrich.yaml", scaleFrom, scaleTo)
	p.commit("scale on feature")
	if err := p.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("main")}); err != nil {
		t.Fatal(err)
	}
	if err := p.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("third"), Create: true}); err != nil {
		t.Fatal(err)
	}
	// Staged: an overlay change; unstaged: a removed app and a new one.
	p.edit("overlays/prod/kustomization.yaml", "cost-center: data-platform", "cost-center: staged")
	if err := os.Remove(filepath.Join(p.dir, "apps", "metrics-rollup.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "apps", "untracked.yaml"), []byte("not: valid: yaml: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p.dir)

	code, out, errOut := runCLI(t, "plan", "--repo", p.dir, "--base", "main", "--head", "feature", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	var r plan.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, e := range r.Environments {
		for _, o := range e.Objects {
			changed = append(changed, string(o.Action)+" "+o.ID)
		}
		if len(e.Findings) > 0 {
			t.Errorf("%s: the work tree's broken file must not be read: %v", e.Name, e.Findings[0].Finding)
		}
	}
	if strings.Join(changed, ",") != "change FlinkDeployment/flink-prod/orders-enrich" {
		t.Errorf("the plan must hold feature's change alone, not the work tree's: %v", changed)
	}

	after := snapshot(t, p.dir)
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if before[k] != after[k] {
			t.Errorf("%s changed: %q → %q", k, before[k], after[k])
		}
	}
	if !strings.Contains(before["HEAD"], "refs/heads/third") {
		t.Errorf("the test must have the third branch checked out: %s", before["HEAD"])
	}
	st, err := p.wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.IsClean() {
		t.Errorf("the work tree must still be dirty")
	}
}

// TestPlanLive applies the base to a real API server with the sync package,
// edits a live field, and checks that `plan --live` reports that drift in
// the environment where it happened, and nowhere else.
func TestPlanLive(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	suffix := fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff)
	ns := func(env string) string { return "plan-" + suffix + "-" + env }
	p := newPlanRepo(t, "", func(name, content string) string {
		if strings.HasPrefix(name, "environments/") {
			return strings.Replace(content, "namespace: flink-", "namespace: plan-"+suffix+"-", 1)
		}
		return content
	})
	p.edit("apps/orders-enrich.yaml", scaleFrom, scaleTo)
	p.commit("scale orders-enrich")
	for _, env := range []string{"dev", "staging", "prod", "prod-eu", exampleCMFEnv} {
		testenv.CreateNamespace(t, cfg, ns(env))
	}
	// The cmf environment lives on a CMF stand-in (example_cmf_test.go).
	_, cmfEndpoint := exampleCMF(t, cfg, ns(exampleCMFEnv))
	planCLI := func(args ...string) (int, string, string) {
		return runCLI(t, append(append([]string{"plan"}, args...), cmfEndpoint...)...)
	}

	// Apply the base.
	repo, err := source.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, h, err := source.TreeFS(repo, "main~1")
	if err != nil {
		t.Fatal(err)
	}
	base, err := pipeline.Run(fsys, pipeline.Options{Revision: h.String()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, env := range base.Repo.Environments {
		res := exampleSyncer(t, s, cmfEndpoint, env).Sync(ctx, env, base.Rendered[env.Metadata.Name], sync.Options{Mode: sync.ModeApply})
		if !res.OK() {
			t.Fatalf("applying the base to %s: %s %v %v", env.Metadata.Name, res.Summary(), res.Errors, res.Blocked)
		}
	}
	code, out, errOut := planCLI("--repo", p.dir, "--base", "main~1", "--live", "--kubeconfig", kc, "-o", "json")
	var r plan.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 {
		t.Fatalf("exit %d (%v):\n%s%s", code, err, out, errOut)
	}
	for _, e := range r.Environments {
		if e.Live == nil || e.Live.Error != "" || len(e.Live.Objects) != 0 {
			t.Fatalf("%s: the cluster matches the base right after the apply, got %+v", e.Name, e.Live)
		}
	}

	// Someone scales staging's orders-enrich by hand.
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
	if _, err := dyn.Resource(gvr).Namespace(ns("staging")).Patch(ctx, "orders-enrich", types.MergePatchType,
		[]byte(`{"spec":{"taskManager":{"replicas":42}}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = planCLI("--repo", p.dir, "--base", "main~1", "--live", "--kubeconfig", kc, "-o", "json")
	r = plan.Result{}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 {
		t.Fatalf("exit %d (%v):\n%s%s", code, err, out, errOut)
	}
	for _, e := range r.Environments {
		if e.Live == nil || e.Live.Error != "" {
			t.Fatalf("%s: %+v", e.Name, e.Live)
		}
		if e.Name != "staging" {
			if len(e.Live.Objects) != 0 {
				t.Errorf("%s: no drift here, got %+v", e.Name, e.Live.Objects)
			}
			continue
		}
		if len(e.Live.Objects) != 1 || e.Live.Objects[0].ID() != "FlinkDeployment/"+ns("staging")+"/orders-enrich" ||
			!strings.Contains(e.Live.Objects[0].Unified, "-    replicas: 42") {
			t.Errorf("staging: the live edit must show, got %+v", e.Live.Objects)
		}
	}
	code, out, _ = planCLI("--repo", p.dir, "--base", "main~1", "--live", "--kubeconfig", kc, "-o", "markdown")
	if code != 1 || !strings.Contains(out, "live cluster differs from base in 1 object") || !strings.Contains(out, "-    replicas: 42") {
		t.Errorf("the Markdown must show the drift:\n%s", out)
	}
	// Base against itself: nothing changes in Git, but the cluster
	// differs, so the plan still exits 1.
	if code, out, _ := planCLI("--repo", p.dir, "--base", "main~1", "--head", "main~1", "--live", "--kubeconfig", kc); code != 1 {
		t.Errorf("drift alone must exit 1, got %d:\n%s", code, out)
	}
	// A namespace that does not exist cannot be compared: exit 2.
	p.edit("environments/dev.yaml", "namespace: "+ns("dev"), "namespace: "+ns("gone"))
	p.commit("move dev")
	code, out, errOut = planCLI("--repo", p.dir, "--base", "main", "--head", "main", "--live", "--kubeconfig", kc)
	if code != 2 || !strings.Contains(errOut, ns("gone")) || !strings.Contains(out, "cannot compare") {
		t.Errorf("a missing namespace must exit 2 naming it, got %d\n%s%s", code, out, errOut)
	}
}
