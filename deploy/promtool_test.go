package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/testenv"
)

// promtool runs bin/promtool (Prometheus's own checker, which `make
// promtool` builds) with args in dir and returns its output.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.BinFile(t, "promtool", "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeRules writes the spec of the chart's PrometheusRule, rendered with
// args, as a Prometheus rule file (its groups) in a temporary folder, and
// returns that folder.
func writeRules(t *testing.T, args ...string) string {
	t.Helper()
	pr := renderChart(t, "flinksync-system", args...).one(t, "PrometheusRule", nil)
	spec, err := yaml.Marshal(pr.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.yaml"), spec)
	return dir
}

// writeFile writes data to path and returns path.
func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The chart's alert rules are rules Prometheus loads: promtool check rules
// parses every expression and template, with lint errors fatal, for the
// default selector and every alert on, and for a selector of the user's and
// an additional rule.
func TestPrometheusRulePassesPromtoolCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"everything", []string{"-f", valuesAll}},
		{"own selector and an extra rule", append(minimal("flink-dev"), "-f", writeFile(t, filepath.Join(t.TempDir(), "values.yaml"), []byte(ownRules)))},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeRules(t, c.args...)
			out, err := promtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", "rules.yaml")
			if err != nil {
				rules, _ := os.ReadFile(filepath.Join(dir, "rules.yaml"))
				t.Fatalf("promtool check rules: %v\n%s\nrules.yaml:\n%s", err, out, rules)
			}
			if !strings.Contains(out, "SUCCESS") {
				t.Errorf("promtool check rules:\n%s", out)
			}
		})
	}
}

// ownRules select the series by the user's own labels and add a rule.
const ownRules = `prometheusRule:
  enabled: true
  selector: 'job=~"flinksync.*",cluster="eu-1"'
  additionalRules:
    - alert: FlinksyncSlowPasses
      expr: histogram_quantile(0.9, sum by (le) (rate(flinksync_reconcile_duration_seconds_bucket[5m]))) > 60
      for: 10m
      labels: {severity: warning}
`

// promtoolTests are unit tests of the chart's alerts (values-all.yaml:
// release flinksync in flinksync-system, alert label team=platform) in
// promtool's format: an alert fires after its `for`, not before, carries
// its labels and annotations with the templates filled in, and ignores
// another release's series.
const promtoolTests = `rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'flinksync_drifted_objects{job="flinksync",namespace="flinksync-system",cluster="eu-1",environment="prod",pod="flinksync-0"}'
        values: '0 0 2x40'
      - series: 'flinksync_drifted_objects{job="flinksync",namespace="flinksync-system",cluster="default",environment="dev",pod="flinksync-0"}'
        values: '0x42'
      - series: 'flinksync_drifted_objects{job="other",namespace="flinksync-system",cluster="default",environment="dev",pod="other-0"}'
        values: '5x42'
      - series: 'flinksync_reconcile_total{job="flinksync",namespace="flinksync-system",cluster="eu-1",environment="prod",result="failed",pod="flinksync-0"}'
        values: '0+1x42'
      - series: 'flinksync_upgrades_total{job="flinksync",namespace="flinksync-system",cluster="default",environment="dev",result="rolled_back",pod="flinksync-0"}'
        values: '0x20 1x22'
      - series: 'flinksync_upgrades_total{job="flinksync",namespace="flinksync-system",cluster="default",environment="dev",result="succeeded",pod="flinksync-0"}'
        values: '0+1x42'
      - series: 'flinksync_cluster_up{job="flinksync",namespace="flinksync-system",cluster="eu-1",pod="flinksync-0"}'
        values: '1x10 0x32'
      - series: 'flinksync_cluster_up{job="flinksync",namespace="flinksync-system",cluster="default",pod="flinksync-0"}'
        values: '1x42'
      - series: 'up{job="flinksync",namespace="flinksync-system",pod="flinksync-0"}'
        values: '1x10 0x32'
      - series: 'flinksync_pass_timeouts_total{job="flinksync",namespace="flinksync-system",stage="sync",pod="flinksync-0"}'
        values: '0x10 1+1x32'
      - series: 'flinksync_alerts_dropped_total{job="flinksync",namespace="flinksync-system",target="hooks.slack.com",reason="rejected",pod="flinksync-0"}'
        values: '0x20 1x22'
    alert_rule_test:
      - eval_time: 10m
        alertname: FlinksyncDrift
        exp_alerts: []
      - eval_time: 15m
        alertname: FlinksyncDrift
        exp_alerts:
          - exp_labels: {cluster: eu-1, environment: prod, severity: warning, team: platform}
            exp_annotations:
              summary: Environment prod has drifted from Git
              description: "2 object(s) of environment prod were changed in the cluster behind Git's back. /api/v1/status and flinksync drift list every drifted field."
      - eval_time: 10m
        alertname: FlinksyncSyncFailing
        exp_alerts: []
      - eval_time: 40m
        alertname: FlinksyncSyncFailing
        exp_alerts:
          - exp_labels: {cluster: eu-1, environment: prod, severity: critical, team: platform}
            exp_annotations:
              summary: Syncs of environment prod keep failing
              description: "Sync passes of environment prod failed in every 15m window for 15m: the cluster or Git refuses flinksync's requests. The last good state stays; see flinksync's logs and /api/v1/status."
      - eval_time: 15m
        alertname: FlinksyncUpgradeFailed
        exp_alerts: []
      - eval_time: 25m
        alertname: FlinksyncUpgradeFailed
        exp_alerts:
          - exp_labels: {cluster: default, environment: dev, severity: critical, team: platform}
            exp_annotations:
              summary: An upgrade failed in environment dev
              description: "A job upgrade flinksync applied in environment dev failed, was rolled back by the operator or did not become healthy in time, within the last 30m. flinksync apply --wait, /api/v1/status and the UpgradeFailed Event name the job and the operator's error."
      - eval_time: 15m
        alertname: FlinksyncClusterUnreachable
        exp_alerts: []
      - eval_time: 25m
        alertname: FlinksyncClusterUnreachable
        exp_alerts:
          - exp_labels: {cluster: eu-1, severity: critical, team: platform}
            exp_annotations:
              summary: flinksync cannot reach cluster eu-1
              description: "Cluster eu-1 has not answered flinksync's probe for 10m (down, unreachable, or its kubeconfig's credentials refused): its environments fail, the others sync. /api/v1/status shows its last error."
      - eval_time: 20m
        alertname: FlinksyncPassesCutOff
        exp_alerts: []
      - eval_time: 40m
        alertname: FlinksyncPassesCutOff
        exp_alerts:
          - exp_labels: {severity: critical, team: platform}
            exp_annotations:
              summary: flinksync's passes keep running into their deadline
              description: "A render or a sync did not finish within --pass-timeout in every 15m window for 15m: a hung API server or admission webhook, or a commit that cannot render in time. The last applied state stays; /readyz and /api/v1/status say which stage."
      - eval_time: 15m
        alertname: FlinksyncAlertsDropped
        exp_alerts: []
      - eval_time: 25m
        alertname: FlinksyncAlertsDropped
        exp_alerts:
          - exp_labels: {target: hooks.slack.com, reason: rejected, severity: warning, team: platform}
            exp_annotations:
              summary: flinksync dropped alert notifications for hooks.slack.com (rejected)
              description: "Alert notifications to hooks.slack.com were given up in the last 1h (rejected): flinksync's own alerts did not reach their receiver. See flinksync_alert_failures_total and the logs."
      - eval_time: 12m
        alertname: FlinksyncDown
        exp_alerts: []
      - eval_time: 20m
        alertname: FlinksyncDown
        exp_alerts:
          - exp_labels: {severity: critical, team: platform}
            exp_annotations:
              summary: flinksync is down
              description: "No flinksync replica in namespace flinksync-system answers Prometheus: nothing is synced and drift goes unreported."
`

// The chart's alerts behave as documented on Prometheus's own rule engine
// (promtool test rules).
func TestPrometheusRuleAlertsFireWithPromtool(t *testing.T) {
	dir := writeRules(t, "-f", valuesAll)
	writeFile(t, filepath.Join(dir, "tests.yaml"), []byte(promtoolTests))
	out, err := promtool(t, dir, "test", "rules", "tests.yaml")
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
