package source

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Bounds of one fuzz input: the tree it builds and what reading it may
// cost. The caps are small so that a read past them shows at once.
const (
	fuzzMaxEntries = 24
	fuzzFileBytes  = 1 << 10
	fuzzRepoBytes  = 4 << 10
	fuzzMaxAlloc   = 64 << 20
)

// FuzzDirReader builds a small folder from the input, one entry a line:
//
//	f NAME         a regular file (its content is "in-root:NAME")
//	d NAME         a folder
//	l NAME DEST    a symbolic link; $OUT and $ROOT in DEST stand for the
//	               folder outside and the root's absolute path
//	p NAME         a named pipe
//	b NAME         a sparse file of 1 GiB
//	r NAME         no entry: a name to read as well
//
// beside a folder outside holding the marker, a named pipe and a 1 GiB
// sparse file. It then walks and reads everything, and every name, through
// Dir, and checks that each read returns within 10 s, allocates less than
// 64 MiB, and returns only the content of a regular file inside the root.
func FuzzDirReader(f *testing.F) {
	for _, seed := range []string{
		"f apps/a.yaml\nl apps/b.yaml a.yaml\nl apps/c.yaml ../../outside/secret.yaml\nl apps/d.yaml $OUT/secret.yaml",
		"l apps/dir ../../outside\nr apps/dir/secret.yaml\nl up ..\nr up/outside/secret.yaml\nl loop loop",
		"p apps/x.yaml\nl apps/y.yaml x.yaml\nl apps/z.yaml $OUT/fifo\nl apps/zero.yaml /dev/zero\nl apps/big $OUT/big",
		"b apps/big.yaml\nf apps/ok.yaml\nl env/self $ROOT/apps/ok.yaml\nl env/env /proc/self/environ",
		"d a\nl a/b ../c\nl c d/..\nd d\nl d/e ../../outside/secret.yaml\nr a/b/e\nr c/e",
		"l l1 l2\nl l2 l3\nl l3 l4\nl l4 l5\nl l5 l6\nl l6 l7\nl l7 l8\nl l8 l9\nl l9 f\nf f",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if len(spec) > 4096 {
			return
		}
		l := newLayout(t)
		if err := syscall.Mkfifo(filepath.Join(l.outside, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		sparse(t, filepath.Join(l.outside, "big"), 1<<30)
		names, contents := buildFuzzTree(t, l, spec)
		d := l.open(t, Limits{FileBytes: fuzzFileBytes, RepoBytes: fuzzRepoBytes})
		check := func(name string, b []byte) {
			if strings.Contains(string(b), secretMarker) || !contents[string(b)] || len(b) > fuzzFileBytes {
				t.Errorf("%s: read %d bytes that are not a file inside the root: %.80q", name, len(b), b)
			}
		}
		var n uint64
		within(t, "reading the fuzzed tree", func() {
			n = allocated(func() {
				_ = fs.WalkDir(d, ".", func(p string, e fs.DirEntry, err error) error {
					if err == nil && !e.IsDir() {
						names = append(names, p)
					}
					return nil
				})
				for _, name := range names {
					readEveryWay(t, d, name, check)
				}
			})
		})
		if n > fuzzMaxAlloc {
			t.Errorf("reading the tree allocated %d bytes", n)
		}
	})
}

// buildFuzzTree makes the entries spec describes under the root and
// returns the names to read and the contents a read may return. Entries
// that cannot be made (a bad name, a parent that is a file) are left out.
func buildFuzzTree(t *testing.T, l layout, spec string) (names []string, contents map[string]bool) {
	contents = map[string]bool{}
	lines := strings.Split(spec, "\n")
	if len(lines) > fuzzMaxEntries {
		lines = lines[:fuzzMaxEntries]
	}
	for _, line := range lines {
		kind, rest, _ := strings.Cut(line, " ")
		name, dest, _ := strings.Cut(rest, " ")
		if !fs.ValidPath(name) || name == "." || len(name) > 64 || strings.Count(name, "/") > 4 || len(dest) > 128 {
			continue
		}
		names = append(names, name)
		full := filepath.Join(l.root, filepath.FromSlash(name))
		if kind == "r" || !makeParents(l.root, name) {
			continue
		}
		switch kind {
		case "f":
			content := "in-root:" + name
			if createNew(full, content, 0) {
				contents[content] = true
			}
		case "d":
			_ = os.Mkdir(full, 0o755)
		case "l":
			dest = strings.ReplaceAll(strings.ReplaceAll(dest, "$OUT", l.outside), "$ROOT", l.root)
			_ = os.Symlink(dest, full)
		case "p":
			_ = syscall.Mkfifo(full, 0o644)
		case "b":
			createNew(full, "", 1<<30)
		}
	}
	return names, contents
}

// makeParents makes the folders above name under root, and reports
// whether they all are real folders: the tree is built without following
// a link it made (one may point anywhere on the machine).
func makeParents(root, name string) bool {
	dir := root
	parts := strings.Split(name, "/")
	for _, p := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, p)
		_ = os.Mkdir(dir, 0o755)
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// createNew makes a regular file that did not exist (never opening a pipe
// or following a link made before), of content or, sparse, of size bytes.
func createNew(name, content string, size int64) bool {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return false
	}
	defer f.Close()
	if size > 0 {
		return f.Truncate(size) == nil
	}
	_, err = f.WriteString(content)
	return err == nil
}

// readEveryWay reads name through every method of Dir and hands each
// content read to check.
func readEveryWay(t *testing.T, d *Dir, name string, check func(string, []byte)) {
	if b, err := d.ReadFile(name); err == nil {
		check(name, b)
	}
	if f, err := d.Open(name); err == nil {
		if b, err := io.ReadAll(io.LimitReader(f, fuzzFileBytes+2)); err == nil && len(b) > 0 {
			check(name, b)
		}
		if rd, ok := f.(fs.ReadDirFile); ok {
			_, _ = rd.ReadDir(-1)
		}
		f.Close()
	}
	_, _ = d.Stat(name)
	_, _ = d.Lstat(name)
	_, _ = d.ReadLink(name)
	if list, err := d.ReadDir(name); err == nil {
		for _, e := range list {
			if b, err := d.ReadFile(path.Join(name, e.Name())); err == nil {
				check(path.Join(name, e.Name()), b)
			}
		}
	}
	var fe *FileError
	if _, err := d.ReadFile(name); errors.As(err, &fe) && fe.Path != name {
		t.Errorf("%s: a refusal must name the file asked for: %v", name, err)
	}
}

// sparse makes a file of size bytes that takes no disk.
func sparse(t testing.TB, name string, size int64) {
	t.Helper()
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, size); err != nil {
		t.Fatal(err)
	}
}
