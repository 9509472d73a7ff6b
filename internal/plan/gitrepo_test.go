package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/source"
)

const example = "../../examples/repo-layout"

// fixedNow keeps waiver expiry stable.
var fixedNow = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// gitRepo is a real Git repository with a work tree in a temporary folder,
// committed to through go-git, with fixed signatures so that commit hashes
// (which the golden files show) are the same on every run.
type gitRepo struct {
	t       testing.TB
	dir     string
	repo    *git.Repository
	wt      *git.Worktree
	commits int
}

// newExampleRepo makes a repository whose first commit is
// examples/repo-layout.
func newExampleRepo(t testing.TB) *gitRepo {
	t.Helper()
	g := newGitRepo(t)
	err := filepath.WalkDir(example, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(example, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		g.write(filepath.ToSlash(rel), string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g.commit("the example")
	return g
}

func newGitRepo(t testing.TB) *gitRepo {
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
	return &gitRepo{t: t, dir: dir, repo: repo, wt: wt}
}

func (g *gitRepo) write(path, content string) {
	g.t.Helper()
	full := filepath.Join(g.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.wt.Add(path); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gitRepo) read(path string) string {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, filepath.FromSlash(path)))
	if err != nil {
		g.t.Fatal(err)
	}
	return string(b)
}

// edit replaces old with new in a file, which must hold old.
func (g *gitRepo) edit(path, old, new string) {
	g.t.Helper()
	s := g.read(path)
	if !strings.Contains(s, old) {
		g.t.Fatalf("%s does not contain %q", path, old)
	}
	g.write(path, strings.Replace(s, old, new, 1))
}

func (g *gitRepo) remove(path string) {
	g.t.Helper()
	if _, err := g.wt.Remove(path); err != nil {
		g.t.Fatal(err)
	}
}

// commit commits the index on the current branch and returns the hash.
func (g *gitRepo) commit(msg string) string {
	g.t.Helper()
	g.commits++
	sig := &object.Signature{Name: "flinksync test", Email: "test@flinksync.dev",
		When: time.Date(2026, 11, 1, 9, g.commits, 0, 0, time.UTC)}
	h, err := g.wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

// plan reads base and head from the repository and plans between them.
func (g *gitRepo) plan(base, head string, opts Options) *Result {
	g.t.Helper()
	repo, err := source.Open(g.dir)
	if err != nil {
		g.t.Fatal(err)
	}
	tree := func(rev string) Tree {
		fsys, h, err := source.TreeFS(repo, rev)
		if err != nil {
			g.t.Fatal(err)
		}
		return Tree{Ref: rev, Commit: h.String(), FS: fsys}
	}
	opts.Pipeline = pipeline.Options{Now: fixedNow}
	r, err := Run(context.Background(), tree(base), tree(head), opts)
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}
