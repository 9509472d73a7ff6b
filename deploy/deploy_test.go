package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	chartDir    = "helm/flinksync"
	releaseName = "flinksync"
	// valuesAll turns every option of the chart on.
	valuesAll = "testdata/values-all.yaml"
	repoURL   = "https://github.com/acme/flink-platform.git"
)

// helmBin returns bin/helm, or skips t (fails it under make test and CI)
// when it is missing.
func helmBin(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "helm")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		msg := fmt.Sprintf("%s is missing: run `make helm` in the repository root to build it", bin)
		if testenv.Required() {
			t.Fatalf("%s (required here: %s=1 or CI is set)", msg, testenv.RequireEnv)
		}
		t.Skip(msg)
	}
	return bin
}

// helm runs bin/helm with args and returns its standard output; the error
// carries its standard error. Helm's own folders go to a temporary folder.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return helmWithKubeconfig(t, "", args...)
}

// helmWithKubeconfig runs bin/helm against the cluster of kubeconfig (none
// when it is "").
func helmWithKubeconfig(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin := helmBin(t)
	home := t.TempDir()
	if kubeconfig == "" {
		kubeconfig = filepath.Join(home, "no-kubeconfig")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// minimal are the values an install cannot do without.
func minimal(managed ...string) []string {
	return []string{"--set", "git.repoURL=" + repoURL, "--set", "managedNamespaces={" + strings.Join(managed, ",") + "}"}
}

// rendered is the output of helm template, decoded.
type rendered struct {
	objs []*unstructured.Unstructured
}

// renderChart runs helm template for release namespace ns with extra
// arguments (values) and decodes every document strictly.
func renderChart(t *testing.T, ns string, args ...string) *rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", releaseName, chartDir, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("decoding helm template's output: %v\n%s", err, out)
	}
	return &rendered{objs: objs}
}

func decodeAll(stream string) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.UnmarshalStrict(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("%v in\n%s", err, doc)
		}
		if len(u.Object) == 0 {
			continue // a document of comments only
		}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("an object without kind or name:\n%s", doc)
		}
		out = append(out, u)
	}
}

// ids lists the objects as Kind/namespace/name, sorted.
func (r *rendered) ids() []string {
	var out []string
	for _, u := range r.objs {
		out = append(out, u.GetKind()+"/"+u.GetNamespace()+"/"+u.GetName())
	}
	sort.Strings(out)
	return out
}

func (r *rendered) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range r.objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// one returns the only object of kind, decoded into into (a typed object;
// fields unknown to the type fail the test).
func (r *rendered) one(t *testing.T, kind string, into any) *unstructured.Unstructured {
	t.Helper()
	objs := r.ofKind(kind)
	if len(objs) != 1 {
		t.Fatalf("want one %s, got %d: %v", kind, len(objs), r.ids())
	}
	if into != nil {
		typed(t, objs[0], into)
	}
	return objs[0]
}

func typed(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
}

func TestLint(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"defaults", nil},
		{"minimal", minimal("flink-dev")},
		{"everything", []string{"-f", valuesAll}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir}, c.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

// The defaults alone do not install: the two required values are named.
func TestTemplateNamesRequiredValues(t *testing.T) {
	_, err := helm(t, "template", releaseName, chartDir)
	if err == nil || !strings.Contains(err.Error(), "git.repoURL is required") {
		t.Errorf("want git.repoURL is required, got %v", err)
	}
	_, err = helm(t, "template", releaseName, chartDir, "--set", "git.repoURL="+repoURL)
	if err == nil || !strings.Contains(err.Error(), "managedNamespaces is required") {
		t.Errorf("want managedNamespaces is required, got %v", err)
	}
}

func TestTemplateRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"two replicas without a Lease", []string{"--set", "replicas=2", "--set", "leaderElection.enabled=false"}, "replicas > 1 needs leader election"},
		{"a namespace that is no DNS label", []string{"--set", "managedNamespaces={Flink_Dev}"}, "managedNamespaces"},
		{"a namespace twice", []string{"--set", "managedNamespaces={a,a}"}, "managedNamespaces"},
		{"a credentials type", []string{"--set", "git.credentials.type=ftp"}, "type"},
		{"ssh without known_hosts", []string{"--set", "git.credentials.existingSecret=git", "--set", "git.credentials.type=ssh", "--set", "git.credentials.knownHostsKey="}, "knownHostsKey"},
		{"an alert format", []string{"--set", "alerts.format=xml"}, "format"},
		{"a misspelt value", []string{"--set", "replicaCount=2"}, "replicaCount"},
		{"a duration", []string{"--set", "git.interval=5"}, "interval"},
		{"a policy without a document", []string{"--set", "policy.enabled=true"}, "policy.enabled needs"},
		{"an ingress without webhooks", []string{"--set", "ingress.enabled=true", "--set", "ingress.hosts={flinksync.example.com}"}, "webhook.existingSecret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"template", releaseName, chartDir}, minimal("flink-dev")...)
			_, err := helm(t, append(args, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want an error about %q, got %v", c.want, err)
			}
		})
	}
}

func TestRenderDefaults(t *testing.T) {
	r := renderChart(t, "flinksync-system", minimal("flink-dev")...)
	want := []string{
		"ClusterRole//flinksync-system-flinksync",
		"ClusterRoleBinding//flinksync-system-flinksync",
		"Deployment/flinksync-system/flinksync",
		"Role/flink-dev/flinksync",
		"RoleBinding/flink-dev/flinksync",
		"Service/flinksync-system/flinksync",
		"ServiceAccount/flinksync-system/flinksync",
	}
	if got := r.ids(); !slices.Equal(got, want) {
		t.Errorf("objects:\n got %v\nwant %v", got, want)
	}
	var dep appsv1.Deployment
	r.one(t, "Deployment", &dep)
	args := checkDeployment(t, &dep, 1)
	for _, flag := range []string{"--leader-elect", "--policy", "--webhook-secret-file", "--git-username-file", "--git-ssh-key-file", "--alert-webhook"} {
		if _, ok := args[flag]; ok {
			t.Errorf("%s is set without the value that turns it on", flag)
		}
	}
	if got := args["--repo-url"]; !slices.Equal(got, []string{repoURL}) {
		t.Errorf("--repo-url = %v", got)
	}
	checkRBAC(t, r, "flinksync-system", []string{"flink-dev"}, rbacWant{})
}

func TestRenderEverything(t *testing.T) {
	r := renderChart(t, "flinksync-system", "-f", valuesAll)
	managed := []string{"flink-dev", "flink-staging", "flink-prod"}
	for _, id := range []string{
		"ConfigMap/flinksync-system/flinksync-policy",
		"Ingress/flinksync-system/flinksync",
		"PrometheusRule/flinksync-system/flinksync",
		"ServiceMonitor/flinksync-system/flinksync",
		"Role/flinksync-system/flinksync-leader-election",
		"RoleBinding/flinksync-system/flinksync-leader-election",
	} {
		if !slices.Contains(r.ids(), id) {
			t.Errorf("no %s in %v", id, r.ids())
		}
	}
	var dep appsv1.Deployment
	r.one(t, "Deployment", &dep)
	args := checkDeployment(t, &dep, 2)
	for flag, want := range map[string][]string{
		"--repo-url":                  {"git@github.com:acme/flink-platform.git"},
		"--branch":                    {"release"},
		"--interval":                  {"2m"},
		"--drift-interval":            {"10m"},
		"--git-timeout":               {"90s"},
		"--git-ssh-key-file":          {"/etc/flinksync/git/ssh-key"},
		"--git-known-hosts-file":      {"/etc/flinksync/git/known_hosts"},
		"--verify-keyring-file":       {"/etc/flinksync/keyring/keyring.asc"},
		"--webhook-secret-file":       {"/etc/flinksync/webhook/secret"},
		"--policy":                    {"/etc/flinksync/policy/policy.yaml"},
		"--alert-format":              {"slack"},
		"--alert-webhook":             {"https://alertmanager.monitoring.svc:9093/api/v2/alerts", "$(ALERT_WEBHOOK_URL_0)", "https://hooks.example.com/flinksync"},
		"--leader-elect":              {""},
		"--leader-election-namespace": {"flinksync-system"},
		"--leader-election-name":      {"flinksync-leader"},
		"--clusters-dir":              {"/etc/flinksync/clusters"},
	} {
		if got := args[flag]; !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", flag, got, want)
		}
	}
	// The Slack URL is a credential: it comes from a Secret, not the pod spec.
	c := dep.Spec.Template.Spec.Containers[0]
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "ALERT_WEBHOOK_URL_0" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil || c.Env[i].ValueFrom.SecretKeyRef.Name != "flinksync-slack" {
		t.Errorf("ALERT_WEBHOOK_URL_0 must come from Secret flinksync-slack: %+v", c.Env)
	}
	if dep.Spec.Template.Annotations["checksum/policy"] == "" {
		t.Error("no checksum/policy annotation: a new policy would not restart the pods")
	}
	var policy corev1.ConfigMap
	r.one(t, "ConfigMap", &policy)
	var doc map[string]any
	if err := yaml.UnmarshalStrict([]byte(policy.Data["policy.yaml"]), &doc); err != nil || doc["kind"] != "Policy" {
		t.Errorf("policy.yaml is not a Policy document (%v):\n%s", err, policy.Data["policy.yaml"])
	}
	checkRBAC(t, r, "flinksync-system", managed, rbacWant{leaderElection: true, leaseName: "flinksync-leader", secretNames: []string{"flink-tls"}})
	checkMonitoring(t, r)
	checkIngress(t, r)
}

// Each cluster of values' clusters is its Secret's kubeconfig, mounted
// read-only at <clusters dir>/<name>/kubeconfig (a missing Secret fails
// only its cluster), the daemon reads that folder (--clusters-dir), and
// the chart's RBAC on its own cluster is exactly what it is without
// clusters: nothing is granted for the other clusters.
func TestRenderClusters(t *testing.T) {
	without := renderChart(t, "flinksync-system", minimal("flink-dev")...)
	with := renderChart(t, "flinksync-system", append(minimal("flink-dev"),
		"--set", "clusters[0].name=eu-1", "--set", "clusters[0].secretName=flinksync-cluster-eu-1",
		"--set", "clusters[1].name=us-1", "--set", "clusters[1].secretName=kc-us", "--set", "clusters[1].key=config")...)
	var dep appsv1.Deployment
	with.one(t, "Deployment", &dep)
	args := checkDeployment(t, &dep, 1)
	if got := args["--clusters-dir"]; !slices.Equal(got, []string{"/etc/flinksync/clusters"}) {
		t.Errorf("--clusters-dir = %q", got)
	}
	spec := dep.Spec.Template.Spec
	for _, c := range []struct{ name, secret, key string }{{"eu-1", "flinksync-cluster-eu-1", "kubeconfig"}, {"us-1", "kc-us", "config"}} {
		m := slices.IndexFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/etc/flinksync/clusters/"+c.name })
		if m < 0 || !spec.Containers[0].VolumeMounts[m].ReadOnly {
			t.Errorf("cluster %s: no read-only mount at /etc/flinksync/clusters/%s: %+v", c.name, c.name, spec.Containers[0].VolumeMounts)
			continue
		}
		mount := spec.Containers[0].VolumeMounts[m]
		v := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == mount.Name })
		if v < 0 || spec.Volumes[v].Secret == nil {
			t.Errorf("cluster %s: volume %s is not a Secret", c.name, mount.Name)
			continue
		}
		sec := spec.Volumes[v].Secret
		if sec.SecretName != c.secret || len(sec.Items) != 1 || sec.Items[0].Key != c.key || sec.Items[0].Path != "kubeconfig" ||
			sec.DefaultMode == nil || *sec.DefaultMode != 0o440 || sec.Optional == nil || !*sec.Optional {
			t.Errorf("cluster %s: volume %+v, want Secret %s, key %s as kubeconfig, mode 0440, optional", c.name, sec, c.secret, c.key)
		}
	}
	if _, ok := checkDeployment(t, without.deployment(t), 1)["--clusters-dir"]; ok {
		t.Error("--clusters-dir without clusters")
	}
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} {
		a, b := without.ofKind(kind), with.ofKind(kind)
		if len(a) != len(b) {
			t.Errorf("%d %s with clusters, %d without", len(b), kind, len(a))
			continue
		}
		for i := range a {
			if !reflect.DeepEqual(a[i].Object, b[i].Object) {
				t.Errorf("%s %s changes with clusters:\n%v\n%v", kind, a[i].GetName(), a[i].Object, b[i].Object)
			}
		}
	}
	checkRBAC(t, with, "flinksync-system", []string{"flink-dev"}, rbacWant{})

	// A cluster named twice is refused.
	if out, err := helm(t, append([]string{"template", releaseName, chartDir}, append(minimal("flink-dev"),
		"--set", "clusters[0].name=eu-1", "--set", "clusters[0].secretName=a",
		"--set", "clusters[1].name=eu-1", "--set", "clusters[1].secretName=b")...)...); err == nil || !strings.Contains(out+err.Error(), "twice") {
		t.Errorf("a cluster named twice: %v\n%s", err, out)
	}
}

func (r *rendered) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var dep appsv1.Deployment
	r.one(t, "Deployment", &dep)
	return &dep
}

// replicas > 1 turns leader election on unless told otherwise.
func TestLeaderElectionFollowsReplicas(t *testing.T) {
	for _, c := range []struct {
		replicas string
		want     bool
	}{{"1", false}, {"2", true}, {"3", true}} {
		r := renderChart(t, "flinksync-system", append(minimal("flink-dev"), "--set", "replicas="+c.replicas)...)
		var dep appsv1.Deployment
		r.one(t, "Deployment", &dep)
		_, on := flagMap(dep.Spec.Template.Spec.Containers[0].Args)["--leader-elect"]
		lease := slices.Contains(r.ids(), "Role/flinksync-system/flinksync-leader-election")
		if on != c.want || lease != c.want {
			t.Errorf("replicas=%s: --leader-elect %v, Lease Role %v; want %v", c.replicas, on, lease, c.want)
		}
	}
}

// shards > 1 runs that many replicas, each syncing its share of the
// environments: --sharding with the Leases in the release namespace and
// no leader election (the two exclude each other), and a Role on Leases
// of any name there (they are named after pods and environments), with
// no more than the shards need: no watch, no deletecollection.
func TestRenderShards(t *testing.T) {
	r := renderChart(t, "flinksync-system", append(minimal("flink-dev"), "--set", "shards=3")...)
	dep := r.deployment(t)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", dep.Spec.Replicas)
	}
	flags := flagMap(dep.Spec.Template.Spec.Containers[0].Args)
	if _, ok := flags["--sharding"]; !ok {
		t.Errorf("no --sharding in %v", dep.Spec.Template.Spec.Containers[0].Args)
	}
	if ns := flags["--leader-election-namespace"]; !slices.Equal(ns, []string{"flinksync-system"}) {
		t.Errorf("--leader-election-namespace = %v, want [flinksync-system] (where the shards' Leases are)", ns)
	}
	if p := flags["--sharding-lease-prefix"]; !slices.Equal(p, []string{"flinksync"}) {
		t.Errorf("--sharding-lease-prefix = %v, want [flinksync]", p)
	}
	for _, flag := range []string{"--leader-elect", "--leader-election-name"} {
		if _, ok := flags[flag]; ok {
			t.Errorf("%s with shards: the daemon refuses --sharding with --leader-elect", flag)
		}
	}
	var role rbacv1.Role
	var found bool
	for _, u := range r.ofKind("Role") {
		if u.GetNamespace() == "flinksync-system" {
			typed(t, u, &role)
			found = true
		}
	}
	if !found {
		t.Fatalf("no Role in the release namespace: %v", r.ids())
	}
	for _, verb := range []string{"get", "list", "create", "update", "delete"} {
		if !allows(role.Rules, "coordination.k8s.io", "leases", verb, "flinksync-env-prod") {
			t.Errorf("Role %s: cannot %s Leases of any name: %+v", role.Name, verb, role.Rules)
		}
	}
	for _, verb := range []string{"watch", "patch", "deletecollection"} {
		if allows(role.Rules, "coordination.k8s.io", "leases", verb, "flinksync-env-prod") {
			t.Errorf("Role %s: %s on Leases, which the shards never do", role.Name, verb)
		}
	}
	for _, rule := range role.Rules {
		if !slices.Equal(rule.Resources, []string{"leases"}) {
			t.Errorf("Role %s: a rule beyond Leases: %+v", role.Name, rule)
		}
	}
	if !slices.Contains(r.ids(), "RoleBinding/flinksync-system/flinksync-leader-election") {
		t.Errorf("no RoleBinding of the Leases' Role: %v", r.ids())
	}
	// Shards and leader election exclude each other.
	if out, err := helm(t, append([]string{"template", releaseName, chartDir}, append(minimal("flink-dev"),
		"--set", "shards=3", "--set", "leaderElection.enabled=true")...)...); err == nil || !strings.Contains(out+err.Error(), "choose one") {
		t.Errorf("shards=3 with leaderElection.enabled: want refused, got %v\n%s", err, out)
	}
}

// checkDeployment checks what every rendering must have and returns the
// daemon's flags.
func checkDeployment(t *testing.T, dep *appsv1.Deployment, replicas int32) map[string][]string {
	t.Helper()
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != replicas {
		t.Errorf("replicas = %v, want %d", dep.Spec.Replicas, replicas)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q: two pods must never sync at once", dep.Spec.Strategy.Type)
	}
	pod := dep.Spec.Template.Spec
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod shares a host namespace")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || psc.FSGroup == nil {
		t.Errorf("pod securityContext: %+v", psc)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container: %+v", pod.Containers)
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container securityContext")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot must be true")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities: %+v", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("seccompProfile must be RuntimeDefault")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
		if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
			t.Errorf("no %s limit", r)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports: %+v", c.Ports)
	}
	checkProbe(t, "liveness", c.LivenessProbe, "/healthz")
	checkProbe(t, "readiness", c.ReadinessProbe, "/readyz")
	checkProbe(t, "startup", c.StartupProbe, "/healthz")

	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("args must start with run: %q", c.Args)
	}
	args := flagMap(c.Args[1:])
	if got := args["--listen"]; !slices.Equal(got, []string{":8080"}) {
		t.Errorf("--listen = %q", got)
	}
	// Writable: the cache and /tmp, both emptyDirs. Every file flag names a
	// file that a read-only volume projects under that very name.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("hostPath volume %s", v.Name)
		}
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	for _, dir := range append(args["--cache-dir"], "/tmp") {
		m, ok := mounts[dir]
		if !ok || volumes[m.Name].EmptyDir == nil || m.ReadOnly {
			t.Errorf("%s must be a writable emptyDir mount: %+v", dir, m)
		}
	}
	for flag, values := range args {
		if !strings.HasSuffix(flag, "-file") && flag != "--policy" {
			continue
		}
		for _, file := range values {
			m, ok := mounts[path.Dir(file)]
			if !ok || !m.ReadOnly {
				t.Errorf("%s=%s: no read-only mount at %s", flag, file, path.Dir(file))
				continue
			}
			if !projects(volumes[m.Name], path.Base(file)) {
				t.Errorf("%s=%s: volume %s does not project %s", flag, file, m.Name, path.Base(file))
			}
		}
	}
	return args
}

func checkProbe(t *testing.T, name string, p *corev1.Probe, wantPath string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != wantPath || p.HTTPGet.Port.String() != "http" {
		t.Errorf("%s probe: want GET %s on port http, got %+v", name, wantPath, p)
	}
}

// projects reports whether a Secret or ConfigMap volume puts a file named name at its root.
func projects(v corev1.Volume, name string) bool {
	var items []corev1.KeyToPath
	switch {
	case v.Secret != nil:
		items = v.Secret.Items
	case v.ConfigMap != nil:
		items = v.ConfigMap.Items
	default:
		return false
	}
	return slices.ContainsFunc(items, func(k corev1.KeyToPath) bool { return k.Path == name })
}

// flagMap parses --name=value and bare --name arguments; a bare flag has "".
func flagMap(args []string) map[string][]string {
	out := map[string][]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(a, "=")
		out[name] = append(out[name], value)
	}
	return out
}

// rbacWant is what a rendering's RBAC should grant beyond the base.
type rbacWant struct {
	leaderElection  bool
	leaseName       string
	secretNames     []string
	clusterWideList bool
}

// forbiddenVerbs let a subject reach beyond its own permissions.
var forbiddenVerbs = []string{"*", "escalate", "bind", "impersonate", "deletecollection"}

// checkRBAC checks least privilege in the rendered RBAC objects.
func checkRBAC(t *testing.T, r *rendered, releaseNS string, managed []string, want rbacWant) {
	t.Helper()
	sa := r.one(t, "ServiceAccount", nil)
	if sa.GetNamespace() != releaseNS {
		t.Errorf("ServiceAccount in %q", sa.GetNamespace())
	}
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: sa.GetName(), Namespace: releaseNS}

	roles := map[string]*rbacv1.Role{} // by namespace
	for _, u := range r.ofKind("Role") {
		var role rbacv1.Role
		typed(t, u, &role)
		if roles[role.Namespace] != nil {
			t.Errorf("two Roles in %s", role.Namespace)
		}
		roles[role.Namespace] = &role
		checkRules(t, "Role "+role.Namespace+"/"+role.Name, role.Rules)
	}
	wantNS := slices.Clone(managed)
	if want.leaderElection {
		wantNS = append(wantNS, releaseNS)
	}
	var gotNS []string
	for ns := range roles {
		gotNS = append(gotNS, ns)
	}
	slices.Sort(gotNS)
	slices.Sort(wantNS)
	if !slices.Equal(gotNS, wantNS) {
		t.Errorf("Roles in %v, want exactly %v", gotNS, wantNS)
	}
	for _, ns := range managed {
		role := roles[ns]
		if role == nil {
			continue
		}
		// It holds the FKO flink Role's rules, so it may create that Role.
		var lacks []string
		for _, fr := range render.FlinkRoleRules {
			for _, g := range fr.APIGroups {
				for _, res := range fr.Resources {
					for _, v := range fr.Verbs {
						if !allows(role.Rules, g, res, v, "") {
							lacks = append(lacks, v+" "+strings.TrimSuffix(res+"."+g, "."))
						}
					}
				}
			}
		}
		if len(lacks) > 0 {
			t.Errorf("Role %s/%s cannot create the FKO flink Role: it lacks %s", ns, role.Name, strings.Join(lacks, ", "))
		}
		for _, need := range [][3]string{
			{"flink.apache.org", "flinkdeployments", "patch"}, {"flink.apache.org", "flinksessionjobs", "delete"},
			{"platform.confluent.io", "flinkapplications", "patch"}, {"platform.confluent.io", "flinkenvironments", "create"},
			{"platform.confluent.io", "cmfrestclasses", "delete"}, {"", "serviceaccounts", "patch"},
			{"rbac.authorization.k8s.io", "roles", "create"}, {"rbac.authorization.k8s.io", "rolebindings", "patch"},
			{"", "events", "create"}, {"events.k8s.io", "events", "create"},
			// Health reads TaskManager pods and their scheduling events.
			{"", "pods", "list"}, {"", "pods", "watch"}, {"", "events", "get"}, {"", "events", "list"}, {"", "events", "watch"},
		} {
			if !allows(role.Rules, need[0], need[1], need[2], "") {
				t.Errorf("Role %s/%s: cannot %s %s.%s", ns, role.Name, need[2], need[1], need[0])
			}
		}
		secretName := "any-secret"
		if len(want.secretNames) > 0 {
			secretName = want.secretNames[0]
			if allows(role.Rules, "", "secrets", "get", "another-secret") {
				t.Errorf("Role %s/%s: get on Secrets beyond %v", ns, role.Name, want.secretNames)
			}
		}
		if !allows(role.Rules, "", "secrets", "get", secretName) {
			t.Errorf("Role %s/%s: cannot get Secret %s", ns, role.Name, secretName)
		}
	}
	if want.leaderElection {
		role := roles[releaseNS]
		if role != nil && (!allows(role.Rules, "coordination.k8s.io", "leases", "create", "") ||
			!allows(role.Rules, "coordination.k8s.io", "leases", "update", want.leaseName) ||
			allows(role.Rules, "coordination.k8s.io", "leases", "update", "another-lease")) {
			t.Errorf("leader election Role: want create on leases and update on %q only: %+v", want.leaseName, role.Rules)
		}
	}

	for _, u := range r.ofKind("RoleBinding") {
		var rb rbacv1.RoleBinding
		typed(t, u, &rb)
		if rb.RoleRef.Kind != "Role" || roles[rb.Namespace] == nil || rb.RoleRef.Name != roles[rb.Namespace].Name {
			t.Errorf("RoleBinding %s/%s binds %s %s, not the chart's Role in its namespace", rb.Namespace, rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name)
		}
		if !slices.Equal(rb.Subjects, []rbacv1.Subject{subject}) {
			t.Errorf("RoleBinding %s/%s subjects %+v", rb.Namespace, rb.Name, rb.Subjects)
		}
	}
	if got := len(r.ofKind("RoleBinding")); got != len(roles) {
		t.Errorf("%d RoleBindings for %d Roles", got, len(roles))
	}

	var cr rbacv1.ClusterRole
	r.one(t, "ClusterRole", &cr)
	checkRules(t, "ClusterRole "+cr.Name, cr.Rules)
	wantRules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: managed, Verbs: []string{"get"}}}
	if want.clusterWideList {
		wantRules = append(wantRules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list", "watch"}})
	}
	if !equalRules(cr.Rules, wantRules) {
		t.Errorf("ClusterRole rules:\n got %+v\nwant %+v", cr.Rules, wantRules)
	}
	var crb rbacv1.ClusterRoleBinding
	r.one(t, "ClusterRoleBinding", &crb)
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != cr.Name || !slices.Equal(crb.Subjects, []rbacv1.Subject{subject}) {
		t.Errorf("ClusterRoleBinding %s: binds %s %s to %+v; want only the chart's ClusterRole to its ServiceAccount", crb.Name, crb.RoleRef.Kind, crb.RoleRef.Name, crb.Subjects)
	}
}

// checkRules rejects wildcards, verbs that reach beyond the subject's own
// permissions, and any Secret access but get.
func checkRules(t *testing.T, who string, rules []rbacv1.PolicyRule) {
	t.Helper()
	for _, rule := range rules {
		for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
			if slices.Contains(list, "*") {
				t.Errorf("%s: wildcard in %+v", who, rule)
			}
		}
		for _, v := range rule.Verbs {
			if slices.Contains(forbiddenVerbs, v) {
				t.Errorf("%s: verb %s in %+v", who, v, rule)
			}
		}
		if len(rule.NonResourceURLs) > 0 {
			t.Errorf("%s: nonResourceURLs %v", who, rule.NonResourceURLs)
		}
		for _, res := range rule.Resources {
			if res == "secrets" && slices.ContainsFunc(rule.APIGroups, func(g string) bool { return g == "" }) && !slices.Equal(rule.Verbs, []string{"get"}) {
				t.Errorf("%s: Secrets with verbs %v; only get is allowed", who, rule.Verbs)
			}
			if strings.Contains(res, "/") && !strings.HasSuffix(res, "/finalizers") {
				t.Errorf("%s: subresource %s (exec, token, proxy...) in %+v", who, res, rule)
			}
		}
	}
}

// allows reports whether rules grant verb on group/resource (named name,
// or any name when name is "").
func allows(rules []rbacv1.PolicyRule, group, resource, verb, name string) bool {
	for _, r := range rules {
		if !slices.Contains(r.APIGroups, group) || !slices.Contains(r.Resources, resource) || !slices.Contains(r.Verbs, verb) {
			continue
		}
		if len(r.ResourceNames) == 0 || (name != "" && slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !slices.Equal(x.APIGroups, y.APIGroups) || !slices.Equal(x.Resources, y.Resources) ||
			!slices.Equal(x.ResourceNames, y.ResourceNames) || !slices.Equal(x.Verbs, y.Verbs) {
			return false
		}
	}
	return true
}

// checkMonitoring: the ServiceMonitor scrapes the Service's port, and the
// PrometheusRule has the alerts on flinksync's metrics.
func checkMonitoring(t *testing.T, r *rendered) {
	t.Helper()
	var svc corev1.Service
	r.one(t, "Service", &svc)
	sm := r.one(t, "ServiceMonitor", nil)
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %q", k, v, svc.Labels[k])
		}
	}
	if len(sel) == 0 {
		t.Error("ServiceMonitor selects nothing")
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http" || eps[0].(map[string]any)["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %v", eps)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" {
		t.Errorf("Service ports %+v", svc.Spec.Ports)
	}

	pr := r.one(t, "PrometheusRule", nil)
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	exprs := map[string]string{}
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, rule := range rules {
			m := rule.(map[string]any)
			alert, _ := m["alert"].(string)
			expr, _ := m["expr"].(string)
			exprs[alert] = expr
			if sev, _, _ := unstructured.NestedString(m, "labels", "severity"); sev == "" {
				t.Errorf("alert %s has no severity", alert)
			}
			if s, _, _ := unstructured.NestedString(m, "annotations", "summary"); s == "" {
				t.Errorf("alert %s has no summary", alert)
			}
		}
	}
	for alert, want := range map[string][]string{
		"FlinksyncDrift":              {"flinksync_drifted_objects{", "> 0"},
		"FlinksyncSyncFailing":        {"increase(flinksync_reconcile_total{", `result="failed"`},
		"FlinksyncEnvironmentBlocked": {"increase(flinksync_reconcile_total{", `result="blocked"`},
		"FlinksyncAppDegraded":        {"flinksync_app_health{", `status="Degraded"`},
		"FlinksyncGitUnreachable":     {"flinksync_source_up{", "== 0"},
		"FlinksyncDown":               {"up{"},
	} {
		expr, ok := exprs[alert]
		if !ok {
			t.Errorf("no alert %s in %v", alert, exprs)
			continue
		}
		for _, w := range append(want, `job="flinksync"`, `namespace="flinksync-system"`) {
			if !strings.Contains(expr, w) {
				t.Errorf("alert %s: expr %q lacks %q", alert, expr, w)
			}
		}
		if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
			t.Errorf("alert %s: unbalanced expr %q", alert, expr)
		}
	}
}

// checkIngress: only the webhooks are exposed.
func checkIngress(t *testing.T, r *rendered) {
	t.Helper()
	ing := r.one(t, "Ingress", nil)
	rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	for _, rule := range rules {
		paths, _, _ := unstructured.NestedSlice(rule.(map[string]any), "http", "paths")
		for _, p := range paths {
			if p.(map[string]any)["path"] != "/hooks" {
				t.Errorf("Ingress routes %v: only /hooks may leave the cluster", p)
			}
		}
	}
}

// The daemon accepts every argument the chart gives it: `flinksync run
// <args> --help` parses them all before printing its help.
func TestDaemonAcceptsTheChartsArguments(t *testing.T) {
	helmBin(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "flinksync")
	build := exec.Command("go", "build", "-o", bin, "./cmd/flinksync")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/flinksync: %v\n%s", err, out)
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()} // no FLINKSYNC_* from the caller
		return cmd.CombinedOutput()
	}
	for name, values := range map[string][]string{"minimal": minimal("flink-dev"), "everything": {"-f", valuesAll}} {
		var dep appsv1.Deployment
		renderChart(t, "flinksync-system", values...).one(t, "Deployment", &dep)
		args := dep.Spec.Template.Spec.Containers[0].Args
		if out, err := run(append(slices.Clone(args), "--help")...); err != nil {
			t.Errorf("%s: flinksync refuses the chart's arguments %q: %v\n%s", name, args, err, out)
		}
		// The check can fail: an unknown flag is refused.
		if out, err := run(append(slices.Clone(args), "--no-such-flag", "--help")...); err == nil {
			t.Errorf("%s: flinksync accepted --no-such-flag: the check proves nothing\n%s", name, out)
		}
	}
}
