// Package sourcetest helps tests build hostile Git repositories for
// internal/source's readers: blobs far larger than any cap, written
// without holding them in memory.
package sourcetest

import (
	"io"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// WriteZeroBlob streams a blob of size zero bytes into the object folder
// of the repository whose .git folder is gitDir, as a loose object (zlib
// keeps 400 MB of zeros to about 400 KB), and returns its hash.
func WriteZeroBlob(t testing.TB, gitDir string, size int64) plumbing.Hash {
	t.Helper()
	w, err := dotgit.New(osfs.New(gitDir)).NewObject()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(plumbing.BlobObject, size); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(zeros{}, size)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Hash()
}
