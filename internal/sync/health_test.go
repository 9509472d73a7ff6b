package sync

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/model"
)

// fkoObject is a FlinkDeployment at generation gen whose spec.job.state is
// state ("" for a session cluster), with status.
func fkoObject(kind string, gen int64, state string, status map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"taskManager": map[string]any{"resource": map[string]any{"cpu": int64(2)}}}
	if state != "" {
		spec["job"] = map[string]any{"state": state}
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": kind, "spec": spec}}
	u.SetName("orders")
	u.SetGeneration(gen)
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func TestDeploymentHealth(t *testing.T) {
	running := func(extra map[string]any) map[string]any {
		s := map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	cond := func(status, reason, message string, gen int64) map[string]any {
		c := map[string]any{"type": "Running", "status": status, "reason": reason, "message": message}
		if gen > 0 {
			c["observedGeneration"] = gen
		}
		return map[string]any{"conditions": []any{c}}
	}
	fkoError := `{"type":"org.apache.flink.kubernetes.operator.exception.ReconciliationException","message":"java.lang.OutOfMemoryError: Java heap space","additionalMetadata":{},"throwableList":[]}`
	for _, tc := range []struct {
		name string
		live *unstructured.Unstructured
		// desired is what Git declares; nil: the live object's own spec.
		desired *unstructured.Unstructured
		want    Health
		says    string
	}{
		{"stable and running", fkoObject("FlinkDeployment", 3, "running", running(map[string]any{"observedGeneration": int64(3)})), nil, Healthy, "lifecycle STABLE"},
		{"running, the operator has not seen the last change", fkoObject("FlinkDeployment", 4, "running", running(map[string]any{"observedGeneration": int64(3)})), nil, Progressing, "not yet acted on generation 4"},
		{"failed, and a fix the operator has not seen", fkoObject("FlinkDeployment", 4, "running", map[string]any{"lifecycleState": "FAILED", "observedGeneration": int64(3)}), nil, Progressing, "generation 4"},
		{"no observedGeneration: an older operator, no gate", fkoObject("FlinkDeployment", 9, "running", running(nil)), nil, Healthy, "STABLE"},
		{"deployed, the JobManager starting", fkoObject("FlinkDeployment", 1, "running", map[string]any{"lifecycleState": "DEPLOYED", "jobManagerDeploymentStatus": "DEPLOYING"}), nil, Progressing, "DEPLOYING"},
		{"stable but the job restarting", fkoObject("FlinkDeployment", 1, "running", map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RESTARTING"}}), nil, Progressing, "RESTARTING"},
		{"a session cluster", fkoObject("FlinkDeployment", 1, "", map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY"}), nil, Healthy, "STABLE"},
		{"job FAILED, FKO's JSON error", fkoObject("FlinkDeployment", 1, "running", map[string]any{"lifecycleState": "FAILED", "jobStatus": map[string]any{"state": "FAILED"}, "error": fkoError}), nil, Degraded, "OutOfMemoryError: Java heap space"},
		{"JobManager ERROR, plain error", fkoObject("FlinkDeployment", 1, "running", map[string]any{"lifecycleState": "DEPLOYED", "jobManagerDeploymentStatus": "ERROR", "error": "ImagePullBackOff"}), nil, Degraded, "ImagePullBackOff"},
		{"rolled back after a failed upgrade", fkoObject("FlinkDeployment", 2, "running", map[string]any{"lifecycleState": "ROLLED_BACK", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}, "error": "Deployment not ready within 300s"}), nil, Degraded, "rolled back to the last stable spec: Deployment not ready"},
		{"rolling back", fkoObject("FlinkDeployment", 2, "running", map[string]any{"lifecycleState": "ROLLING_BACK", "reconciliationStatus": map[string]any{"state": "ROLLING_BACK"}}), nil, Degraded, "rolled back"},
		{"rolled back, read from reconciliationStatus", fkoObject("FlinkDeployment", 2, "running", running(map[string]any{"reconciliationStatus": map[string]any{"state": "ROLLED_BACK"}})), nil, Degraded, "upgrade failed"},
		{"Running condition False, reason Failed", fkoObject("FlinkDeployment", 2, "running", running(cond("False", "Failed", "Job state FAILED", 0))), nil, Degraded, "Job state FAILED"},
		{"Running condition of an older generation", fkoObject("FlinkDeployment", 2, "running", running(cond("False", "Failed", "Job state FAILED", 1))), nil, Healthy, "STABLE"},
		{"Running condition True", fkoObject("FlinkDeployment", 2, "running", running(cond("True", "Running", "Job state RUNNING", 2))), nil, Healthy, "RUNNING"},
		{"suspended, as Git says", fkoObject("FlinkDeployment", 2, "suspended", map[string]any{"lifecycleState": "SUSPENDED", "jobManagerDeploymentStatus": "MISSING", "jobStatus": map[string]any{"state": "FINISHED"}}), nil, Healthy, "suspended, as Git says"},
		{"suspended by hand, Git says running", fkoObject("FlinkDeployment", 2, "suspended", map[string]any{"lifecycleState": "SUSPENDED"}), fkoObject("FlinkDeployment", 0, "running", nil), Progressing, "Git says running"},
		{"Git says suspended, still running", fkoObject("FlinkDeployment", 2, "suspended", running(nil)), nil, Progressing, "suspending"},
		{"CFK: cmfSync Failed", fkoObject("FlinkApplication", 1, "running", running(map[string]any{"cmfSync": map[string]any{"status": "Failed", "errorMessage": "environment env1 not found"}})), nil, Degraded, "environment env1 not found"},
		{"CFK: cmfSync Created and running", fkoObject("FlinkApplication", 1, "running", running(map[string]any{"cmfSync": map[string]any{"status": "Created", "errorMessage": ""}})), nil, Healthy, "cmfSync CREATED"},
		{"no status", fkoObject("FlinkDeployment", 1, "running", nil), nil, Unknown, "no status yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired := tc.desired
			if desired == nil {
				desired = tc.live
			}
			h := healthOf(tc.live, desired)
			if h.Health != tc.want || !strings.Contains(h.Message, tc.says) {
				t.Errorf("%s %q, want %s saying %q", h.Health, h.Message, tc.want, tc.says)
			}
			if strings.Contains(h.Message, `{"type"`) {
				t.Errorf("FKO's JSON error quoted whole: %q", h.Message)
			}
		})
	}
}

func TestSchedulingHealth(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	pod := func(name string, age time.Duration, conds ...corev1.PodCondition) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(-age)),
			Labels: map[string]string{"app": "orders", "component": "taskmanager"}}}
		p.Status.Phase, p.Status.Conditions = corev1.PodPending, conds
		return p
	}
	unschedulableCond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/3 nodes are available: 3 Insufficient memory."}
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	event := func(pod, msg string, at time.Duration) corev1.Event {
		return corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod}, Reason: "FailedScheduling", Message: msg,
			LastTimestamp: metav1.NewTime(now.Add(-at))}
	}
	four, two := resource.MustParse("4"), resource.MustParse("2")
	nodes := model.Nodes{CPU: model.Quantity{Quantity: resource.MustParse("4"), Set: true}, Count: 3}
	healthy := AppHealth{Health: Healthy, Message: "lifecycle STABLE, job RUNNING, jobManager READY"}
	for _, tc := range []struct {
		name   string
		pods   []corev1.Pod
		events []corev1.Event
		cpu    *resource.Quantity
		want   Health
		says   []string
	}{
		{"no pending pods", nil, nil, &four, Healthy, []string{"STABLE"}},
		{"a pod scheduled, pulling its image", []corev1.Pod{pod("tm-1", time.Hour, scheduled)}, nil, &four, Healthy, nil},
		{"a pod the scheduler has not looked at", []corev1.Pod{pod("tm-1", time.Hour)}, nil, &four, Healthy, nil},
		{"FailedScheduling for a minute: Progressing", []corev1.Pod{pod("tm-1", time.Minute)},
			[]corev1.Event{event("tm-1", "0/3 nodes are available: 3 Insufficient cpu.", 0)}, &four, Progressing,
			[]string{"1 TaskManager pod(s) Pending, not scheduled for 1m0s", "FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu."}},
		{"FailedScheduling past the grace: Degraded, a TaskManager as large as a node", []corev1.Pod{pod("tm-1", 10*time.Minute), pod("tm-2", 6*time.Minute)},
			[]corev1.Event{event("tm-1", "old", 5*time.Minute), event("tm-1", "0/3 nodes are available: 3 Insufficient cpu.", time.Second), event("tm-2", "0/3 nodes are available: 3 Insufficient cpu.", 0)},
			&four, Degraded, []string{"lifecycle STABLE", "2 TaskManager pod(s) Pending, not scheduled for 10m0s: FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu.",
				"each TaskManager asks for 4 CPU", "nodes have 4 CPU each", "needs a whole node or more"}},
		{"the pod's own condition, without events", []corev1.Pod{pod("tm-1", time.Hour, unschedulableCond)}, nil, &two, Degraded,
			[]string{"FailedScheduling (Unschedulable): 0/3 nodes are available: 3 Insufficient memory.", "asks for 2 CPU"}},
		{"an event of another pod of that name", []corev1.Pod{pod("tm-1", time.Hour)},
			[]corev1.Event{{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "tm-1", UID: "an-older-pod"}, Reason: "FailedScheduling", Message: "stale"}}, &four, Healthy, nil},
		{"no CPU in the spec", []corev1.Pod{pod("tm-1", time.Hour, unschedulableCond)}, nil, nil, Degraded, []string{"Insufficient memory."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := schedulingHealth(healthy, tc.pods, tc.events, tc.cpu, nodes, now)
			if h.Health != tc.want {
				t.Errorf("health %s, want %s (%q)", h.Health, tc.want, h.Message)
			}
			for _, s := range tc.says {
				if !strings.Contains(h.Message, s) {
					t.Errorf("message %q lacks %q", h.Message, s)
				}
			}
			if tc.cpu != nil && tc.cpu.Cmp(four) < 0 && strings.Contains(h.Message, "whole node") {
				t.Errorf("a TaskManager smaller than a node is not called too large: %q", h.Message)
			}
		})
	}
	// A health that is already Progressing stays so within the grace.
	p := AppHealth{Health: Progressing, Message: "lifecycle DEPLOYED"}
	if h := schedulingHealth(p, []corev1.Pod{pod("tm-1", time.Minute, unschedulableCond)}, nil, &four, nodes, now); h.Health != Progressing {
		t.Errorf("Progressing within the grace, got %s", h.Health)
	}
}

func TestTaskManagerCPU(t *testing.T) {
	for _, tc := range []struct {
		cpu  any
		want string
	}{{int64(2), "2"}, {0.5, "500m"}, {"1500m", "1500m"}, {"4", "4"}, {"lots", ""}, {nil, ""}} {
		spec := map[string]any{}
		if tc.cpu != nil {
			spec["taskManager"] = map[string]any{"resource": map[string]any{"cpu": tc.cpu}}
		}
		got := ""
		if q := taskManagerCPU(&unstructured.Unstructured{Object: map[string]any{"spec": spec}}); q != nil {
			got = q.String()
		}
		if got != tc.want {
			t.Errorf("cpu %v: %q, want %q", tc.cpu, got, tc.want)
		}
	}
}

// The Confluent field guide's case on the real API server: the JobManager
// runs, a TaskManager pod (FKO's labels app=<name>, component=taskmanager)
// stays Pending, and the scheduler says why in a FailedScheduling event.
// The health of the application quotes the event and sets the
// TaskManager's CPU against the nodes'; past PendingGrace it is Degraded.
// A Pending pod of another namespace is not read.
func TestPendingTaskManagerIsReported(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const env = "dev"
	ns := f.ns(env)
	mustOK(t, map[string]*Result{env: f.syncEnv(ctx, env, Options{})})
	u := f.fd(env, "orders-enrich")
	u.Object["status"] = map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"},
		"observedGeneration": u.GetGeneration()}
	if _, err := f.dyn.Resource(fdGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if h := healthByApp(f.syncEnv(ctx, env, Options{Mode: ModeObserve}))["orders-enrich"]; h.Health != Healthy {
		t.Fatalf("before the pending pod: %s %q", h.Health, h.Message)
	}

	podGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	eventGVR := schema.GroupVersionResource{Version: "v1", Resource: "events"}
	tm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "orders-enrich-taskmanager-1-1", "namespace": ns,
			"labels": map[string]any{"app": "orders-enrich", "component": "taskmanager", "type": "flink-native-kubernetes"}},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "flink-main-container", "image": "flink:1.20",
			"resources": map[string]any{"requests": map[string]any{"cpu": "4"}}}}},
	}}
	created, err := f.dyn.Resource(podGVR).Namespace(ns).Create(ctx, tm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const why = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata":       map[string]any{"name": "orders-enrich-taskmanager-1-1.17f0", "namespace": ns},
		"involvedObject": map[string]any{"kind": "Pod", "apiVersion": "v1", "name": created.GetName(), "namespace": ns, "uid": string(created.GetUID())},
		"reason":         "FailedScheduling", "message": why, "type": "Warning",
		"source":        map[string]any{"component": "default-scheduler"},
		"lastTimestamp": time.Now().UTC().Format(time.RFC3339), "count": int64(3),
	}}
	if _, err := f.dyn.Resource(eventGVR).Namespace(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same pod and event in another namespace: not flinksync's to read.
	other := f.ns("staging")
	tm.SetNamespace(other)
	tm.SetName("metrics-rollup-taskmanager-1-1")
	tm.SetLabels(map[string]string{"app": "metrics-rollup", "component": "taskmanager"})
	if _, err := f.dyn.Resource(podGVR).Namespace(other).Create(ctx, tm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	h := healthByApp(f.syncEnv(ctx, env, Options{Mode: ModeObserve}))["orders-enrich"]
	for _, s := range []string{"1 TaskManager pod(s) Pending", "FailedScheduling: " + why, "asks for", "spec.nodes.cpu"} {
		if !strings.Contains(h.Message, s) {
			t.Errorf("message %q lacks %q", h.Message, s)
		}
	}
	if h.Health != Progressing {
		t.Errorf("a pod Pending for less than PendingGrace: %s, want Progressing", h.Health)
	}
	t.Logf("health of orders-enrich: %s: %s", h.Health, h.Message)
	if m := healthByApp(f.syncEnv(ctx, env, Options{Mode: ModeObserve}))["metrics-rollup"].Message; strings.Contains(m, "Pending") {
		t.Errorf("metrics-rollup has no pending pod in %s: %q", ns, m)
	}

	f.syncer.Now = func() time.Time { return time.Now().Add(PendingGrace + time.Minute) }
	if h := healthByApp(f.syncEnv(ctx, env, Options{}))["orders-enrich"]; h.Health != Degraded || !strings.Contains(h.Message, "Insufficient cpu") {
		t.Errorf("past PendingGrace: %s %q, want Degraded", h.Health, h.Message)
	}
}

func healthByApp(r *Result) map[string]AppHealth {
	out := map[string]AppHealth{}
	for _, h := range r.Health {
		out[h.App] = h
	}
	return out
}
