package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/testenv"
)

// secretMarker is in every file outside the repository: no output may show it.
const secretMarker = "OUTSIDE-SECRET-91c4"

// leakedApp is a valid application, kept outside the repository, whose
// configuration carries the marker: read, it would render into the cluster.
const leakedApp = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: leaked
spec:
  environments: [dev]
  pool: small
  image: registry.example.com/flink/leaked:1.0.0
  job:
    jarURI: local:///opt/flink/usrlib/leaked.jar
    entryClass: com.example.Leaked
    upgradeMode: stateless
    state: running
  workload:
    recordsPerSecond: 100
    avgRecordBytes: 100
    distinctKeys: 100
    stateSize: 1Gi
    complexity: simple
    latency: 1s
    skew: low
  flinkConfiguration:
    pipeline.name: "` + secretMarker + `"
`

// leakedPatch is a kustomize patch, kept outside the repository, that would
// put the marker on every FlinkDeployment.
const leakedPatch = `apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: not-important
  annotations:
    note: "` + secretMarker + `"
`

// hostileRepo copies the example into base/repo, beside base/outside that
// holds the marker files, and returns both folders.
func hostileRepo(t *testing.T) (repo, outside string) {
	t.Helper()
	base := t.TempDir()
	repo, outside = filepath.Join(base, "repo"), filepath.Join(base, "outside")
	copyDir(t, example, repo)
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"app.yaml": leakedApp, "app2.yaml": strings.Replace(leakedApp, "name: leaked", "name: leaked-too", 1), "patch.yaml": leakedPatch}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(outside, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo, outside
}

func symlink(t *testing.T, dest, name string) {
	t.Helper()
	if err := os.Symlink(dest, name); err != nil {
		t.Fatal(err)
	}
}

// within runs f and fails the test if it has not returned after 10 s (a
// read that blocks on a named pipe never would).
func within(t *testing.T, what string, f func()) { testenv.Within(t, 10*time.Second, what, f) }

// readFinding returns validate's LOAD-014 finding at file, or nil.
func readFinding(t *testing.T, out, file string) *diag.Finding {
	t.Helper()
	var doc report.FindingsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("validate -o json: %v\n%s", err, out)
	}
	for _, f := range doc.Findings {
		if f.Rule == model.RuleRead.ID() && f.File == file {
			return f
		}
	}
	return nil
}

// TestLinksOutsideTheRepositoryAreNotRead: validate, render and size read
// through os.DirFS, which followed a *.yaml link, or an overlay file
// linked, to any file on the machine: its content reached the render
// output and the cluster.
func TestLinksOutsideTheRepositoryAreNotRead(t *testing.T) {
	t.Run("app file", func(t *testing.T) {
		repo, outside := hostileRepo(t)
		symlink(t, filepath.Join(outside, "app.yaml"), filepath.Join(repo, "apps", "leaked.yaml"))
		symlink(t, "../../outside/app2.yaml", filepath.Join(repo, "apps", "leaked-relative.yaml"))
		code, out, errOut := runCLI(t, "validate", "--repo", repo, "-o", "json")
		if code != 1 || strings.Contains(out+errOut, secretMarker) {
			t.Errorf("validate must report the links without reading them (exit 1), got %d:\n%.2000s%s", code, out, errOut)
		}
		for _, name := range []string{"apps/leaked.yaml", "apps/leaked-relative.yaml"} {
			f := readFinding(t, out, name)
			if f == nil || !strings.Contains(f.Message, name+": symbolic link points outside the repository") {
				t.Errorf("want a %s finding at %s saying the link leaves the repository, got %+v", model.RuleRead.ID(), name, f)
			}
		}
		for _, args := range [][]string{{"render", "--repo", repo}, {"render", "--repo", repo, "--env", "dev"}, {"size", "--repo", repo}} {
			code, out, errOut := runCLI(t, args...)
			if code == 0 || strings.Contains(out+errOut, secretMarker) {
				t.Errorf("%s: a file outside the repository reached the output (exit %d):\n%.2000s%s", strings.Join(args, " "), code, out, errOut)
			}
		}
	})
	t.Run("overlay file", func(t *testing.T) {
		repo, _ := hostileRepo(t)
		symlink(t, "../../../outside/patch.yaml", filepath.Join(repo, "overlays", "prod", "leak.yaml"))
		kust := filepath.Join(repo, "overlays", "prod", "kustomization.yaml")
		data, _ := os.ReadFile(kust)
		data = []byte(strings.Replace(string(data), "patches:\n", "patches:\n  - path: leak.yaml\n    target: {kind: FlinkDeployment}\n", 1))
		if err := os.WriteFile(kust, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"validate", "--repo", repo}, {"render", "--repo", repo}, {"render", "--repo", repo, "--env", "prod"}} {
			code, out, errOut := runCLI(t, args...)
			if code != 1 || strings.Contains(out+errOut, secretMarker) || !strings.Contains(out+errOut, "overlays/prod/leak.yaml") {
				t.Errorf("%s: want exit 1 naming the linked overlay file, not its content; got %d:\n%.2000s%s", strings.Join(args, " "), code, out, errOut)
			}
		}
	})
}

// TestKustomizationLinkedOutsideIsAnError: a kustomization.yaml that is a
// link out of the repository cannot be read; the overlay must not be
// dropped in silence (prod would render without its patches).
func TestKustomizationLinkedOutsideIsAnError(t *testing.T) {
	repo, outside := hostileRepo(t)
	kust := filepath.Join(repo, "overlays", "prod", "kustomization.yaml")
	if err := os.Rename(kust, filepath.Join(outside, "kustomization.yaml")); err != nil {
		t.Fatal(err)
	}
	symlink(t, "../../../outside/kustomization.yaml", kust)
	code, out, errOut := runCLI(t, "validate", "--repo", repo)
	if code != 1 || !strings.Contains(out, "overlays/prod/kustomization.yaml: symbolic link points outside the repository") {
		t.Errorf("want exit 1 naming the linked kustomization, got %d:\n%s%s", code, out, errOut)
	}
}

// TestNamedPipeDoesNotHang: a FIFO named apps/x.yaml made every command
// that reads the folder wait for a writer for ever.
func TestNamedPipeDoesNotHang(t *testing.T) {
	repo := t.TempDir()
	copyDir(t, example, repo)
	if err := syscall.Mkfifo(filepath.Join(repo, "apps", "x.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, "validate", func() {
		code, out, _ := runCLI(t, "validate", "--repo", repo, "-o", "json")
		f := readFinding(t, out, "apps/x.yaml")
		if code != 1 || f == nil || !strings.Contains(f.Message, "apps/x.yaml: not a regular file (named pipe)") {
			t.Errorf("want exit 1 and a finding at the pipe, got %d %+v", code, f)
		}
	})
	for _, cmd := range []string{"render", "size", "apply", "diff", "drift"} {
		within(t, cmd, func() {
			args := []string{cmd, "--repo", repo}
			if cmd == "apply" || cmd == "diff" || cmd == "drift" {
				args = append(args, "--kubeconfig", filepath.Join(repo, "no-such-kubeconfig"))
			}
			if code, _, errOut := runCLI(t, args...); code == 0 || (cmd == "size" && !strings.Contains(errOut, "not a regular file (named pipe)")) {
				t.Errorf("%s: exit %d\n%s", cmd, code, errOut)
			}
		})
	}
}

// TestDevZeroLinkIsRefused: a link to /dev/zero ran validate out of memory.
func TestDevZeroLinkIsRefused(t *testing.T) {
	repo := t.TempDir()
	copyDir(t, example, repo)
	symlink(t, "/dev/zero", filepath.Join(repo, "apps", "zero.yaml"))
	within(t, "validate", func() {
		code, out, _ := runCLI(t, "validate", "--repo", repo, "-o", "json")
		f := readFinding(t, out, "apps/zero.yaml")
		if code != 1 || f == nil || !strings.Contains(f.Message, "points outside the repository (apps/zero.yaml → /dev/zero)") {
			t.Errorf("want exit 1 and a finding at the link, got %d %+v", code, f)
		}
	})
}

// TestFileSizeCapAndFlag: a file over --max-file-bytes is a read finding
// (so it blocks like any unreadable file); the flag raises the cap.
func TestFileSizeCapAndFlag(t *testing.T) {
	repo := t.TempDir()
	copyDir(t, example, repo)
	const size = 5 << 20
	big := strings.Repeat("# padding padding padding padding padding padding padding padding padding padding\n", size/80+1)[:size-1] + "\n"
	if err := os.WriteFile(filepath.Join(repo, "apps", "big.yaml"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "validate", "--repo", repo, "-o", "json")
	f := readFinding(t, out, "apps/big.yaml")
	if code != 1 || f == nil || !strings.Contains(f.Message, "apps/big.yaml: 5242880 bytes, over the 4 MiB per-file limit (--max-file-bytes)") {
		t.Errorf("want exit 1 and a finding at the big file, got %d %+v", code, f)
	}
	if code, out, errOut := runCLI(t, "validate", "--repo", repo, "--max-file-bytes", "8Mi"); code != 0 {
		t.Errorf("--max-file-bytes 8Mi must let the file through, got %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "validate", "--repo", repo, "-o", "json", "--max-file-bytes", "8Mi", "--max-repo-bytes", "5Mi")
	if f := readFinding(t, out, "apps/big.yaml"); code != 1 || f == nil || !strings.Contains(f.Message, "per-revision limit (--max-repo-bytes)") {
		t.Errorf("--max-repo-bytes 5Mi: want the per-revision finding, got %d %+v", code, f)
	}
	if code, _, errOut := runCLI(t, "size", "--repo", repo); code != 2 || !strings.Contains(errOut, "over the 4 MiB per-file limit") {
		t.Errorf("size: want exit 2 naming the cap, got %d\n%s", code, errOut)
	}
}

// TestPlanReadsWithinTheFolderAndCaps: plan reads Git trees; a link in
// the repository's folder that leads elsewhere in the checkout was
// followed (fs.Sub does not confine), and blobs had no size cap.
func TestPlanReadsWithinTheFolderAndCaps(t *testing.T) {
	p := newPlanRepo(t, "deploy/flink", nil)
	full := filepath.Join(p.dir, "secret.yaml")
	if err := os.WriteFile(full, []byte(leakedApp), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.wt.Add("secret.yaml"); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(p.root(), "apps", "leaked.yaml")
	symlink(t, "../../../secret.yaml", link)
	if _, err := p.wt.Add(p.path("apps/leaked.yaml")); err != nil {
		t.Fatal(err)
	}
	p.write("apps/big.yaml", strings.Repeat("#\n", 5<<19)) // 5 MiB
	p.commit("a link out of the folder, a big file")
	code, out, errOut := runCLI(t, "plan", "--repo", p.root(), "--base", "HEAD~1", "-o", "json")
	if code == exitCantRun || strings.Contains(out+errOut, secretMarker) {
		t.Fatalf("plan: want a plan and no content from outside the folder, got %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"apps/leaked.yaml: symbolic link points outside the repository", "apps/big.yaml: 5242880 bytes, over the 4 MiB per-file limit"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%.3000s", want, out)
		}
	}
	_, out, _ = runCLI(t, "plan", "--repo", p.root(), "--base", "HEAD~1", "-o", "json", "--max-file-bytes", "8Mi")
	if strings.Contains(out, "apps/big.yaml: ") {
		t.Errorf("--max-file-bytes 8Mi must let the file through:\n%.3000s", out)
	}
}

func TestEveryRepositoryCommandHasTheReadCaps(t *testing.T) {
	for _, c := range newRootCommand().Commands() {
		switch c.Name() {
		case "validate", "size", "render", "apply", "diff", "drift", "plan", "run":
			for _, name := range []string{"max-file-bytes", "max-repo-bytes"} {
				if c.Flags().Lookup(name) == nil {
					t.Errorf("%s has no --%s", c.Name(), name)
				}
			}
		}
	}
	t.Setenv("FLINKSYNC_MAX_FILE_BYTES", "8Mi")
	t.Setenv("FLINKSYNC_MAX_REPO_BYTES", "1Gi")
	cmd := newRunCommand()
	if err := flagsFromEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	if got := cmd.Flags().Lookup("max-file-bytes").Value.String(); got != "8Mi" {
		t.Errorf("FLINKSYNC_MAX_FILE_BYTES: %s", got)
	}
	if got := cmd.Flags().Lookup("max-repo-bytes").Value.String(); got != "1Gi" {
		t.Errorf("FLINKSYNC_MAX_REPO_BYTES: %s", got)
	}
}

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "4194304": 4 << 20, "4Mi": 4 << 20, "4MiB": 4 << 20, "512Ki": 512 << 10, "2GiB": 2 << 30, "1024Gi": 1 << 40} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d %v, want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "4M", "4 Mi", "1e9", "1025Gi", "9223372036854775807", "99999999999999999999", "Mi"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q: want an error, got %d", in, b)
		}
	}
	for n, want := range map[byteSize]string{4 << 20: "4Mi", 1536 << 10: "1536Ki", 1 << 30: "1Gi", 1000: "1000"} {
		if got := n.String(); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}
