package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
)

// Default byte caps of one pass over a repository. Repository files are
// small: an application is a few hundred bytes of YAML, and no Kubernetes
// object can be larger than etcd's 1.5 MiB request limit
// (--max-request-bytes), so a file of 4 MiB already holds more than any
// object the render could apply. The 2,000-application repository of the
// benchmarks (internal/testrepo) is 0.8 MB in all; 64 MiB is eighty times
// that, and bounds what one hostile revision can make a pass hold.
const (
	DefaultMaxFileBytes int64 = 4 << 20
	DefaultMaxRepoBytes int64 = 64 << 20
)

// Limits are the byte caps of reading one revision of a repository. A zero
// field takes its default.
type Limits struct {
	// FileBytes caps one file (and, in Git, one tree object: a folder's
	// listing). Flag --max-file-bytes.
	FileBytes int64
	// RepoBytes caps the sum over one revision: the files read, each path
	// counted once however often it is read, and in Git the tree objects
	// decoded. Flag --max-repo-bytes.
	RepoBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.FileBytes <= 0 {
		l.FileBytes = DefaultMaxFileBytes
	}
	if l.RepoBytes <= 0 {
		l.RepoBytes = DefaultMaxRepoBytes
	}
	return l
}

// Why a reader refuses a file; a *FileError wraps one of them.
var (
	// ErrNotRegular: a named pipe, a device, a socket: reading it could
	// block for ever or never end.
	ErrNotRegular = errors.New("not a regular file")
	// ErrOutside: a symbolic link whose target is absolute or climbs out
	// of the repository's root.
	ErrOutside = errors.New("symbolic link points outside the repository")
	// ErrTooLarge: over a byte cap (a *LimitError says which).
	ErrTooLarge = errors.New("over the size limit")
)

// FileError is a file a reader refused to read, and why.
type FileError struct {
	// Path is the name asked for, relative to the repository's root, with
	// forward slashes.
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns why.
func (e *FileError) Unwrap() error { return e.Err }

// LimitError is a file over one of the Limits.
type LimitError struct {
	// Size is the file's size in bytes; with AtLeast, only a lower bound
	// (the file grew while read, or its size is not known beforehand).
	Size    int64
	AtLeast bool
	// Total is what the revision would have read with this file, when the
	// per-revision cap was the one broken; 0 for the per-file cap.
	Total int64
	Limit int64
}

func (e *LimitError) Error() string {
	size := fmt.Sprintf("%d bytes", e.Size)
	if e.AtLeast {
		size = fmt.Sprintf("more than %d bytes", e.Size-1)
	}
	if e.Total > 0 {
		return fmt.Sprintf("%s, bringing this revision to %d bytes, over the %s per-revision limit (--max-repo-bytes)",
			size, e.Total, FormatBytes(e.Limit))
	}
	return fmt.Sprintf("%s, over the %s per-file limit (--max-file-bytes)", size, FormatBytes(e.Limit))
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// FormatBytes writes n in the largest binary unit that divides it ("4 MiB",
// "1536 KiB", "1000 bytes").
func FormatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n > 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// budget counts what one revision has read against its Limits. Each key (a
// file's path, or a Git tree's hash) is counted once, at the size it was
// last charged with, so reading a file twice (the renderer copies the
// overlays once per environment) costs nothing more. Safe for concurrent
// use.
type budget struct {
	lim Limits

	mu      sync.Mutex
	total   int64
	charged map[string]int64
}

func newBudget(lim Limits) *budget {
	return &budget{lim: lim.withDefaults(), charged: map[string]int64{}}
}

// charge records that key holds n bytes (atLeast: n or more). It refuses,
// recording nothing, when n is over the per-file cap or would bring the
// revision over its cap; the error names path.
func (b *budget) charge(path, key string, n int64, atLeast bool) error {
	if n > b.lim.FileBytes {
		return &FileError{Path: path, Err: &LimitError{Size: n, AtLeast: atLeast, Limit: b.lim.FileBytes}}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	total := b.total - b.charged[key] + n
	if total > b.lim.RepoBytes {
		return &FileError{Path: path, Err: &LimitError{Size: n, AtLeast: atLeast, Total: total, Limit: b.lim.RepoBytes}}
	}
	b.total = total
	b.charged[key] = n
	return nil
}

// read reads a file of size bytes (as its metadata says) from r and charges
// it as path. It refuses before reading when size is over a cap, and never
// reads more than the per-file cap plus one byte whatever size says (a file
// may grow while read, and /proc files report no size).
func (b *budget) read(path string, size int64, r io.Reader) ([]byte, error) {
	if err := b.charge(path, path, size, false); err != nil {
		return nil, err
	}
	// Room for one byte more than the size says, to see a file that grew.
	buf := make([]byte, 0, size+1)
	lr := io.LimitReader(r, b.lim.FileBytes+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
	}
	n := int64(len(buf))
	if err := b.charge(path, path, n, n > b.lim.FileBytes); err != nil {
		b.forget(path)
		return nil, err
	}
	return buf, nil
}

// forget takes back what key was charged with: it was refused after all.
func (b *budget) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total -= b.charged[key]
	delete(b.charged, key)
}
