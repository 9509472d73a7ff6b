package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/redact/redacttest"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestClusterCommandsMaskSecrets: with a Secret in Git and a live Secret
// changed behind Git's back, and every form of inline secret in a
// FlinkDeployment (internal/redact/redacttest), apply, drift and diff, text
// and JSON, show that values changed but never a value, its base64 or a
// hash anyone can check a guess against. Against a real API server.
func TestClusterCommandsMaskSecrets(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-m%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	redacttest.WriteFiles(t, repo, "flink-"+redacttest.Env+sfx)
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append(args, "--repo", repo, "--kubeconfig", kc, "--env", redacttest.Env)...)
		if code != want {
			t.Fatalf("%s exited %d, want %d:\n%.4000s\n%s", strings.Join(args, " "), code, want, out, errOut)
		}
		redacttest.NoLeak(t, strings.Join(args, " "), out+errOut)
		return out
	}
	cli(0, "apply", "--output", "json")
	cli(0, "apply")

	redacttest.PatchLive(t, cfg, "flink-"+redacttest.Env+sfx)

	driftText := cli(1, "drift")
	cli(1, "drift", "--output", "json")
	diffText := cli(1, "diff")
	cli(1, "diff", "--output", "json")
	applyText := cli(0, "apply") // dev has drift: warn, so apply reports the drift
	cli(0, "apply", "--output", "json")

	// Masked, the output still says what changed.
	secretDrift := regexp.MustCompile(`data\.password: Git (<masked hmac:[0-9a-f]{12}>), live (<masked hmac:[0-9a-f]{12}>)`)
	if m := secretDrift.FindStringSubmatch(driftText); m == nil || m[1] == m[2] {
		t.Errorf("drift must show that the Secret's value changed, as two different masks:\n%s", driftText)
	}
	for _, field := range []string{"fs.azure.account.key.acct.blob.core.windows.net", "spec.podTemplate", "spec.job.args", `"--db-pass=<masked hmac:`} {
		if !strings.Contains(driftText, field) {
			t.Errorf("drift must name %s:\n%s", field, driftText)
		}
	}
	for _, want := range []string{"-  password: <masked hmac:", "+  password: <masked hmac:"} {
		if !strings.Contains(diffText, want) {
			t.Errorf("diff must still show %q:\n%s", want, diffText)
		}
	}
	for _, want := range []string{"data.password", "--parallelism-hint", "LOG_LEVEL"} {
		if !strings.Contains(applyText, want) {
			t.Errorf("apply must still show %q:\n%s", want, applyText)
		}
	}
}
