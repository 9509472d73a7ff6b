package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCMFEndpointFlag: run takes --cmf-endpoint ENV=URL (and
// FLINKSYNC_CMF_ENDPOINT) and refuses a bad one with exit 2 before the
// daemon starts. Only the syntax is checked: the daemon has no repository
// yet (it fails an environment of a revision whose target is not cmf).
func TestRunCMFEndpointFlag(t *testing.T) {
	// A kubeconfig that loads (nothing connects before the flag's check).
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// --listen cannot be listened on: a run that got past the flag's
	// check would exit 2 naming --listen, not start the daemon.
	base := []string{"run", "--repo-url", "file:///nowhere", "--kubeconfig", kc, "--listen", "127.0.0.1:-1", "--cache-dir", t.TempDir()}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"prod-cmf=http://127.0.0.1:8080"}, `--cmf-endpoint prod-cmf: "http://127.0.0.1:8080" is not an https:// URL with a host`},
		{[]string{"prod-cmf"}, `--cmf-endpoint "prod-cmf": want ENV=URL`},
		{[]string{"prod-cmf=https://a.example", "prod-cmf=https://b.example"}, "--cmf-endpoint prod-cmf given twice"},
	} {
		args := append([]string{}, base...)
		for _, f := range tc.flags {
			args = append(args, "--cmf-endpoint", f)
		}
		code, out, errOut := runCLI(t, args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("run --cmf-endpoint %v: %d, want 2 and %q\n%s%s", tc.flags, code, tc.want, out, errOut)
		}
	}
	t.Setenv("FLINKSYNC_CMF_ENDPOINT", "prod-cmf=http://cmf.example")
	if code, _, errOut := runCLI(t, base...); code != 2 || !strings.Contains(errOut, `"http://cmf.example" is not an https:// URL`) {
		t.Errorf("FLINKSYNC_CMF_ENDPOINT: %d %s", code, errOut)
	}
}
