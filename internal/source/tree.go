package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Open opens the Git repository that holds dir: dir itself or the first
// parent with a .git, a linked work tree, or a bare repository. Nothing in
// the repository or its work tree is changed.
func Open(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		// A bare repository has no .git to detect.
		repo, err = git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: not in a Git repository", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: opening the Git repository: %w", dir, err)
	}
	return repo, nil
}

// TreeFS is OpenTree with the default Limits.
func TreeFS(repo *git.Repository, rev string) (fs.FS, plumbing.Hash, error) {
	return OpenTree(repo, rev, Limits{})
}

// OpenTree resolves rev to a commit and returns that commit's tree as a
// read-only fs.FS, with the commit's hash. rev is anything `git rev-parse`
// would take that names a commit and go-git understands: a branch ("main",
// "origin/main"), a tag (annotated tags are peeled), a full or abbreviated
// commit hash, "HEAD", and ancestry suffixes ("HEAD~1", "main^2").
//
// The FS reads objects straight from the repository's object store: no
// checkout, nothing written, and the work tree, the index and HEAD are
// never looked at beyond resolving rev. Directories are decoded when first
// visited, and files are read when opened. The FS implements fs.ReadDirFS,
// fs.ReadFileFS, fs.StatFS and fs.ReadLinkFS and is safe for concurrent use: go-git's
// object storage is not, so every object read of every FS of the same
// *git.Repository goes through one lock (other code that reads or writes
// the same repository at the same time must not share it).
//
// Every entry's ModTime is the commit's committer time, so walking the same
// commit twice gives the same answer. Files are read-only (0444, 0555 when
// executable). A submodule shows as an empty directory: its content is in
// another repository. Tree entries whose names are not valid fs path
// elements ("", ".", "..", or with a slash) are left out.
//
// The tree follows Dir's rules. Symbolic links (blobs of mode 120000) are
// followed by Open, Stat and ReadFile when they stay inside the tree, at
// most 8 in one lookup, and reported as fs.ModeSymlink by ReadDir; a link
// that is absolute or climbs out of the tree is refused with a *FileError
// wrapping ErrOutside, and so is one that leaves the folder of an FS made
// by fs.Sub. A blob's size is read from its object header before the blob
// is: one over lim.FileBytes is refused unread, and the blobs read (each
// path once) and the trees decoded count against lim.RepoBytes. A tree
// object (a folder's listing) over lim.FileBytes is refused too.
func OpenTree(repo *git.Repository, rev string, lim Limits) (fs.FS, plumbing.Hash, error) {
	lock := repoLock(repo)
	lock.Lock()
	defer lock.Unlock()
	if rev == "" {
		return nil, plumbing.ZeroHash, errors.New("revision: empty (want a branch, tag or commit)")
	}
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) || errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, plumbing.ZeroHash, fmt.Errorf("revision %q: no such branch, tag or commit in the repository (a shallow clone may lack it: fetch more history)", rev)
		}
		return nil, plumbing.ZeroHash, fmt.Errorf("revision %q: %w", rev, err)
	}
	commit, err := repo.CommitObject(*h)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("revision %q (%s): not a commit: %w", rev, h, err)
	}
	return &treeFS{
		store: repo.Storer, lock: lock, root: commit.TreeHash, mtime: commit.Committer.When,
		cache: &treeCache{dirs: map[plumbing.Hash]*treeDir{}}, budget: newBudget(lim),
	}, commit.Hash, nil
}

// repoLocks holds one lock per repository: go-git's object storage (its
// packfile readers share file offsets and caches) is not safe for
// concurrent use, and the FSes of two revisions of one repository may well
// be read at the same time.
var repoLocks sync.Map // *git.Repository → *sync.Mutex

func repoLock(repo *git.Repository) *sync.Mutex {
	l, _ := repoLocks.LoadOrStore(repo, &sync.Mutex{})
	return l.(*sync.Mutex)
}

// maxSymlinks bounds how many symbolic links one lookup follows: os.Root's
// bound (POSIX's _POSIX_SYMLOOP_MAX, 8), so a folder and its Git tree
// resolve the same links.
const maxSymlinks = 8

// maxLinkBytes bounds a symbolic link's destination: Linux's PATH_MAX.
const maxLinkBytes = 4096

// treeFS is a commit's tree, or a folder of it (Sub), as an fs.FS.
type treeFS struct {
	store storer.EncodedObjectStorer
	lock  *sync.Mutex // the repository's: held for every object read
	root  plumbing.Hash
	mtime time.Time

	cache  *treeCache // shared with the FSes Sub makes
	budget *budget    // likewise: one revision, one budget
}

// treeCache holds the trees decoded so far.
type treeCache struct {
	mu   sync.Mutex
	dirs map[plumbing.Hash]*treeDir
}

// treeDir is one decoded tree: its valid entries sorted by name.
type treeDir struct {
	entries []object.TreeEntry
	byName  map[string]int
}

// node is one looked-up entry.
type node struct {
	name string // base name; "." for the root
	mode filemode.FileMode
	hash plumbing.Hash
}

func (n node) isDir() bool { return n.mode == filemode.Dir || n.mode == filemode.Submodule }

// dir returns the decoded tree h, the folder name, decoding it once. Its
// size is checked before it is decoded.
func (t *treeFS) dir(name string, h plumbing.Hash) (*treeDir, error) {
	t.cache.mu.Lock()
	d, ok := t.cache.dirs[h]
	t.cache.mu.Unlock()
	if ok {
		return d, nil
	}
	t.lock.Lock()
	size, err := t.store.EncodedObjectSize(h)
	if err == nil {
		err = t.budget.charge(name, "/tree/"+h.String(), size, false)
	}
	var tree *object.Tree
	if err == nil {
		tree, err = object.GetTree(t.store, h)
	}
	t.lock.Unlock()
	var fe *FileError
	if errors.As(err, &fe) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", h, err)
	}
	d = &treeDir{byName: make(map[string]int, len(tree.Entries))}
	for _, e := range tree.Entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			continue
		}
		d.entries = append(d.entries, e)
	}
	// Git sorts a directory as if its name ended in "/"; fs wants plain
	// name order.
	sort.Slice(d.entries, func(i, j int) bool { return d.entries[i].Name < d.entries[j].Name })
	for i, e := range d.entries {
		d.byName[e.Name] = i
	}
	t.cache.mu.Lock()
	t.cache.dirs[h] = d
	t.cache.mu.Unlock()
	return d, nil
}

// read returns the content of blob h, the file name, within the caps: the
// size in the object's header is checked before the blob is loaded.
func (t *treeFS) read(name string, h plumbing.Hash) ([]byte, error) {
	t.lock.Lock()
	defer t.lock.Unlock()
	if size, r, err := t.looseBlob(h); r != nil {
		defer r.Close()
		return t.budget.read(name, size, r)
	} else if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	size, err := t.store.EncodedObjectSize(h)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if err := t.budget.charge(name, name, size, false); err != nil {
		return nil, err
	}
	return t.blob(name, h, func(r io.Reader) ([]byte, error) { return t.budget.read(name, size, r) })
}

// looseBlob opens blob h when it is a loose object of a repository on disk
// and returns its size, from the object's header, and a reader of its
// content: one open, where EncodedObjectSize then GetBlob open and inflate
// the object twice. It returns a nil reader when h is not a loose object
// there (it is packed, or the storage is not a folder).
func (t *treeFS) looseBlob(h plumbing.Hash) (int64, io.ReadCloser, error) {
	st, ok := t.store.(interface{ Filesystem() billy.Filesystem })
	if !ok {
		return 0, nil, nil
	}
	hex := h.String()
	f, err := st.Filesystem().Open(path.Join("objects", hex[:2], hex[2:]))
	if err != nil {
		return 0, nil, nil
	}
	r, err := objfile.NewReader(f)
	if err != nil {
		f.Close()
		return 0, nil, err
	}
	typ, size, err := r.Header()
	if err == nil && typ != plumbing.BlobObject {
		err = fmt.Errorf("object %s is a %s, not a blob", h, typ)
	}
	if err != nil {
		r.Close()
		f.Close()
		return 0, nil, err
	}
	return size, &looseReader{Reader: r, file: f}, nil
}

// looseReader reads a loose object and closes its file with it.
type looseReader struct {
	*objfile.Reader
	file io.Closer
}

func (l *looseReader) Close() error {
	err := l.Reader.Close()
	if ferr := l.file.Close(); err == nil {
		err = ferr
	}
	return err
}

// readLink returns the destination of the symbolic link blob h, the entry
// name; a destination longer than any path is refused unread.
func (t *treeFS) readLink(name string, h plumbing.Hash) (string, error) {
	t.lock.Lock()
	defer t.lock.Unlock()
	size, err := t.store.EncodedObjectSize(h)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if size > maxLinkBytes {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("symbolic link of %d bytes: longer than any path (%d)", size, maxLinkBytes)}
	}
	b, err := t.blob(name, h, func(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, maxLinkBytes)) })
	return string(b), err
}

// blob opens blob h and hands its content to read; the caller holds the
// repository's lock.
func (t *treeFS) blob(name string, h plumbing.Hash, read func(io.Reader) ([]byte, error)) ([]byte, error) {
	b, err := object.GetBlob(t.store, h)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	r, err := b.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	defer r.Close()
	return read(r)
}

// size returns the size of blob h without reading it.
func (t *treeFS) size(h plumbing.Hash) (int64, error) {
	t.lock.Lock()
	defer t.lock.Unlock()
	return t.store.EncodedObjectSize(h)
}

// lookup finds name, following symbolic links on the way and, when
// followLast is set, at the end.
func (t *treeFS) lookup(op, name string, followLast bool) (node, error) {
	if !fs.ValidPath(name) {
		return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	links := 0
	target := name
restart:
	cur := node{name: ".", mode: filemode.Dir, hash: t.root}
	if target == "." {
		return cur, nil
	}
	parts := strings.Split(target, "/")
	for i, part := range parts {
		if cur.mode == filemode.Submodule {
			return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if cur.mode != filemode.Dir {
			return node{}, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s is not a directory: %w", path.Join(parts[:i]...), fs.ErrNotExist)}
		}
		d, err := t.dir(path.Join(append([]string{"."}, parts[:i]...)...), cur.hash)
		if err != nil {
			return node{}, pathError(op, name, err)
		}
		idx, ok := d.byName[part]
		if !ok {
			return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		e := d.entries[idx]
		cur = node{name: e.Name, mode: e.Mode, hash: e.Hash}
		last := i == len(parts)-1
		if cur.mode != filemode.Symlink || (last && !followLast) {
			continue
		}
		if links++; links > maxSymlinks {
			return node{}, &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		link := path.Join(parts[:i+1]...)
		dest, err := t.readLink(link, cur.hash)
		if err != nil {
			return node{}, pathError(op, name, err)
		}
		joined, inside := followLink(path.Join(parts[:i]...), dest, parts[i+1:])
		if !inside {
			return node{}, &FileError{Path: name, Err: fmt.Errorf("%w (%s → %s)", ErrOutside, link, dest)}
		}
		target = joined
		goto restart
	}
	return cur, nil
}

// Open opens the named file or directory.
func (t *treeFS) Open(name string) (fs.File, error) {
	n, err := t.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	info := &treeInfo{fsys: t, node: n}
	if n.isDir() {
		return &dirFile{fsys: t, info: info, path: name}, nil
	}
	return &blobFile{fsys: t, info: info, path: name}, nil
}

// ReadFile reads the named file.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	n, err := t.lookup("read", name, true)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return t.read(name, n.hash)
}

// Stat describes the named file or directory, following symbolic links.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	n, err := t.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	info := &treeInfo{fsys: t, node: n}
	if err := info.load(); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return info, nil
}

// Lstat describes the named entry without following a final symbolic link.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := t.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	info := &treeInfo{fsys: t, node: n}
	if err := info.load(); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return info, nil
}

// ReadLink returns the destination of the named symbolic link, as stored.
func (t *treeFS) ReadLink(name string) (string, error) {
	n, err := t.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return t.readLink(name, n.hash)
}

// ReadDir lists the named directory, sorted by name.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := t.entries(name, n)
	if err != nil {
		return nil, pathError("readdir", name, err)
	}
	return list, nil
}

// Sub returns the folder dir as an FS of its own, with the same caps and
// budget: a symbolic link in it that leads out of dir is refused, as it
// would be by a Dir opened on that folder.
func (t *treeFS) Sub(dir string) (fs.FS, error) {
	n, err := t.lookup("sub", dir, true)
	if err != nil {
		return nil, err
	}
	if n.mode != filemode.Dir {
		return nil, &fs.PathError{Op: "sub", Path: dir, Err: errors.New("not a directory")}
	}
	sub := *t
	sub.root = n.hash
	return &sub, nil
}

// pathError is err about name: a *FileError as it is (it names its file),
// anything else as an *fs.PathError.
func pathError(op, name string, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// entries lists the directory node n, the folder name.
func (t *treeFS) entries(name string, n node) ([]fs.DirEntry, error) {
	if n.mode == filemode.Submodule {
		return []fs.DirEntry{}, nil
	}
	d, err := t.dir(name, n.hash)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(d.entries))
	for i, e := range d.entries {
		out[i] = &treeInfo{fsys: t, node: node{name: e.Name, mode: e.Mode, hash: e.Hash}}
	}
	return out, nil
}

// treeInfo is both the fs.FileInfo and the fs.DirEntry of an entry. The
// size of a file is read from the object store on first use.
type treeInfo struct {
	fsys *treeFS
	node node

	once sync.Once
	sz   int64
	err  error
}

func (i *treeInfo) load() error {
	i.once.Do(func() {
		if i.node.mode.IsFile() {
			i.sz, i.err = i.fsys.size(i.node.hash)
		}
	})
	return i.err
}

// Name is the entry's base name.
func (i *treeInfo) Name() string { return i.node.name }

// Size is a file's length in bytes (0 for directories, or when the object
// cannot be read: Stat reports that error).
func (i *treeInfo) Size() int64 {
	_ = i.load()
	return i.sz
}

// Mode is read-only: 0444 for files, 0555 for executables and directories.
func (i *treeInfo) Mode() fs.FileMode {
	switch i.node.mode {
	case filemode.Dir, filemode.Submodule:
		return fs.ModeDir | 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Executable:
		return 0o555
	default:
		return 0o444
	}
}

// ModTime is the commit's committer time.
func (i *treeInfo) ModTime() time.Time { return i.fsys.mtime }

// IsDir reports whether the entry is a directory (or a submodule).
func (i *treeInfo) IsDir() bool { return i.node.isDir() }

// Sys returns the entry's object hash (a plumbing.Hash).
func (i *treeInfo) Sys() any { return i.node.hash }

// Type is the type bits of Mode.
func (i *treeInfo) Type() fs.FileMode { return i.Mode().Type() }

// Info returns the entry itself, with its size loaded.
func (i *treeInfo) Info() (fs.FileInfo, error) {
	if err := i.load(); err != nil {
		return nil, err
	}
	return i, nil
}

// String is fs.FormatDirEntry's form, for debugging.
func (i *treeInfo) String() string { return fs.FormatDirEntry(i) }

// blobFile is an open file; its content is read on the first Read.
type blobFile struct {
	fsys   *treeFS
	info   *treeInfo
	path   string
	r      *bytes.Reader
	closed bool
}

func (f *blobFile) Stat() (fs.FileInfo, error) {
	if err := f.info.load(); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: f.path, Err: err}
	}
	return f.info, nil
}

func (f *blobFile) Read(p []byte) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: fs.ErrClosed}
	}
	if f.r == nil {
		b, err := f.fsys.read(f.path, f.info.node.hash)
		if err != nil {
			return 0, err
		}
		f.r = bytes.NewReader(b)
	}
	return f.r.Read(p)
}

func (f *blobFile) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.path, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

// dirFile is an open directory.
type dirFile struct {
	fsys    *treeFS
	info    *treeInfo
	path    string
	list    []fs.DirEntry
	read    bool
	offset  int
	closed  bool
	listErr error
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errors.New("is a directory")}
}

func (d *dirFile) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.path, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}

// ReadDir follows fs.ReadDirFile: n > 0 returns at most n entries and
// io.EOF at the end; n <= 0 returns the rest.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.path, Err: fs.ErrClosed}
	}
	if !d.read {
		d.list, d.listErr = d.fsys.entries(d.path, d.info.node)
		d.read = true
	}
	if d.listErr != nil {
		return nil, pathError("readdir", d.path, d.listErr)
	}
	rest := d.list[d.offset:]
	if n <= 0 {
		d.offset = len(d.list)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.offset += n
	return rest[:n], nil
}
