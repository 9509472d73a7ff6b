package plan

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// largeFiles is a repository of apps applications in each of envs FKO
// environments, kustomize overlays on the first two; app i's throughput is
// rate(i).
func largeFiles(apps, envs int, rate func(i int) int) map[string]string {
	return testrepo.Files(testrepo.Options{Apps: apps, Envs: envs, Overlays: 2, Rate: rate})
}

// commitObjects writes files as a commit straight into the repository's
// object store (a thousand worktree adds would dominate the set-up).
func commitObjects(tb testing.TB, repo *git.Repository, files map[string]string, parents ...plumbing.Hash) plumbing.Hash {
	tb.Helper()
	put := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		obj := repo.Storer.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			tb.Fatal(err)
		}
		h, err := repo.Storer.SetEncodedObject(obj)
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	var tree func(files map[string]string) plumbing.Hash
	tree = func(files map[string]string) plumbing.Hash {
		sub := map[string]map[string]string{}
		t := &object.Tree{}
		for p, data := range files {
			if i := strings.IndexByte(p, '/'); i >= 0 {
				if sub[p[:i]] == nil {
					sub[p[:i]] = map[string]string{}
				}
				sub[p[:i]][p[i+1:]] = data
				continue
			}
			obj := repo.Storer.NewEncodedObject()
			obj.SetType(plumbing.BlobObject)
			w, _ := obj.Writer()
			_, _ = io.WriteString(w, data)
			w.Close()
			h, err := repo.Storer.SetEncodedObject(obj)
			if err != nil {
				tb.Fatal(err)
			}
			t.Entries = append(t.Entries, object.TreeEntry{Name: p, Mode: filemode.Regular, Hash: h})
		}
		for name, fs := range sub {
			t.Entries = append(t.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: tree(fs)})
		}
		sort.Sort(object.TreeEntrySorter(t.Entries))
		return put(t)
	}
	sig := object.Signature{Name: "bench", Email: "bench@flinksync.dev", When: fixedNow}
	return put(&object.Commit{Author: sig, Committer: sig, Message: "bench\n", TreeHash: tree(files), ParentHashes: parents})
}

// BenchmarkPlanOneAppChange1000 plans a one-app change in a repository of
// 1,000 apps × 4 environments (4,012 rendered objects a side), everything
// from the Git object store on disk: resolve both revisions, run the
// pipeline on each, compare, write the Markdown. Target: under 3 s.
func BenchmarkPlanOneAppChange1000(b *testing.B) {
	const apps, envs = 1000, 4
	repo, err := git.PlainInit(b.TempDir(), false)
	if err != nil {
		b.Fatal(err)
	}
	rate := func(i int) int { return 1000 + i*10 }
	c1 := commitObjects(b, repo, largeFiles(apps, envs, rate))
	c2 := commitObjects(b, repo, largeFiles(apps, envs, func(i int) int {
		if i == 500 {
			return 80000
		}
		return rate(i)
	}), c1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bf, bh, err := source.TreeFS(repo, c1.String())
		if err != nil {
			b.Fatal(err)
		}
		hf, hh, err := source.TreeFS(repo, c2.String())
		if err != nil {
			b.Fatal(err)
		}
		r, err := Run(context.Background(), Tree{Ref: "base", Commit: bh.String(), FS: bf}, Tree{Ref: "head", Commit: hh.String(), FS: hf},
			Options{Pipeline: pipeline.Options{Now: fixedNow}})
		if err != nil {
			b.Fatal(err)
		}
		got := changes(r)
		if len(got) != envs {
			b.Fatalf("want one changed object per environment, got %v", got)
		}
		for _, c := range got {
			if !strings.HasSuffix(c, " change FlinkDeployment/flink-"+strings.Fields(c)[0]+"/app-0500") {
				b.Fatalf("unexpected change %s", c)
			}
		}
		if err := WriteMarkdown(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
