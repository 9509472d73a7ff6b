package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flinksync/flinksync/internal/source/sourcetest"
)

// commitWithBlob commits files plus name → blob h (already in the store)
// on main.
func commitWithBlob(t testing.TB, repo *git.Repository, files map[string]file, name string, h plumbing.Hash) plumbing.Hash {
	t.Helper()
	root := writeTree(t, repo, "", files)
	tree, err := object.GetTree(repo.Storer, root)
	if err != nil {
		t.Fatal(err)
	}
	tree.Entries = append(tree.Entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	obj := repo.Storer.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		t.Fatal(err)
	}
	th, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "test", Email: "test@example.com", When: when}
	c := &object.Commit{Author: sig, Committer: sig, Message: "big\n", TreeHash: th}
	cobj := repo.Storer.NewEncodedObject()
	if err := c.Encode(cobj); err != nil {
		t.Fatal(err)
	}
	ch, err := repo.Storer.SetEncodedObject(cobj)
	if err != nil {
		t.Fatal(err)
	}
	setRef(t, repo, "refs/heads/main", ch)
	return ch
}

// bigBlobRepo is a repository on disk whose main holds apps/ok.yaml and
// big.yaml, a blob of size zero bytes.
func bigBlobRepo(t testing.TB, size int64) (*git.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	h := sourcetest.WriteZeroBlob(t, filepath.Join(dir, ".git"), size)
	commitWithBlob(t, repo, map[string]file{"apps/ok.yaml": {data: "kind: ok\n"}}, "big.yaml", h)
	return repo, dir
}

// TestTreeByteCaps: TreeFS loaded any blob whole, so a 548 KB repository
// holding a 400 MB blob of zeros made plan use 1.5 GB. The blob's size is
// now read from its header and the blob refused unread, loose or packed.
func TestTreeByteCaps(t *testing.T) {
	const size = 32 << 20
	repo, dir := bigBlobRepo(t, size)
	check := func(repo *git.Repository, how string) {
		fsys, _, err := TreeFS(repo, "main")
		if err != nil {
			t.Fatal(err)
		}
		n := allocated(func() { _, err = fs.ReadFile(fsys, "big.yaml") })
		if !errors.Is(err, ErrTooLarge) || err.Error() != "big.yaml: 33554432 bytes, over the 4 MiB per-file limit (--max-file-bytes)" {
			t.Errorf("%s: %v", how, err)
		}
		if n > 8<<20 {
			t.Errorf("%s: refusing a blob over the cap allocated %d bytes", how, n)
		}
		f, err := fsys.Open("big.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Read(make([]byte, 10)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Open then Read: %v", how, err)
		}
		if got := readString(t, fsys, "apps/ok.yaml"); got != "kind: ok\n" {
			t.Errorf("%s: %q", how, got)
		}
		big, _, err := OpenTree(repo, "main", Limits{FileBytes: size, RepoBytes: 2 * size})
		if err != nil {
			t.Fatal(err)
		}
		if b, err := fs.ReadFile(big, "big.yaml"); err != nil || len(b) != size {
			t.Errorf("%s: raised caps: %d bytes, %v", how, len(b), err)
		}
	}
	check(repo, "loose")
	if err := repo.RepackObjects(&git.RepackConfig{}); err != nil {
		t.Fatal(err)
	}
	packed, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := packed.Reference("refs/heads/main", true)
	c, _ := packed.CommitObject(blob.Hash())
	tree, _ := c.Tree()
	entry, err := tree.FindEntry("big.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := entry.Hash.String()
	if _, err := os.Stat(filepath.Join(dir, ".git", "objects", h[:2], h[2:])); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the big blob is still loose after repacking: %v", err)
	}
	check(packed, "packed")
}

func TestTreeRevisionCapAndTrees(t *testing.T) {
	repo, _, _, _ := newRepo(t, false)
	c := commitFiles(t, repo, map[string]file{
		"a": {data: strings.Repeat("x", 100)}, "b": {data: strings.Repeat("x", 100)}, "c": {data: strings.Repeat("x", 60)},
		"long/link": {data: strings.Repeat("d/", 2500), mode: filemode.Symlink},
	})
	// The root tree (four entries, 119 bytes) counts too.
	fsys, _, err := OpenTree(repo, c.String(), Limits{FileBytes: 150, RepoBytes: 350})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "a"} {
		if _, err := fs.ReadFile(fsys, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = fs.ReadFile(fsys, "c")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "c: 60 bytes, bringing this revision to ") ||
		!strings.HasSuffix(err.Error(), "over the 350 bytes per-revision limit (--max-repo-bytes)") {
		t.Errorf("over the per-revision cap: %v", err)
	}
	if fsys, _, err = TreeFS(repo, c.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadFile(fsys, "long/link"); err == nil || !strings.Contains(err.Error(), "longer than any path") {
		t.Errorf("a link destination of 5,000 bytes must be refused: %v", err)
	}

	// A folder listing over the per-file cap is refused before it is decoded.
	files := map[string]file{}
	for i := range 20 {
		files[fmt.Sprintf("many/file-%02d.yaml", i)] = file{data: "x"}
	}
	c = commitFiles(t, repo, files)
	fsys, _, err = OpenTree(repo, c.String(), Limits{FileBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadDir(fsys, "many"); !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), "many: ") {
		t.Errorf("a tree over the cap: %v", err)
	}
}

// TestTreeSubConfines: plan reads a folder of the checkout through fs.Sub;
// a link in it that leaves the folder is refused, as Dir refuses it.
func TestTreeSubConfines(t *testing.T) {
	repo, _, _, _ := newRepo(t, false)
	c := commitFiles(t, repo, map[string]file{
		"repo/apps/a.yaml":  {data: "a\n"},
		"repo/apps/in.yaml": {data: "a.yaml", mode: filemode.Symlink},
		"repo/apps/up.yaml": {data: "../../secret.yaml", mode: filemode.Symlink},
		"secret.yaml":       {data: secretMarker},
	})
	fsys, _, err := TreeFS(repo, c.String())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(fsys, "repo")
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, sub, "apps/in.yaml"); got != "a\n" {
		t.Errorf("a link inside the folder: %q", got)
	}
	if _, err := fs.ReadFile(sub, "apps/up.yaml"); !errors.Is(err, ErrOutside) {
		t.Errorf("a link out of the folder must be refused: %v", err)
	}
	if got := readString(t, fsys, "repo/apps/up.yaml"); got != secretMarker {
		t.Errorf("from the whole tree the same link stays inside: %q", got)
	}
	if _, err := fs.Sub(fsys, "secret.yaml"); err == nil {
		t.Errorf("Sub of a file must fail")
	}
}

// TestDirAndTreeAgree: a folder and its Git tree resolve links the same
// way: the same names read the same bytes, and the same names are refused
// for the same reason.
func TestDirAndTreeAgree(t *testing.T) {
	files := map[string]string{"apps/a.yaml": "a\n", "env/e.yaml": "e\n"}
	links := map[string]string{
		"apps/l-file": "a.yaml", "apps/l-dir": "../env", "apps/l-up": "../../x", "apps/l-abs": "/etc/passwd",
		"apps/l-dot": ".", "apps/l-missing": "nope.yaml", "loop": "loop", "apps/l-self-up": "../apps/a.yaml",
	}
	// Eight links in a row resolve; nine are too many for both.
	for i := 1; i <= 9; i++ {
		links[fmt.Sprintf("chain/l%d", i)] = fmt.Sprintf("l%d", i+1)
	}
	links["chain/l9"] = "../apps/a.yaml"
	l := newLayout(t)
	gitFiles := map[string]file{}
	for name, content := range files {
		l.write(t, name, content)
		gitFiles[name] = file{data: content}
	}
	for name, dest := range links {
		l.link(t, name, dest)
		gitFiles[name] = file{data: dest, mode: filemode.Symlink}
	}
	dir := l.open(t, Limits{})
	repo, _, _, _ := newRepo(t, false)
	tree, _, err := TreeFS(repo, commitFiles(t, repo, gitFiles).String())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	for name := range links {
		names = append(names, name)
	}
	names = append(names, "apps/l-dir/e.yaml", "apps/l-dot/a.yaml", "apps/l-dir/../x")
	sort.Strings(names)
	outcome := func(fsys fs.FS, name string) string {
		b, err := fs.ReadFile(fsys, name)
		switch {
		case err == nil:
			return "read " + string(b)
		case errors.Is(err, ErrOutside):
			return "outside"
		case errors.Is(err, fs.ErrNotExist):
			return "missing"
		case errors.Is(err, fs.ErrInvalid):
			return "invalid"
		case strings.Contains(err.Error(), "too many levels of symbolic links"):
			return "loop"
		}
		return "other: " + err.Error()
	}
	for _, name := range names {
		d, g := outcome(dir, name), outcome(tree, name)
		if d != g {
			t.Errorf("%s: folder %q, Git tree %q", name, d, g)
		}
	}
	if got := outcome(tree, "chain/l2"); got != "read a\n" {
		t.Errorf("eight links in a row: %s", got)
	}
	if got := outcome(tree, "chain/l1"); got != "loop" {
		t.Errorf("nine links in a row: %s", got)
	}
}

// TestRemoteFetchHonoursLimits: the daemon reads what Remote.Fetch
// returns, a tree of the fetched packfile, with Remote.Limits.
func TestRemoteFetchHonoursLimits(t *testing.T) {
	const size = 8 << 20
	_, origin := bigBlobRepo(t, size)
	fetch := func(lim Limits) fs.FS {
		r := &Remote{URL: "file://" + origin, Ref: "main", CacheDir: t.TempDir(), Limits: lim}
		fsys, _, err := r.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return fsys
	}
	_, err := fs.ReadFile(fetch(Limits{}), "big.yaml")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over the 4 MiB per-file limit") {
		t.Errorf("default limits: %v", err)
	}
	if b, err := fs.ReadFile(fetch(Limits{FileBytes: size}), "big.yaml"); err != nil || len(b) != size {
		t.Errorf("raised limits: %d bytes, %v", len(b), err)
	}
}
