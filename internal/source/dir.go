package source

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// openFlags open a file for reading without ever waiting: O_NONBLOCK makes
// opening a named pipe return at once (it would otherwise wait for a
// writer), O_NOCTTY keeps a terminal from becoming the process's. Regular
// files ignore both.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// Dir is a repository folder as a read-only fs.FS that cannot reach
// outside it. It is how every command reads a folder (validate, size,
// render, apply, diff, drift); TreeFS is the same for a Git revision (plan
// and the daemon), with the same rules:
//
//   - Everything is opened through an os.Root on the folder: a name, or a
//     symbolic link on the way, that leads outside the folder is refused
//     with a *FileError wrapping ErrOutside. Symbolic links that stay
//     inside are followed, at most 8 in one lookup (os.Root's bound);
//     absolute links are refused even when they point back inside, as Git
//     trees cannot know where they are checked out.
//   - Only regular files and folders can be opened. A file is opened
//     without blocking and checked on the open handle (fstat), so a named
//     pipe, a device or a socket is refused (ErrNotRegular) before a byte
//     is read, and nothing can swap the file between check and read.
//   - A file over Limits.FileBytes is refused from its size before it is
//     read, and reading stops one byte past the cap whatever the size
//     said. The files read through one Dir count against
//     Limits.RepoBytes, each path once. Both errors are *FileError
//     wrapping a *LimitError (errors.Is ErrTooLarge).
//
// ReadDir lists entries as they are (a link shows as fs.ModeSymlink, so
// fs.WalkDir does not descend into linked folders). Dir implements
// fs.ReadFileFS, fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS, is safe for
// concurrent use, and holds the folder open until Close.
type Dir struct {
	root   *os.Root
	budget *budget
	// escapes is the error os.Root gives for a path that leads outside
	// it; os does not export it.
	escapes error
}

// OpenDir opens the folder dir as a repository read with lim.
func OpenDir(dir string, lim Limits) (*Dir, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	d := &Dir{root: r, budget: newBudget(lim)}
	// ".." always leaves the root: learn os.Root's error from it.
	if f, err := r.Open(".."); err == nil {
		f.Close()
	} else {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			d.escapes = pe.Err
		}
	}
	return d, nil
}

// Close releases the folder.
func (d *Dir) Close() error { return d.root.Close() }

// Open opens a folder, or reads a regular file whole (within the caps)
// and returns it in memory.
func (d *Dir) Open(name string) (fs.File, error) {
	f, st, err := d.open("open", name)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return &dirHandle{File: f, info: st}, nil
	}
	defer f.Close()
	data, err := d.budget.read(name, st.Size(), f)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: st}, nil
}

// ReadFile reads the named regular file, within the caps.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, st, err := d.open("read", name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return d.budget.read(name, st.Size(), f)
}

// ReadDir lists the named folder, sorted by name.
func (d *Dir) ReadDir(name string) ([]fs.DirEntry, error) {
	f, st, err := d.open("readdir", name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !st.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := f.ReadDir(-1)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	return list, nil
}

// Stat describes the named file, following symbolic links inside the
// folder. It opens nothing, so it describes a named pipe without blocking.
func (d *Dir) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	st, err := d.root.Stat(name)
	if err != nil {
		return nil, d.explain("stat", name, err)
	}
	return st, nil
}

// Lstat describes the named entry without following a final link.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrInvalid}
	}
	st, err := d.root.Lstat(name)
	if err != nil {
		return nil, d.explain("lstat", name, err)
	}
	return st, nil
}

// ReadLink returns the destination of the named symbolic link, as stored
// (it may well point outside: nothing there is read).
func (d *Dir) ReadLink(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	dest, err := d.root.Readlink(name)
	if err != nil {
		return "", d.explain("readlink", name, err)
	}
	return dest, nil
}

// open opens name inside the root without blocking and checks, on the
// handle, that it is a regular file or a folder.
func (d *Dir) open(op, name string) (*os.File, fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	f, err := d.root.OpenFile(name, openFlags, 0)
	if err != nil {
		return nil, nil, d.explain(op, name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if !st.Mode().IsRegular() && !st.IsDir() {
		f.Close()
		return nil, nil, notRegular(name, st.Mode())
	}
	return f, st, nil
}

// explain turns an os.Root error into one that names the file and the
// rule it broke.
func (d *Dir) explain(op, name string, err error) error {
	if d.escapes != nil && errors.Is(err, d.escapes) {
		link, dest := d.escapingLink(name)
		if link == "" {
			return &FileError{Path: name, Err: ErrOutside}
		}
		return &FileError{Path: name, Err: fmt.Errorf("%w (%s → %s)", ErrOutside, link, dest)}
	}
	if errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EOPNOTSUPP) {
		// Opening a socket fails before the handle can be checked.
		if st, serr := d.root.Stat(name); serr == nil && !st.Mode().IsRegular() && !st.IsDir() {
			return notRegular(name, st.Mode())
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// escapingLink finds, for the error message, the symbolic link through
// which name leaves the root: it follows links inside the root as os.Root
// does and returns the first whose destination leads out.
func (d *Dir) escapingLink(name string) (link, dest string) {
	cur := name
	for hops := 0; hops <= maxSymlinks; hops++ {
		parts := strings.Split(cur, "/")
		next := ""
		for i := range parts {
			p := path.Join(parts[:i+1]...)
			st, err := d.root.Lstat(p)
			if err != nil {
				return "", ""
			}
			if st.Mode().Type() != fs.ModeSymlink {
				continue
			}
			if dest, err = d.root.Readlink(p); err != nil {
				return "", ""
			}
			joined, inside := followLink(path.Dir(p), dest, parts[i+1:])
			if !inside {
				return p, dest
			}
			next = joined
			break
		}
		if next == "" {
			return "", ""
		}
		cur = next
	}
	return "", ""
}

// followLink is the path a lookup goes on with after a symbolic link in
// folder dir whose destination is dest, rest being the names after the
// link; inside is false when that path leaves the root. Git trees and
// folders resolve links the same way: relative to the link's folder,
// never absolute, never above the root.
func followLink(dir, dest string, rest []string) (joined string, inside bool) {
	joined = path.Join(append([]string{dir, dest}, rest...)...)
	return joined, dest != "" && !path.IsAbs(dest) && fs.ValidPath(joined)
}

func notRegular(name string, mode fs.FileMode) error {
	return &FileError{Path: name, Err: fmt.Errorf("%w (%s)", ErrNotRegular, fileKind(mode))}
}

// fileKind names the type of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "irregular file"
}

// dirHandle is an open folder. Its Stat is the one taken on the handle.
type dirHandle struct {
	*os.File
	info fs.FileInfo
}

func (h *dirHandle) Stat() (fs.FileInfo, error) { return h.info, nil }

// memFile is a regular file, read whole when opened.
type memFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *memFile) Close() error { return nil }
