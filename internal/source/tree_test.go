package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"testing/fstest"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// file is one entry to commit: content and mode (Regular when zero).
type file struct {
	data string
	mode filemode.FileMode
}

var when = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// commitFiles writes files as a commit on top of parents straight into the
// object store (no work tree involved) and returns its hash.
func commitFiles(t testing.TB, repo *git.Repository, files map[string]file, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	root := writeTree(t, repo, "", files)
	sig := object.Signature{Name: "test", Email: "test@example.com", When: when}
	c := &object.Commit{Author: sig, Committer: sig, Message: "test\n", TreeHash: root, ParentHashes: parents}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeTree(t testing.TB, repo *git.Repository, dir string, files map[string]file) plumbing.Hash {
	t.Helper()
	sub := map[string]map[string]file{}
	tree := &object.Tree{}
	for p, f := range files {
		if i := strings.IndexByte(p, '/'); i >= 0 {
			if sub[p[:i]] == nil {
				sub[p[:i]] = map[string]file{}
			}
			sub[p[:i]][p[i+1:]] = f
			continue
		}
		mode := f.mode
		if mode == 0 {
			mode = filemode.Regular
		}
		h := plumbing.NewHash(f.data) // a submodule's commit
		if mode != filemode.Submodule {
			h = writeBlob(t, repo, f.data)
		}
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: p, Mode: mode, Hash: h})
	}
	for name, fs := range sub {
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: writeTree(t, repo, dir+name+"/", fs)})
	}
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	obj := repo.Storer.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeBlob(t testing.TB, repo *git.Repository, data string) plumbing.Hash {
	t.Helper()
	obj := repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, _ := obj.Writer()
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func setRef(t testing.TB, repo *git.Repository, name string, h plumbing.Hash) {
	t.Helper()
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(name), h)); err != nil {
		t.Fatal(err)
	}
}

// sample is a tree with nested folders, an executable, symbolic links to a
// file and a folder, and names Git sorts differently
// from io/fs ("a.b" before "a/" in Git, after "a" in fs).
func sample(version string) map[string]file {
	return map[string]file{
		"README.md":                       {data: "# repo " + version + "\n"},
		"environments/dev.yaml":           {data: "kind: Environment\nversion: " + version + "\n"},
		"apps/orders.yaml":                {data: "kind: FlinkApplication\n"},
		"apps/nested/deep/x.yaml":         {data: "deep\n"},
		"overlays/dev/kustomization.yaml": {data: "labels: []\n"},
		"a.b":                             {data: "dot\n"},
		"a/c":                             {data: "in a\n"},
		"bin/tool.sh":                     {data: "#!/bin/sh\n", mode: filemode.Executable},
		"links/readme":                    {data: "../README.md", mode: filemode.Symlink},
		"links/apps":                      {data: "../apps", mode: filemode.Symlink},
	}
}

// withOddities adds what a sample may hold but not every test can use: links
// that do not resolve (fstest.TestFS opens every entry) and a submodule
// (whose commit is in no object store, so repacking fails).
func withOddities(files map[string]file) map[string]file {
	files["links/escape"] = file{data: "../../etc/passwd", mode: filemode.Symlink}
	files["links/abs"] = file{data: "/etc/passwd", mode: filemode.Symlink}
	files["links/loop"] = file{data: "loop", mode: filemode.Symlink}
	files["vendor/sub"] = file{data: "0123456789012345678901234567890123456789", mode: filemode.Submodule}
	return files
}

// newRepo makes a repository on disk with two commits on main (v1, v2), a
// lightweight tag at v1 and an annotated tag at v2.
func newRepo(t testing.TB, oddities bool) (*git.Repository, string, plumbing.Hash, plumbing.Hash) {
	t.Helper()
	files := sample
	if oddities {
		files = func(v string) map[string]file { return withOddities(sample(v)) }
	}
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	c1 := commitFiles(t, repo, files("v1"))
	c2 := commitFiles(t, repo, files("v2"), c1)
	setRef(t, repo, "refs/heads/main", c2)
	setRef(t, repo, "refs/tags/light", c1)
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/main")); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "test", Email: "t@example.com", When: when}
	if _, err := repo.CreateTag("annotated", c2, &git.CreateTagOptions{Tagger: sig, Message: "release"}); err != nil {
		t.Fatal(err)
	}
	return repo, dir, c1, c2
}

// errPath is the file an error from an FS names ("" for none).
func errPath(err error) string {
	var pe *fs.PathError
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return fe.Path
	case errors.As(err, &pe):
		return pe.Path
	}
	return ""
}

func readString(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", name, err)
	}
	return string(b)
}

func TestTreeFSPassesFstest(t *testing.T) {
	repo, _, _, c2 := newRepo(t, false)
	fsys, h, err := TreeFS(repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if h != c2 {
		t.Fatalf("main resolved to %s, want %s", h, c2)
	}
	// fstest.TestFS checks Open, ReadDir (whole and in pieces), ReadFile,
	// Stat, Lstat, ReadLink and Sub against each other.
	if err := fstest.TestFS(fsys, "README.md", "environments/dev.yaml", "apps/orders.yaml", "apps/nested/deep/x.yaml",
		"overlays/dev/kustomization.yaml", "a.b", "a/c", "bin/tool.sh", "links/readme"); err != nil {
		t.Fatal(err)
	}
}

func TestTreeFSContentAndModes(t *testing.T) {
	repo, _, _, _ := newRepo(t, true)
	fsys, _, err := TreeFS(repo, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, fsys, "environments/dev.yaml"); got != "kind: Environment\nversion: v2\n" {
		t.Errorf("content: %q", got)
	}
	if got := readString(t, fsys, "links/readme"); got != "# repo v2\n" {
		t.Errorf("a symbolic link to a file must be followed, got %q", got)
	}
	if got := readString(t, fsys, "links/apps/nested/deep/x.yaml"); got != "deep\n" {
		t.Errorf("a symbolic link to a folder must be followed on the way, got %q", got)
	}
	for _, name := range []string{"links/escape", "links/abs", "links/loop", "missing.yaml", "README.md/x", "vendor/sub/x"} {
		_, err := fs.ReadFile(fsys, name)
		if errPath(err) != name {
			t.Errorf("ReadFile(%s): want an *fs.PathError or *FileError naming it, got %v", name, err)
		}
	}
	for _, name := range []string{"links/escape", "links/abs"} {
		if _, err := fs.ReadFile(fsys, name); !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), "outside the repository") {
			t.Errorf("an escaping link must say so: %v", err)
		}
	}
	if _, err := fs.ReadFile(fsys, "links/loop"); !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("a link loop must say so: %v", err)
	}
	if _, err := fs.ReadFile(fsys, "../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("an invalid path must be refused with fs.ErrInvalid: %v", err)
	}

	st, err := fs.Stat(fsys, "bin/tool.sh")
	if err != nil || st.Mode() != 0o555 || st.Size() != int64(len("#!/bin/sh\n")) || !st.ModTime().Equal(when) {
		t.Errorf("executable: %v %v", st, err)
	}
	st, err = fs.Stat(fsys, "README.md")
	if err != nil || st.Mode() != 0o444 || st.IsDir() {
		t.Errorf("regular file: %v %v", st, err)
	}
	st, err = fs.Stat(fsys, "apps")
	if err != nil || !st.IsDir() || st.Mode() != fs.ModeDir|0o555 {
		t.Errorf("folder: %v %v", st, err)
	}
	lst, err := fs.Lstat(fsys, "links/apps")
	if err != nil || lst.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat must describe the link itself: %v %v", lst, err)
	}
	if dest, err := fs.ReadLink(fsys, "links/apps"); err != nil || dest != "../apps" {
		t.Errorf("ReadLink: %q %v", dest, err)
	}
	sub, err := fs.ReadDir(fsys, "vendor/sub")
	if err != nil || len(sub) != 0 {
		t.Errorf("a submodule is an empty folder: %v %v", sub, err)
	}
}

// TestTreeFSWalkOrder checks the order fs.WalkDir (the loader's walk) sees:
// io/fs name order, not Git's tree order.
func TestTreeFSWalkOrder(t *testing.T) {
	repo, _, _, _ := newRepo(t, true)
	fsys, _, err := TreeFS(repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		suffix := ""
		switch {
		case d.IsDir():
			suffix = "/"
		case d.Type() == fs.ModeSymlink:
			suffix = "@"
		}
		got = append(got, p+suffix)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./", "README.md", "a/", "a/c", "a.b", "apps/", "apps/nested/", "apps/nested/deep/", "apps/nested/deep/x.yaml",
		"apps/orders.yaml", "bin/", "bin/tool.sh", "environments/", "environments/dev.yaml", "links/", "links/abs@", "links/apps@",
		"links/escape@", "links/loop@", "links/readme@", "overlays/", "overlays/dev/", "overlays/dev/kustomization.yaml",
		"vendor/", "vendor/sub/"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("walk order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTreeFSResolvesRevisions(t *testing.T) {
	repo, _, c1, c2 := newRepo(t, true)
	for rev, want := range map[string]plumbing.Hash{
		"main": c2, "refs/heads/main": c2, "HEAD": c2, "HEAD~1": c1, "main^": c1, "HEAD~0": c2,
		"light": c1, "annotated": c2, "refs/tags/annotated": c2,
		c1.String(): c1, c2.String()[:10]: c2,
	} {
		fsys, h, err := TreeFS(repo, rev)
		if err != nil {
			t.Errorf("%s: %v", rev, err)
			continue
		}
		if h != want {
			t.Errorf("%s resolved to %s, want %s", rev, h, want)
		}
		version := "v1"
		if want == c2 {
			version = "v2"
		}
		if got := readString(t, fsys, "README.md"); got != "# repo "+version+"\n" {
			t.Errorf("%s: README.md is %q", rev, got)
		}
	}
	for _, rev := range []string{"nope", "HEAD~5", "0000000000000000000000000000000000000001", ""} {
		_, _, err := TreeFS(repo, rev)
		if err == nil || !strings.Contains(err.Error(), "revision") || (rev != "" && !strings.Contains(err.Error(), rev)) {
			t.Errorf("%q: want an error naming the revision, got %v", rev, err)
		}
	}
	// A tree hash is not a commit.
	commit, _ := repo.CommitObject(c1)
	if _, _, err := TreeFS(repo, commit.TreeHash.String()); err == nil {
		t.Errorf("a tree hash must be refused")
	}
}

// TestTreeFSPackedAndConcurrent reads two revisions at once from a packed
// repository (packfile readers share state, hence the repository lock).
func TestTreeFSPackedAndConcurrent(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// Regular files only: go-git's repacking cannot walk symbolic links.
	plain := func(v string) map[string]file {
		files := sample(v)
		delete(files, "links/readme")
		delete(files, "links/apps")
		return files
	}
	c1 := commitFiles(t, repo, plain("v1"))
	c2 := commitFiles(t, repo, plain("v2"), c1)
	setRef(t, repo, "refs/heads/main", c2)
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, "refs/heads/main")); err != nil {
		t.Fatal(err)
	}
	if err := repo.RepackObjects(&git.RepackConfig{}); err != nil {
		t.Fatal(err)
	}
	if repo, err = Open(dir); err != nil { // reopen: the packfile index is read afresh
		t.Fatal(err)
	}
	if packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack")); len(packs) == 0 {
		t.Fatal("no packfile after repacking")
	}
	if loose, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "??", "*")); len(loose) != 0 {
		t.Fatalf("%d loose objects left after repacking", len(loose))
	}
	a, _, err := TreeFS(repo, "HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := TreeFS(repo, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	var wg gosync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				fsys, want := a, "v1"
				if (i+j)%2 == 0 {
					fsys, want = b, "v2"
				}
				data, err := fs.ReadFile(fsys, "environments/dev.yaml")
				if err != nil || !strings.HasSuffix(string(data), want+"\n") {
					errs <- errors.New("wrong content " + string(data))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTreeFSIgnoresWorkTree(t *testing.T) {
	repo, dir, _, _ := newRepo(t, true)
	if err := os.MkdirAll(filepath.Join(dir, "environments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "environments", "dev.yaml"), []byte("dirty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "untracked.yaml"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, _, err := TreeFS(repo, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, fsys, "environments/dev.yaml"); got != "kind: Environment\nversion: v2\n" {
		t.Errorf("TreeFS must read the commit, not the work tree: %q", got)
	}
	if _, err := fs.Stat(fsys, "untracked.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an untracked file must not show: %v", err)
	}
}

func TestOpen(t *testing.T) {
	_, dir, _, _ := newRepo(t, true)
	sub := filepath.Join(dir, "deep", "er")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	repo, err := Open(sub)
	if err != nil {
		t.Fatalf("Open must find the repository above %s: %v", sub, err)
	}
	if _, _, err := TreeFS(repo, "main"); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if _, err := Open(outside); err == nil || !strings.Contains(err.Error(), outside) || !strings.Contains(err.Error(), "not in a Git repository") {
		t.Errorf("want an error naming the folder, got %v", err)
	}

	bare := t.TempDir()
	br, err := git.PlainInit(bare, true)
	if err != nil {
		t.Fatal(err)
	}
	c := commitFiles(t, br, map[string]file{"x.yaml": {data: "bare\n"}})
	setRef(t, br, "refs/heads/main", c)
	br, err = Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	fsys, _, err := TreeFS(br, "main")
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, fsys, "x.yaml"); got != "bare\n" {
		t.Errorf("bare repository: %q", got)
	}
}

// TestTreeFSInMemory works on any go-git storage, not only a folder.
func TestTreeFSInMemory(t *testing.T) {
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := commitFiles(t, repo, map[string]file{"a/b.yaml": {data: "mem\n"}})
	fsys, h, err := TreeFS(repo, c.String())
	if err != nil || h != c {
		t.Fatal(h, err)
	}
	if got := readString(t, fsys, "a/b.yaml"); got != "mem\n" {
		t.Errorf("%q", got)
	}
	f, err := fsys.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	d := f.(fs.ReadDirFile)
	first, err := d.ReadDir(1)
	if err != nil || len(first) != 1 || first[0].Name() != "b.yaml" {
		t.Errorf("ReadDir(1): %v %v", first, err)
	}
	if rest, err := d.ReadDir(1); err != io.EOF || len(rest) != 0 {
		t.Errorf("ReadDir at the end must return io.EOF: %v %v", rest, err)
	}
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Errorf("reading a folder must fail")
	}
	f.Close()
	if _, err := d.ReadDir(-1); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("a closed folder: %v", err)
	}
}

// BenchmarkTreeFSRead1000 reads 1,000 app files of one commit, as the
// loader does.
func BenchmarkTreeFSRead1000(b *testing.B) {
	dir := b.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	files := map[string]file{}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("apps/app-%04d.yaml", i)] = file{data: strings.Repeat("x: y\n", 100) + fmt.Sprint(i)}
	}
	c := commitFiles(b, repo, files)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fsys, _, err := TreeFS(repo, c.String())
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = fs.ReadFile(fsys, p)
			n++
			return err
		})
		if err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}
