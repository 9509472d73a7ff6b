package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BinFile returns the path of bin/name in the repository root: a program or
// file that `make target` builds or fetches for the tests (bin/alertmanager,
// bin/promtool, bin/github-webhook-examples.json, ...). When it is missing it
// skips t, naming the target, or fails t where [Required] says so (make test
// and CI), so that no test is skipped there.
func BinFile(t testing.TB, name, target string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "bin", name)
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		msg := fmt.Sprintf("%s is missing: run `make %s` in the repository root", p, target)
		if Required() {
			t.Fatalf("%s (required here: %s=1 or CI is set)", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	return p
}
