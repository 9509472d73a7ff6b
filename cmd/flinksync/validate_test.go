package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"

	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/testenv"
)

const example = "../../examples/repo-layout"

// runCLI runs flinksync with args and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateExample(t *testing.T) {
	code, out, errOut := runCLI(t, "validate", "--repo", example)
	if code != 0 {
		t.Fatalf("validate of the example exited %d:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "0 error(s)") {
		t.Errorf("want a clean summary, got %q", out)
	}
}

func TestValidateExitCodesAndJSON(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, example, dir)
	bad := filepath.Join(dir, "apps", "orders-enrich.yaml")
	data, _ := os.ReadFile(bad)
	if err := os.WriteFile(bad, bytes.Replace(data, []byte("pool: medium"), []byte("pool: enormous"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "validate", "--repo", dir, "--output", "json")
	if code != 1 {
		t.Fatalf("want exit 1 for a repository with errors, got %d\n%s", code, out)
	}
	var doc report.FindingsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("JSON output does not parse: %v\n%s", err, out)
	}
	if doc.Summary.Errors != 1 || len(doc.Findings) != 1 {
		t.Fatalf("want exactly one error, got %+v", doc)
	}
	f := doc.Findings[0]
	if f.Rule != "LOAD-007" || f.File != "apps/orders-enrich.yaml" || f.Line != 10 || f.App != "orders-enrich" {
		t.Errorf("finding: %+v", f)
	}
	// The raw JSON keeps the documented key names.
	for _, key := range []string{`"rule"`, `"severity"`, `"file"`, `"line"`, `"environment"`, `"app"`, `"message"`, `"errors"`, `"warnings"`, `"waived"`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON output lacks key %s", key)
		}
	}

	if code, _, errOut := runCLI(t, "validate", "--repo", filepath.Join(dir, "missing")); code != 2 || !strings.Contains(errOut, "missing") {
		t.Errorf("a missing directory must exit 2 naming it, got %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "validate", "--repo", dir, "--output", "yaml"); code != 2 {
		t.Errorf("a bad --output must exit 2, got %d", code)
	}
	if code, _, _ := runCLI(t, "validate", "--no-such-flag"); code != 2 {
		t.Errorf("an unknown flag must exit 2, got %d", code)
	}
}

func copyDir(t *testing.T, from, to string) { testenv.CopyTree(t, from, to, nil) }

func TestValidateSARIFPathsFromTheCheckoutRoot(t *testing.T) {
	root := t.TempDir()
	if _, err := git.PlainInit(root, false); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(root, "deploy", "flink")
	copyDir(t, example, repo)
	bad := filepath.Join(repo, "apps", "orders-enrich.yaml")
	data, _ := os.ReadFile(bad)
	_ = os.WriteFile(bad, bytes.Replace(data, []byte("pool: medium"), []byte("pool: enormous"), 1), 0o644)
	code, out, _ := runCLI(t, "validate", "--repo", repo, "--output", "sarif")
	if code != 1 || !strings.Contains(out, `"uri": "deploy/flink/apps/orders-enrich.yaml"`) {
		t.Fatalf("SARIF paths must be relative to the checkout's root, got %d:\n%.1500s", code, out)
	}
}
