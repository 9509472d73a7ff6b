package deploy

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// cmfCredentials mounts each Secret read-only at /etc/flinksync/cmf/<name>,
// the one folder the daemon reads CMF credential files from, and changes
// nothing else.
func TestRenderCMFCredentials(t *testing.T) {
	with := renderChart(t, "flinksync-system", append(minimal("flink-dev"),
		"--set", "cmfCredentials[0].name=prod-cmf", "--set", "cmfCredentials[0].secretName=flinksync-cmf-prod")...)
	var dep appsv1.Deployment
	with.one(t, "Deployment", &dep)
	spec := dep.Spec.Template.Spec
	m := slices.IndexFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/etc/flinksync/cmf/prod-cmf" })
	if m < 0 || !spec.Containers[0].VolumeMounts[m].ReadOnly {
		t.Fatalf("no read-only mount at /etc/flinksync/cmf/prod-cmf: %+v", spec.Containers[0].VolumeMounts)
	}
	v := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == spec.Containers[0].VolumeMounts[m].Name })
	if v < 0 || spec.Volumes[v].Secret == nil || spec.Volumes[v].Secret.SecretName != "flinksync-cmf-prod" ||
		spec.Volumes[v].Secret.DefaultMode == nil || *spec.Volumes[v].Secret.DefaultMode != 0o440 {
		t.Errorf("volume of the CMF credentials: %+v", spec.Volumes)
	}
	without := renderChart(t, "flinksync-system", minimal("flink-dev")...)
	if n := len(without.deployment(t).Spec.Template.Spec.Volumes); n != len(spec.Volumes)-1 {
		t.Errorf("cmfCredentials must add exactly one volume: %d without, %d with", n, len(spec.Volumes))
	}
}
