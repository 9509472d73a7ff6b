package source

import (
	"io/fs"
	"path/filepath"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// The objects a revision's read kept in the cached clone are gone after
// Release, and the revision reads the same again.
func TestReleaseDropsTheObjectsOfTheLastRead(t *testing.T) {
	dir := t.TempDir()
	origin, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	const data = "kind: FlinkApplication\nmetadata: {name: orders}\n"
	c := commitFiles(t, origin, map[string]file{"apps/orders.yaml": {data: data}})
	if err := origin.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", c)); err != nil {
		t.Fatal(err)
	}
	blob := plumbing.ComputeHash(plumbing.BlobObject, []byte(data))

	r := &Remote{URL: "file://" + dir, Ref: "main", CacheDir: filepath.Join(t.TempDir(), "cache")}
	fsys, _, err := r.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(fsys, "apps/orders.yaml"); err != nil || string(b) != data {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, ok := r.objects.Get(blob); !ok {
		t.Fatal("the file read is not in the clone's cache: the test checks nothing")
	}
	r.Release()
	if _, ok := r.objects.Get(blob); ok {
		t.Error("the file read is still cached after Release")
	}
	if b, err := fs.ReadFile(fsys, "apps/orders.yaml"); err != nil || string(b) != data {
		t.Errorf("read after Release %q, %v", b, err)
	}
}
