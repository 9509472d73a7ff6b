package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// The status page is on by default, with no token and no Ingress; a token
// Secret is mounted read-only and given to the daemon as a file; off, the
// daemon is told so.
func TestRenderStatusPage(t *testing.T) {
	args := func(values ...string) (map[string][]string, *appsv1.Deployment) {
		t.Helper()
		var dep appsv1.Deployment
		renderChart(t, "flinksync-system", append(minimal("flink-dev"), values...)...).one(t, "Deployment", &dep)
		return checkDeployment(t, &dep, 1), &dep
	}
	a, _ := args()
	if _, off := a["--status-page"]; off || a["--status-page-refresh"] == nil || a["--status-page-token-file"] != nil {
		t.Errorf("by default the page is on, without a token: %v", a)
	}
	a, dep := args("--set", "statusPage.tokenSecret=flinksync-status", "--set", "statusPage.tokenKey=bearer", "--set", "statusPage.refresh=30s")
	if got := a["--status-page-token-file"]; !slices.Equal(got, []string{"/etc/flinksync/status-page/token"}) {
		t.Errorf("--status-page-token-file = %q", got)
	}
	if got := a["--status-page-refresh"]; !slices.Equal(got, []string{"30s"}) {
		t.Errorf("--status-page-refresh = %q", got)
	}
	pod := dep.Spec.Template.Spec
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "status-page-token" })
	if i < 0 || pod.Volumes[i].Secret == nil || pod.Volumes[i].Secret.SecretName != "flinksync-status" ||
		len(pod.Volumes[i].Secret.Items) != 1 || pod.Volumes[i].Secret.Items[0].Key != "bearer" || pod.Volumes[i].Secret.Items[0].Path != "token" {
		t.Fatalf("the token Secret's volume: %+v", pod.Volumes)
	}
	m := slices.IndexFunc(pod.Containers[0].VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == "status-page-token" })
	if m < 0 || !pod.Containers[0].VolumeMounts[m].ReadOnly || pod.Containers[0].VolumeMounts[m].MountPath != "/etc/flinksync/status-page" {
		t.Errorf("the token's mount: %+v", pod.Containers[0].VolumeMounts)
	}
	a, dep = args("--set", "statusPage.enabled=false", "--set", "statusPage.tokenSecret=flinksync-status")
	if got := a["--status-page"]; !slices.Equal(got, []string{"false"}) || a["--status-page-token-file"] != nil {
		t.Errorf("off: --status-page = %q, token file %q", got, a["--status-page-token-file"])
	}
	if slices.ContainsFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "status-page-token" }) {
		t.Error("off: the token is still mounted")
	}
}

// The page's Ingress routes its three paths to the Service, nothing else.
func TestRenderStatusPageIngress(t *testing.T) {
	r := renderChart(t, "flinksync-system", append(minimal("flink-dev"), "--set", "statusPage.ingress.enabled=true",
		"--set", "statusPage.ingress.host=flinksync.example.com", "--set", "statusPage.ingress.className=nginx",
		"--set", "statusPage.ingress.tls[0].secretName=flinksync-tls", "--set", "statusPage.ingress.tls[0].hosts[0]=flinksync.example.com")...)
	var ing networkingv1.Ingress
	u := r.one(t, "Ingress", &ing)
	if u.GetName() != "flinksync-status" || ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "flinksync-tls" {
		t.Errorf("the Ingress: %s %+v", u.GetName(), ing.Spec)
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "flinksync.example.com" || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("rules: %+v", ing.Spec.Rules)
	}
	var paths []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		paths = append(paths, string(*p.PathType)+" "+p.Path)
		if p.Backend.Service == nil || p.Backend.Service.Name != "flinksync" || p.Backend.Service.Port.Name != "http" {
			t.Errorf("%s goes to %+v", p.Path, p.Backend)
		}
	}
	if want := []string{"Exact /", "Prefix /environments", "Exact /events"}; !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q: /metrics, /api/v1/status and the webhooks stay inside", paths, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "statusPage.ingress.enabled=true"}, "statusPage.ingress.host"},
		{[]string{"--set", "statusPage.ingress.enabled=true", "--set", "statusPage.ingress.host=x.example.com", "--set", "statusPage.enabled=false"}, "needs statusPage.enabled"},
		{[]string{"--set", "statusPage.refresh=10"}, "refresh"},
		{[]string{"--set", "statusPage.tokenSecret=Not_A_Name"}, "tokenSecret"},
	} {
		_, err := helm(t, append(append([]string{"template", releaseName, chartDir}, minimal("flink-dev")...), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error about %q, got %v", c.args, c.want, err)
		}
	}
}
