// Package arch holds tests of the code's shape: which package may import
// which. It has no code of its own.
package arch

import (
	"bufio"
	"go/build"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/flinksync/flinksync/"

// layers is the pipeline's order, the README's "How it works" table with
// the packages around it: a package may import only packages of a lower
// layer. A new package must be placed here (the test fails until it is).
var layers = map[string]int{
	// Leaves: shared vocabulary and tools every stage may use.
	"internal/diag": 0, "internal/redact": 0, "internal/source": 0, "internal/buildinfo": 0,
	// Flink's configuration vocabulary: keys, duration and memory formats.
	"internal/flinkconf": 0,
	// JSON pointers (RFC 6901) into unstructured objects: ignore rules'
	// paths, for sync and cmfsync alike.
	"internal/jsonptr": 0,
	// The status page renders a view model of its own; it knows nothing of
	// the daemon, the cluster or the pipeline.
	"internal/statuspage": 0,
	// The stages, in pipeline order.
	"internal/model":       1,
	"internal/sizing":      2,
	"internal/render":      3,
	"internal/policy":      4,
	"internal/state":       5,
	"internal/pipeline":    6,
	"internal/sync":        7,
	"internal/cmf":         7,
	"internal/clusters":    8,
	"internal/cmf/cmfsync": 8,
	"internal/report":      9,
	"internal/plan":        9,
	"internal/daemon":      10,
	"cmd/flinksync":        11,
}

// testSupport are packages only tests may import.
var testSupport = map[string]bool{
	"internal/testenv": true, "internal/testrepo": true, "internal/redact/redacttest": true,
	"internal/source/sourcetest": true, "internal/cmf/cmftest": true, "internal/arch": true,
}

func root(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// packages are the project's Go packages (folders with non-test Go
// files), relative to the module root.
func packages(t *testing.T) []string {
	var out []string
	r := root(t)
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(r, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			if _, err := build.ImportDir(p, 0); err == nil {
				rel, _ := filepath.Rel(r, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

// Every import between the project's packages goes down the layers, and
// no product package imports test support.
func TestImportsGoDownThePipeline(t *testing.T) {
	r := root(t)
	for _, p := range packages(t) {
		pkg, err := build.ImportDir(filepath.Join(r, p), 0)
		if err != nil {
			t.Fatal(err)
		}
		layer, placed := layers[p]
		if !placed && !testSupport[p] {
			t.Errorf("%s is in no layer: place it in internal/arch's layers (and the README's table)", p)
			continue
		}
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			q := strings.TrimPrefix(imp, module)
			switch {
			case testSupport[q] && !testSupport[p]:
				t.Errorf("%s imports %s, which is test support", p, q)
			case testSupport[p]:
			case layers[q] >= layer:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports go down the pipeline only", p, layer, q, layers[q])
			}
		}
	}
}

// The README's table lists the stages in the layers' order.
func TestREADMETableMatchesTheLayers(t *testing.T) {
	f, err := os.Open(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 {
			continue
		}
		cell := strings.Trim(strings.TrimSpace(cells[2]), "`")
		if _, ok := layers[cell]; ok && strings.HasPrefix(cell, "internal/") {
			order = append(order, cell)
		}
	}
	if len(order) < 8 {
		t.Fatalf("the README's stage table lists %d packages: %v", len(order), order)
	}
	for i := 1; i < len(order); i++ {
		if layers[order[i]] < layers[order[i-1]] {
			t.Errorf("README lists %s (layer %d) after %s (layer %d)", order[i], layers[order[i]], order[i-1], layers[order[i-1]])
		}
	}
}
