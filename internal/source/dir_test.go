package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/testenv"
)

// secretMarker is in every file outside the repository: no read may return it.
const secretMarker = "OUTSIDE-SECRET-7f3a"

// layout is a repository folder beside a folder it must not reach.
type layout struct {
	root, outside string
}

// newLayout makes base/repo and base/outside (with secret.yaml and a
// folder, both holding the marker).
func newLayout(t testing.TB) layout {
	t.Helper()
	base := t.TempDir()
	l := layout{root: filepath.Join(base, "repo"), outside: filepath.Join(base, "outside")}
	l.write(t, filepath.Join("..", "outside", "secret.yaml"), "token: "+secretMarker+"\n")
	l.write(t, filepath.Join("..", "outside", "dir", "secret.yaml"), "token: "+secretMarker+"\n")
	if err := os.MkdirAll(l.root, 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

// write writes a file under the root (name with forward slashes).
func (l layout) write(t testing.TB, name, content string) {
	t.Helper()
	p := filepath.Join(l.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// link makes name a symbolic link to dest (as given: relative or absolute).
func (l layout) link(t testing.TB, name, dest string) {
	t.Helper()
	p := filepath.Join(l.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dest, p); err != nil {
		t.Fatal(err)
	}
}

func (l layout) open(t testing.TB, lim Limits) *Dir {
	t.Helper()
	d, err := OpenDir(l.root, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// within runs f and fails the test if it has not returned after 10 s (a
// read that blocks on a named pipe never would).
func within(t *testing.T, what string, f func()) { testenv.Within(t, 10*time.Second, what, f) }

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDirPassesFstest(t *testing.T) {
	l := newLayout(t)
	for name, content := range map[string]string{
		"README.md": "# repo\n", "apps/orders.yaml": "kind: FlinkApplication\n", "apps/nested/deep/x.yaml": "deep\n",
		"a.b": "dot\n", "a/c": "in a\n", "overlays/dev/kustomization.yaml": "labels: []\n",
	} {
		l.write(t, name, content)
	}
	l.link(t, "links/readme", "../README.md")
	l.link(t, "links/apps", "../apps")
	d := l.open(t, Limits{})
	if err := fstest.TestFS(d, "README.md", "apps/orders.yaml", "apps/nested/deep/x.yaml", "a.b", "a/c",
		"overlays/dev/kustomization.yaml", "links/readme"); err != nil {
		t.Fatal(err)
	}
	if got, err := fs.ReadFile(d, "links/apps/nested/deep/x.yaml"); err != nil || string(got) != "deep\n" {
		t.Errorf("a link to a folder inside must be followed on the way: %q %v", got, err)
	}
}

// TestDirRefusesLinksOutside: os.DirFS followed these, so a *.yaml link to
// a token file ended up in findings, render output and the cluster.
func TestDirRefusesLinksOutside(t *testing.T) {
	l := newLayout(t)
	l.write(t, "apps/ok.yaml", "kind: ok\n")
	l.link(t, "apps/good.yaml", "ok.yaml")
	links := map[string]string{
		"apps/abs.yaml":        filepath.Join(l.outside, "secret.yaml"),
		"apps/rel.yaml":        "../../outside/secret.yaml",
		"apps/hop.yaml":        "../../outside/secret.yaml",
		"apps/chain.yaml":      "hop.yaml",
		"apps/dir":             "../../outside/dir",
		"apps/zero.yaml":       "/dev/zero",
		"apps/environ.yaml":    "/proc/self/environ",
		"apps/inside-abs.yaml": filepath.Join(l.root, "apps", "ok.yaml"), // absolute: refused even pointing inside
	}
	for name, dest := range links {
		l.link(t, name, dest)
	}
	d := l.open(t, Limits{})
	refused := []string{"apps/dir/secret.yaml"}
	for name := range links {
		if name != "apps/dir" {
			refused = append(refused, name)
		}
	}
	for _, name := range refused {
		for op, call := range map[string]func() error{
			"ReadFile": func() error { _, err := d.ReadFile(name); return err },
			"Open":     func() error { _, err := d.Open(name); return err },
			"Stat":     func() error { _, err := d.Stat(name); return err },
		} {
			err := call()
			var fe *FileError
			if !errors.Is(err, ErrOutside) || !errors.As(err, &fe) || fe.Path != name {
				t.Errorf("%s(%s): want a *FileError naming it, wrapping ErrOutside; got %v", op, name, err)
				continue
			}
			if !strings.HasPrefix(err.Error(), name+": symbolic link points outside the repository") || strings.Contains(err.Error(), secretMarker) {
				t.Errorf("%s(%s): %v", op, name, err)
			}
		}
	}
	if _, err := d.ReadFile("apps/chain.yaml"); err == nil || !strings.Contains(err.Error(), "apps/hop.yaml → ../../outside/secret.yaml") {
		t.Errorf("a chain must name the link that leaves: %v", err)
	}
	if got, err := d.ReadFile("apps/good.yaml"); err != nil || string(got) != "kind: ok\n" {
		t.Errorf("a link inside must be followed: %q %v", got, err)
	}
	// Walk and read everything, as the loader does: nothing from outside.
	err := fs.WalkDir(d, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		if b, err := d.ReadFile(p); err == nil && strings.Contains(string(b), secretMarker) {
			t.Errorf("%s: read the file outside", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dest, err := d.ReadLink("apps/abs.yaml"); err != nil || dest != links["apps/abs.yaml"] {
		t.Errorf("ReadLink tells where a link points without reading it: %q %v", dest, err)
	}
}

// TestDirRefusesNamedPipe: os.DirFS opened a FIFO named apps/x.yaml and
// waited for a writer for ever.
func TestDirRefusesNamedPipe(t *testing.T) {
	l := newLayout(t)
	if err := os.MkdirAll(filepath.Join(l.root, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(l.root, "apps", "x.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.link(t, "apps/l.yaml", "x.yaml")
	d := l.open(t, Limits{})
	within(t, "reading a named pipe", func() {
		for _, name := range []string{"apps/x.yaml", "apps/l.yaml"} {
			_, err := d.ReadFile(name)
			if !errors.Is(err, ErrNotRegular) || err.Error() != name+": not a regular file (named pipe)" {
				t.Errorf("ReadFile(%s): %v", name, err)
			}
			if _, err := d.Open(name); !errors.Is(err, ErrNotRegular) {
				t.Errorf("Open(%s): %v", name, err)
			}
			if _, err := d.ReadDir(name); !errors.Is(err, ErrNotRegular) {
				t.Errorf("ReadDir(%s): %v", name, err)
			}
		}
		st, err := d.Stat("apps/x.yaml")
		if err != nil || st.Mode().Type() != fs.ModeNamedPipe {
			t.Errorf("Stat describes the pipe without opening it: %v %v", st, err)
		}
	})
}

// TestDirByteCaps: os.DirFS read any file whole (a 400 MB file, or
// /dev/zero, until memory ran out).
func TestDirByteCaps(t *testing.T) {
	l := newLayout(t)
	if err := os.MkdirAll(filepath.Join(l.root, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	sparse(t, filepath.Join(l.root, "apps", "big.yaml"), 400<<20)
	d := l.open(t, Limits{})
	var err error
	n := allocated(func() { _, err = d.ReadFile("apps/big.yaml") })
	if !errors.Is(err, ErrTooLarge) || err.Error() != "apps/big.yaml: 419430400 bytes, over the 4 MiB per-file limit (--max-file-bytes)" {
		t.Errorf("over the per-file cap: %v", err)
	}
	if n > 1<<20 {
		t.Errorf("refusing a file over the cap allocated %d bytes: it was read", n)
	}
	if _, err := d.Open("apps/big.yaml"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Open: %v", err)
	}

	l.write(t, "caps/exact", strings.Repeat("x", 100))
	l.write(t, "caps/over", strings.Repeat("x", 101))
	l.write(t, "caps/b", strings.Repeat("x", 100))
	l.write(t, "caps/c", strings.Repeat("x", 60))
	small := l.open(t, Limits{FileBytes: 100, RepoBytes: 250})
	if _, err := small.ReadFile("caps/exact"); err != nil {
		t.Errorf("a file of exactly the cap: %v", err)
	}
	if _, err := small.ReadFile("caps/over"); err == nil || err.Error() != "caps/over: 101 bytes, over the 100 bytes per-file limit (--max-file-bytes)" {
		t.Errorf("one byte over: %v", err)
	}
	if _, err := small.ReadFile("caps/b"); err != nil {
		t.Errorf("200 bytes of 250: %v", err)
	}
	if _, err := small.ReadFile("caps/exact"); err != nil {
		t.Errorf("reading a file again counts it once: %v", err)
	}
	_, err = small.ReadFile("caps/c")
	if !errors.Is(err, ErrTooLarge) || err.Error() != "caps/c: 60 bytes, bringing this revision to 260 bytes, over the 250 bytes per-revision limit (--max-repo-bytes)" {
		t.Errorf("over the per-revision cap: %v", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n += int64(len(p))
	return len(p), nil
}

// TestReadStopsAtTheCap: a file whose size lies (it grows while read, or
// it is a /proc file of size 0) is read one byte past the cap, no further.
func TestReadStopsAtTheCap(t *testing.T) {
	b := newBudget(Limits{FileBytes: 100})
	r := &countingReader{}
	_, err := b.read("grows.yaml", 10, r)
	if !errors.Is(err, ErrTooLarge) || err.Error() != "grows.yaml: more than 100 bytes, over the 100 bytes per-file limit (--max-file-bytes)" {
		t.Errorf("%v", err)
	}
	if r.n > 101+512 {
		t.Errorf("read %d bytes of an endless file", r.n)
	}
	if b.total != 0 {
		t.Errorf("a refused file must not count against the revision: total %d", b.total)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{4 << 20: "4 MiB", 64 << 20: "64 MiB", 1536 << 10: "1536 KiB", 1 << 30: "1 GiB", 1000: "1000 bytes", 0: "0 bytes"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
