package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/buildinfo"
)

func TestVersionCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "flinksync ") || !strings.Contains(out, runtime.Version()) ||
		!strings.Contains(out, "renders:   FKO flink.apache.org/v1beta1") || !strings.Contains(out, "CFK platform.confluent.io/v1beta1") {
		t.Errorf("version: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "version", "--output", "json")
	var i buildinfo.Info
	if err := json.Unmarshal([]byte(out), &i); err != nil || code != 0 || i.GoVersion != runtime.Version() || len(i.APIs) != len(buildinfo.APIs) || i.Version == "" || i.Commit == "" {
		t.Errorf("version --output json: exit %d, %v, %+v", code, err, i)
	}
	code, out, _ = runCLI(t, "--version")
	if code != 0 || strings.TrimSpace(out) != buildinfo.Get().String() {
		t.Errorf("--version: exit %d, %q, want %q", code, out, buildinfo.Get().String())
	}
}
