package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestApplyStampsTheCheckoutsRevision: apply from a Git checkout writes
// its HEAD into every object's flinksync.dev/revision, with "-dirty" when
// the work tree has uncommitted changes (worked out while the repository
// loads).
func TestApplyStampsTheCheckoutsRevision(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-r%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@x"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-qm", "example")
	head := git("rev-parse", "HEAD")
	dyn := dynamic.NewForConfigOrDie(cfg)
	fd := schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
	stamped := func() string {
		t.Helper()
		u, err := dyn.Resource(fd).Namespace("flink-dev"+sfx).Get(context.Background(), "orders-enrich", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u.GetAnnotations()[render.AnnRevision]
	}
	if code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev"); code != 0 {
		t.Fatalf("apply exited %d:\n%.2000s%s", code, out, errOut)
	}
	if got := stamped(); got != head {
		t.Errorf("from a clean checkout: revision %q, want %q", got, head)
	}
	f := filepath.Join(repo, "environments", "dev.yaml")
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	// An uncommitted change of every FlinkDeployment of dev: they are
	// applied again, stamped.
	changed := strings.Replace(string(data), "      state.backend.type: rocksdb\n", "      state.backend.type: rocksdb\n      pipeline.object-reuse: \"true\"\n", 1)
	if changed == string(data) {
		t.Fatal("environments/dev.yaml has no state.backend.type line to change")
	}
	if err := os.WriteFile(f, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev"); code != 0 {
		t.Fatalf("apply of the dirty checkout exited %d:\n%.2000s%s", code, out, errOut)
	}
	if got := stamped(); got != head+"-dirty" {
		t.Errorf("from a dirty checkout: revision %q, want %q", got, head+"-dirty")
	}
}
