package main

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/plan"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/source/sourcetest"
	"github.com/flinksync/flinksync/internal/testenv"
)

// hostileSize is the size of the hostile file and blob: the 400 MB.
const hostileSize = 400 << 20

// BenchmarkHostileRepository runs the hostile repositories of issue 12
// through the commands' own reading: validate's pass over a folder with a
// named pipe, a link to /dev/zero or a sparse 400 MB file, and plan over a
// Git revision holding a 400 MB blob. Each must be refused quickly and
// cheaply (target: under 2 s and 300 MB); peak-RSS-MB is the process's
// peak resident memory so far (run one case per process to read it alone).
func BenchmarkHostileRepository(b *testing.B) {
	b.Run("fifo", func(b *testing.B) {
		repo := exampleCopy(b)
		if err := syscall.Mkfifo(filepath.Join(repo, "apps", "x.yaml"), 0o644); err != nil {
			b.Fatal(err)
		}
		benchValidate(b, repo, "apps/x.yaml")
	})
	b.Run("dev-zero-link", func(b *testing.B) {
		repo := exampleCopy(b)
		if err := os.Symlink("/dev/zero", filepath.Join(repo, "apps", "zero.yaml")); err != nil {
			b.Fatal(err)
		}
		benchValidate(b, repo, "apps/zero.yaml")
	})
	b.Run("sparse-400MB-file", func(b *testing.B) {
		repo := exampleCopy(b)
		f, err := os.Create(filepath.Join(repo, "apps", "big.yaml"))
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Truncate(hostileSize); err != nil {
			b.Fatal(err)
		}
		f.Close()
		benchValidate(b, repo, "apps/big.yaml")
	})
	b.Run("git-400MB-blob", func(b *testing.B) {
		repo, base, head := bigBlobPlanRepo(b)
		for b.Loop() {
			bt, err := planTree(repo, base, ".", source.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			ht, err := planTree(repo, head, ".", source.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			res, err := plan.Run(context.Background(), bt, ht, plan.Options{})
			if err != nil {
				b.Fatal(err)
			}
			var head []*diag.Finding
			for _, f := range res.AllFindings() {
				head = append(head, f.Finding)
			}
			if !hasReadFinding(head, "big.yaml") {
				b.Fatalf("plan: no %s finding at big.yaml", model.RuleRead.ID())
			}
		}
		reportPeakRSS(b)
	})
}

// benchValidate runs validate's pass over repo; file must be refused.
func benchValidate(b *testing.B, repo, file string) {
	for b.Loop() {
		res, err := runPipeline(repo, "", "", source.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if !hasReadFinding(res.Findings, file) {
			b.Fatalf("no %s finding at %s", model.RuleRead.ID(), file)
		}
	}
	reportPeakRSS(b)
}

func hasReadFinding(findings []*diag.Finding, file string) bool {
	for _, f := range findings {
		if f.Rule == model.RuleRead.ID() && f.File == file {
			return true
		}
	}
	return false
}

func exampleCopy(b *testing.B) string {
	dir := b.TempDir()
	testenv.CopyTree(b, example, dir, nil)
	return dir
}

// reportPeakRSS reports the process's peak resident set (VmHWM).
func reportPeakRSS(b *testing.B) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			b.ReportMetric(kb/1024, "peak-RSS-MB")
		}
	}
}

// bigBlobPlanRepo is a Git repository holding the example at base and, at
// head, the example plus big.yaml, a 400 MB blob of zeros (about 400 KB
// on disk). The blob is streamed into the object store, never held whole.
func bigBlobPlanRepo(b *testing.B) (*git.Repository, string, string) {
	dir := b.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	testenv.CopyTree(b, example, dir, nil)
	wt, err := repo.Worktree()
	if err != nil {
		b.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		b.Fatal(err)
	}
	sig := &object.Signature{Name: "test", Email: "test@flinksync.dev"}
	base, err := wt.Commit("the example", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		b.Fatal(err)
	}
	blob := sourcetest.WriteZeroBlob(b, filepath.Join(dir, ".git"), hostileSize)
	c, err := repo.CommitObject(base)
	if err != nil {
		b.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		b.Fatal(err)
	}
	tree.Entries = append(tree.Entries, object.TreeEntry{Name: "big.yaml", Mode: filemode.Regular, Hash: blob})
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	treeHash := store(b, repo, tree)
	head := store(b, repo, &object.Commit{Author: *sig, Committer: *sig, Message: "a 400 MB blob\n", TreeHash: treeHash, ParentHashes: []plumbing.Hash{base}})
	return repo, base.String(), head.String()
}

// store writes a tree or commit into the repository's object store.
func store(b *testing.B, repo *git.Repository, o interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	obj := repo.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		b.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		b.Fatal(err)
	}
	return h
}
