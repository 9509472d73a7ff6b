package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// healthKinds are the kinds whose status health reads: applications,
// SQL statements (CFK FlinkStatement; an FKO SQL runner is a
// FlinkDeployment) and CFK compute pools.
var healthKinds = map[string]bool{"FlinkDeployment": true, "FlinkApplication": true, "FlinkStatement": true, "FlinkComputePool": true}

// health reads each application's, statement's and pool's status as its
// operator wrote it, and, for an application, the TaskManager pods that
// wait to be scheduled (see schedulingHealth).
func (s *Syncer) health(ctx context.Context, st *passState, res *Result) {
	var waiting *unscheduled // read at most once a pass, when an application has a live object
	for _, p := range st.objects {
		if !healthKinds[p.obj.GetKind()] {
			continue
		}
		h := AppHealth{Health: Unknown, Message: "no status yet"}
		switch {
		case p.refused:
			h.Message = "the live object of that name is not flinksync's (see the conflict)"
		case p.live != nil:
			h = healthOf(p.live, p.obj)
			if appKinds[p.obj.GetKind()] && h.Health != Degraded {
				if waiting == nil {
					waiting = s.unscheduledTaskManagers(ctx, st.ns)
				}
				pods, events := waiting.of(p.live.GetName())
				h = schedulingHealth(h, pods, events, taskManagerCPU(p.obj), st.env.Spec.Nodes, s.Now())
			}
		}
		h.App, h.Kind = healthName(p.obj)
		res.Health = append(res.Health, h)
	}
}

// appKinds are the kinds that run a Flink cluster of their own, whose
// TaskManager pods FKO labels app=<name>, component=taskmanager (a CFK
// FlinkApplication through the FlinkDeployment CMF makes of the same name).
var appKinds = map[string]bool{"FlinkDeployment": true, "FlinkApplication": true}

// The kinds of AppHealth.Kind besides applications.
const (
	HealthStatement = "statement"
	HealthPool      = "pool"
)

// healthName is how health names an object: a statement by its own name
// (its objects' names carry a hash of its SQL), a pool as "pool/<name>"
// (pool names may equal app names), an application by its name.
func healthName(u *unstructured.Unstructured) (name, kind string) {
	switch l := u.GetLabels(); {
	case u.GetKind() == "FlinkComputePool":
		return HealthPool + "/" + u.GetName(), HealthPool
	case l[render.LabelSQLKind] != "" && l[render.LabelName] != "":
		return l[render.LabelName], HealthStatement
	case l[render.LabelSQLKind] != "":
		return u.GetName(), HealthStatement
	}
	return u.GetName(), ""
}

// HealthOf maps an object's status to a health, reading what is wanted
// from the object's own spec (see healthOf).
func HealthOf(u *unstructured.Unstructured) AppHealth { return healthOf(u, u) }

// healthOf maps live's status to a health; desired is the object as Git
// declares it, which says whether the job should be suspended. First of
// all, a status older than the object (status.observedGeneration below
// metadata.generation) says nothing of the spec now in force: the object
// is Progressing until its operator has seen it. Then a FlinkDeployment's
// or FlinkApplication's FKO status (see deploymentHealth), a CFK
// FlinkStatement's or FlinkComputePool's status.phase and cmfSync.status.
func healthOf(live, desired *unstructured.Unstructured) AppHealth {
	var h AppHealth
	switch live.GetKind() {
	case "FlinkStatement":
		h = statementHealth(live)
	case "FlinkComputePool":
		h = poolHealth(live)
	default:
		h = deploymentHealth(live, desired)
	}
	if gen, seen := live.GetGeneration(), observedGeneration(live); seen > 0 && seen < gen {
		return AppHealth{Health: Progressing, Message: fmt.Sprintf("the operator has not yet acted on generation %d (its status is of generation %d: %s)", gen, seen, h.Message)}
	}
	return h
}

// observedGeneration is status.observedGeneration, 0 when absent (an
// operator too old to write it: then the gate is off).
func observedGeneration(u *unstructured.Unstructured) int64 {
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return n
}

// deploymentHealth maps FKO's status of a FlinkDeployment (or CFK's copy
// of it on a FlinkApplication): lifecycleState, jobStatus.state,
// jobManagerDeploymentStatus, reconciliationStatus.state, the Running
// condition, status.error, and for CFK cmfSync.status.
//
//   - Degraded: CMF could not take the application (cmfSync Failed); an
//     upgrade failed and FKO rolled back or is rolling back to the last
//     stable spec; the job or the deployment failed (lifecycle FAILED, job
//     FAILED, JobManager ERROR, Running condition False for Failed or
//     Error). The message carries the operator's error.
//   - Healthy: suspended while Git says suspended; or deployed (STABLE or
//     DEPLOYED) with the JobManager ready and the job running or finished
//     (a session cluster has no job).
//   - Unknown: no status at all. Anything else is Progressing.
func deploymentHealth(live, desired *unstructured.Unstructured) AppHealth {
	str := statusOf(live)
	lifecycle, job, jm := str("lifecycleState"), str("jobStatus", "state"), str("jobManagerDeploymentStatus")
	reconciliation, cmf := str("reconciliationStatus", "state"), str("cmfSync", "status")
	running := runningCondition(live)
	msg := fmt.Sprintf("lifecycle %s, job %s, jobManager %s", orDash(lifecycle), orDash(job), orDash(jm))
	if cmf != "" {
		msg += ", cmfSync " + cmf
	}
	errText := operatorError(live)
	if errText == "" && running.status == "FALSE" {
		errText = running.message
	}
	withError := func() string {
		if errText == "" {
			return msg
		}
		return msg + ": " + errText
	}
	wantSuspended := strings.EqualFold(jobState(desired), "suspended")
	switch {
	case cmf == "FAILED" || cmf == "ERROR":
		m, _, _ := unstructured.NestedString(live.Object, "status", "cmfSync", "errorMessage")
		return AppHealth{Health: Degraded, Message: strings.TrimSuffix(msg+": CMF could not take it: "+m, ": ")}
	case lifecycle == "ROLLED_BACK" || lifecycle == "ROLLING_BACK" || reconciliation == "ROLLED_BACK" || reconciliation == "ROLLING_BACK":
		m := msg + ": the upgrade failed and FKO rolled back to the last stable spec"
		if errText != "" {
			m += ": " + errText
		}
		return AppHealth{Health: Degraded, Message: m}
	case lifecycle == "FAILED" || job == "FAILED" || jm == "ERROR" || (running.status == "FALSE" && (running.reason == "FAILED" || running.reason == "ERROR")):
		return AppHealth{Health: Degraded, Message: withError()}
	case lifecycle == "" && job == "" && jm == "" && cmf == "":
		return AppHealth{Health: Unknown, Message: "no status yet: is the operator running?"}
	case lifecycle == "SUSPENDED" && wantSuspended:
		return AppHealth{Health: Healthy, Message: msg + ": suspended, as Git says"}
	case wantSuspended:
		return AppHealth{Health: Progressing, Message: msg + ": Git says suspended; the operator is suspending it"}
	case lifecycle == "SUSPENDED":
		return AppHealth{Health: Progressing, Message: msg + ": suspended, and Git says running (resuming?)"}
	case (lifecycle == "STABLE" || lifecycle == "DEPLOYED") && (jm == "READY" || jm == "") &&
		(job == "RUNNING" || job == "FINISHED" || job == ""):
		return AppHealth{Health: Healthy, Message: msg}
	}
	return AppHealth{Health: Progressing, Message: withError()}
}

// jobState is spec.job.state ("running" or "suspended"; "" for a session
// cluster).
func jobState(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "spec", "job", "state")
	return s
}

// condition is one of status.conditions, upper-cased where it is an enum.
type condition struct{ status, reason, message string }

// runningCondition is FKO's one condition, type Running (FKO's
// ConditionUtils): status True or False, reason the job's state in camel
// case (Running, Failed, ...) or, without a job, the JobManager's
// (JobManagerReady, Error, ...), and a message. A condition stamped with
// an older generation than the object's is left out.
func runningCondition(u *unstructured.Unstructured) condition {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, item := range list {
		c, ok := item.(map[string]any)
		if !ok || c["type"] != "Running" {
			continue
		}
		if gen, _, _ := unstructured.NestedInt64(c, "observedGeneration"); gen > 0 && gen < u.GetGeneration() {
			return condition{}
		}
		text := func(k string) string { v, _ := c[k].(string); return v }
		return condition{status: strings.ToUpper(text("status")), reason: strings.ToUpper(text("reason")), message: text("message")}
	}
	return condition{}
}

// operatorError is status.error: FKO writes a JSON FlinkResourceException
// ({"type": ..., "message": ..., "throwableList": [...]}), whose message is
// what a person needs; anything else is quoted as it is.
func operatorError(u *unstructured.Unstructured) string {
	raw, _, _ := unstructured.NestedString(u.Object, "status", "error")
	raw = strings.TrimSpace(raw)
	var e struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if strings.HasPrefix(raw, "{") && json.Unmarshal([]byte(raw), &e) == nil && e.Message != "" {
		return e.Message
	}
	return raw
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// statusOf reads string fields under status, upper-cased.
func statusOf(u *unstructured.Unstructured) func(path ...string) string {
	return func(path ...string) string {
		v, _, _ := unstructured.NestedString(u.Object, append([]string{"status"}, path...)...)
		return strings.ToUpper(v)
	}
}

// cmfHealth is what a CFK SQL object's phase and cmfSync say in common:
// Degraded when CFK could not sync it to CMF or its phase is FAILED or
// FAILING, Unknown without status, and the message either way. ok is false
// when the phase alone decides.
func cmfHealth(u *unstructured.Unstructured, detail string) (h AppHealth, phase string, ok bool) {
	str := statusOf(u)
	phase, cmf := str("phase"), str("cmfSync", "status")
	msg := "phase " + orDash(phase)
	if cmf != "" {
		msg += ", cmfSync " + cmf
	}
	text, _, _ := unstructured.NestedString(u.Object, "status", detail)
	switch {
	case cmf == "FAILED":
		m, _, _ := unstructured.NestedString(u.Object, "status", "cmfSync", "errorMessage")
		return AppHealth{Health: Degraded, Message: strings.TrimSpace(msg + ": " + m)}, phase, true
	case phase == "FAILED" || phase == "FAILING":
		if text != "" {
			msg += ": " + text
		}
		return AppHealth{Health: Degraded, Message: msg}, phase, true
	case phase == "" && cmf == "":
		return AppHealth{Health: Unknown, Message: "no status yet: is Confluent for Kubernetes running?"}, phase, true
	}
	return AppHealth{Message: msg}, phase, false
}

// statementHealth maps a FlinkStatement's status (CMF's statement phases:
// PENDING, RUNNING, COMPLETED, DELETING, FAILING, FAILED, STOPPED).
// A statement stopped on purpose (spec.stopped) is healthy; so is a
// completed DDL statement, or a completed DML statement unless CMF says it
// was unbounded (a streaming job that ended).
func statementHealth(u *unstructured.Unstructured) AppHealth {
	h, phase, done := cmfHealth(u, "detail")
	if done {
		return h
	}
	stopped, _, _ := unstructured.NestedBool(u.Object, "spec", "stopped")
	bounded, known, _ := unstructured.NestedBool(u.Object, "status", "traits", "isBounded")
	ddl := u.GetLabels()[render.LabelSQLKind] == string(model.SQLDDL)
	switch {
	case phase == "STOPPED" && stopped:
		h.Health = Healthy
	case phase == "STOPPED":
		h.Health, h.Message = Progressing, h.Message+": stopped, and spec.stopped is false (resuming?)"
	case phase == "RUNNING" && stopped:
		h.Health, h.Message = Progressing, h.Message+": stopping"
	case phase == "RUNNING":
		h.Health = Healthy
	case phase == "COMPLETED" && !ddl && known && !bounded:
		h.Health, h.Message = Degraded, h.Message+": a streaming statement completed and no longer runs"
	case phase == "COMPLETED":
		h.Health = Healthy
	default: // PENDING, DELETING
		h.Health = Progressing
	}
	return h
}

// poolHealth maps a FlinkComputePool's status (CMF's pool phases:
// DEDICATED, PENDING, RUNNING, DELETING, FAILING, FAILED, SUSPENDED). A
// dedicated pool is a template for its statements' clusters: its phase is
// DEDICATED. A SUSPENDED shared pool is healthy when spec.state says so.
func poolHealth(u *unstructured.Unstructured) AppHealth {
	h, phase, done := cmfHealth(u, "message")
	if done {
		return h
	}
	state, _, _ := unstructured.NestedString(u.Object, "spec", "state")
	switch {
	case phase == "RUNNING" || phase == "DEDICATED":
		h.Health = Healthy
	case phase == "SUSPENDED" && strings.EqualFold(state, "SUSPENDED"):
		h.Health = Healthy
	default: // PENDING, DELETING, SUSPENDED while meant to run
		h.Health = Progressing
	}
	return h
}

// PendingGrace is how long a TaskManager pod may wait to be scheduled
// before its application is Degraded rather than Progressing: Flink's
// slot.request.timeout default (300 s), after which the job's requests
// for slots fail and it restarts anyway. A cluster autoscaler adds a node
// well within it.
const PendingGrace = 5 * time.Minute

// Where the scheduler says a pod does not fit: the pod's PodScheduled
// condition (False, reason Unschedulable) and its FailedScheduling events.
const (
	reasonFailedScheduling = "FailedScheduling"
	labelFKOApp            = "app"
	labelFKOComponent      = "component"
	componentTaskManager   = "taskmanager"
)

var (
	podGVR   = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	eventGVR = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

// unscheduled are the TaskManager pods of one namespace that wait to be
// scheduled, and the scheduler's events about them.
type unscheduled struct {
	pods   []corev1.Pod
	events []corev1.Event
}

// unscheduledTaskManagers lists the Pending TaskManager pods of namespace
// ns (one request, by FKO's labels; the chart grants get/list/watch on
// pods in the managed namespaces only) and, when there are any, the
// FailedScheduling events there (a second request). A read that fails, for
// instance for want of that RBAC, leaves health as the operator reports it.
func (s *Syncer) unscheduledTaskManagers(ctx context.Context, ns string) *unscheduled {
	u := &unscheduled{}
	pods, err := s.dyn.Resource(podGVR).Namespace(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labelFKOComponent + "=" + componentTaskManager,
		FieldSelector: "status.phase=" + string(corev1.PodPending),
	})
	if err != nil || len(pods.Items) == 0 {
		return u
	}
	for i := range pods.Items {
		var p corev1.Pod
		if runtime.DefaultUnstructuredConverter.FromUnstructured(pods.Items[i].Object, &p) == nil {
			u.pods = append(u.pods, p)
		}
	}
	events, err := s.dyn.Resource(eventGVR).Namespace(ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Pod,reason=" + reasonFailedScheduling,
	})
	if err != nil {
		return u
	}
	for i := range events.Items {
		var e corev1.Event
		if runtime.DefaultUnstructuredConverter.FromUnstructured(events.Items[i].Object, &e) == nil {
			u.events = append(u.events, e)
		}
	}
	return u
}

// of picks the pods of application app and their events.
func (u *unscheduled) of(app string) (pods []corev1.Pod, events []corev1.Event) {
	names := map[string]bool{}
	for _, p := range u.pods {
		if p.Labels[labelFKOApp] == app {
			pods = append(pods, p)
			names[p.Name] = true
		}
	}
	for _, e := range u.events {
		if names[e.InvolvedObject.Name] {
			events = append(events, e)
		}
	}
	return pods, events
}

// schedulingHealth adds to an application's health what its Pending
// TaskManager pods say: a pod the scheduler could not place (PodScheduled
// False, or a FailedScheduling event) makes the application Progressing,
// and Degraded once the oldest such pod waited PendingGrace. The message
// quotes the scheduler (e.g. "FailedScheduling: 0/3 nodes are available: 3
// Insufficient cpu.") and sets the TaskManager's CPU (tmCPU, the pool's
// spec.taskManager.resource.cpu as rendered) against the CPU of the
// environment's nodes (spec.nodes.cpu). A pod already scheduled (pulling
// its image) is not counted.
func schedulingHealth(h AppHealth, pods []corev1.Pod, events []corev1.Event, tmCPU *resource.Quantity, nodes model.Nodes, now time.Time) AppHealth {
	var oldest time.Time
	var why string
	n := 0
	for _, p := range pods {
		reason := unschedulable(p, events)
		if reason == "" {
			continue
		}
		n++
		if t := p.CreationTimestamp.Time; why == "" || t.Before(oldest) {
			oldest, why = t, reason
		}
	}
	if n == 0 {
		return h
	}
	waited := now.Sub(oldest).Truncate(time.Second)
	msg := fmt.Sprintf("%s; %d TaskManager pod(s) Pending, not scheduled for %s: %s", h.Message, n, waited, why)
	if tmCPU != nil && nodes.CPU.Set {
		msg += fmt.Sprintf(" (each TaskManager asks for %s CPU, spec.taskManager.resource.cpu of its pool; the environment's nodes have %s CPU each, spec.nodes.cpu",
			tmCPU.String(), nodes.CPU.String())
		if tmCPU.Cmp(nodes.CPU.Quantity) >= 0 {
			msg += ": a TaskManager needs a whole node or more, and no node has all its CPU free for pods; lower the pool's taskManager.cpu or use larger nodes"
		}
		msg += ")"
	}
	h.Message = msg
	if waited >= PendingGrace {
		h.Health = Degraded
	} else if h.Health == Healthy {
		h.Health = Progressing
	}
	return h
}

// unschedulable is why the scheduler did not place pod p: its latest
// FailedScheduling event, else its PodScheduled condition when False; ""
// when p is scheduled or the scheduler has not said.
func unschedulable(p corev1.Pod, events []corev1.Event) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			return ""
		}
	}
	var latest *corev1.Event
	for i, e := range events {
		if e.InvolvedObject.Name != p.Name || e.Reason != reasonFailedScheduling || (e.InvolvedObject.UID != "" && e.InvolvedObject.UID != p.UID) {
			continue
		}
		if latest == nil || eventTime(e).After(eventTime(*latest)) {
			latest = &events[i]
		}
	}
	if latest != nil {
		return reasonFailedScheduling + ": " + strings.TrimSpace(latest.Message)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return reasonFailedScheduling + " (" + c.Reason + "): " + strings.TrimSpace(c.Message)
		}
	}
	return ""
}

// eventTime is when an event last happened, whichever API wrote it.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// taskManagerCPU is spec.taskManager.resource.cpu of a rendered
// FlinkDeployment (a number) or FlinkApplication (a number or a quantity),
// nil when it is not set.
func taskManagerCPU(u *unstructured.Unstructured) *resource.Quantity {
	v, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "taskManager", "resource", "cpu")
	if !found {
		return nil
	}
	var q resource.Quantity
	var err error
	switch v := v.(type) {
	case string:
		q, err = resource.ParseQuantity(v)
	case int64:
		q = *resource.NewQuantity(v, resource.DecimalSI)
	case float64:
		q = *resource.NewMilliQuantity(int64(v*1000+0.5), resource.DecimalSI)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return &q
}
