package main

import (
	"strings"
	"testing"
	"time"
)

func TestRunFlagsFromEnvironment(t *testing.T) {
	t.Setenv("FLINKSYNC_REPO_URL", "https://git.example.com/flink.git")
	t.Setenv("FLINKSYNC_INTERVAL", "30s")
	t.Setenv("FLINKSYNC_DRIFT_INTERVAL", "10m")
	t.Setenv("FLINKSYNC_PASS_TIMEOUT", "2m")
	t.Setenv("FLINKSYNC_LEADER_ELECT", "true")
	t.Setenv("FLINKSYNC_ALERT_WEBHOOK", "https://hooks.example.com/a?x=1,2 https://am.example.com/api/v2/alerts")
	t.Setenv("FLINKSYNC_BRANCH", "release")
	cmd := newRunCommand()
	if err := cmd.Flags().Parse([]string{"--branch", "main"}); err != nil {
		t.Fatal(err)
	}
	if err := flagsFromEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	if get("repo-url") != "https://git.example.com/flink.git" || get("leader-elect") != "true" {
		t.Errorf("repo-url %q leader-elect %q", get("repo-url"), get("leader-elect"))
	}
	if d, _ := cmd.Flags().GetDuration("interval"); d != 30*time.Second {
		t.Errorf("interval %s", d)
	}
	if d, _ := cmd.Flags().GetDuration("drift-interval"); d != 10*time.Minute {
		t.Errorf("drift-interval %s", d)
	}
	if d, _ := cmd.Flags().GetDuration("pass-timeout"); d != 2*time.Minute {
		t.Errorf("pass-timeout %s", d)
	}
	if get("branch") != "main" {
		t.Errorf("a flag on the command line wins over the environment, got branch %q", get("branch"))
	}
	urls, _ := cmd.Flags().GetStringArray("alert-webhook")
	if len(urls) != 2 || !strings.HasSuffix(urls[0], "x=1,2") {
		t.Errorf("alert webhooks, commas kept: %q", urls)
	}

	t.Setenv("FLINKSYNC_INTERVAL", "soon")
	cmd = newRunCommand()
	if err := flagsFromEnv(cmd.Flags()); err == nil || !strings.Contains(err.Error(), "FLINKSYNC_INTERVAL") {
		t.Errorf("a bad value must name the variable, got %v", err)
	}
}

func TestRunNeedsARepository(t *testing.T) {
	t.Setenv("FLINKSYNC_REPO_URL", "")
	if code, _, errOut := runCLI(t, "run"); code != 2 || !strings.Contains(errOut, "--repo-url") {
		t.Errorf("run without a repository must exit 2 naming --repo-url, got %d %q", code, errOut)
	}
}
