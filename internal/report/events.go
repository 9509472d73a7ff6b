package report

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/flinksync/flinksync/internal/sync"
)

// Event reasons flinksync records.
const (
	ReasonApplied       = "Applied"
	ReasonPruned        = "Pruned"
	ReasonDriftDetected = "DriftDetected"
	ReasonSyncFailed    = "SyncFailed"
	ReasonPolicyBlocked = "PolicyBlocked"
)

// Events records Kubernetes Events about each environment's pass on its
// inventory ConfigMap, where `kubectl describe` and event exporters see them.
type Events struct {
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
}

// NewEvents starts an event recorder that writes through cs.
func NewEvents(cs kubernetes.Interface) *Events {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	return &Events{broadcaster: b, recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "flinksync"})}
}

// Stop flushes and stops the recorder.
func (e *Events) Stop() { e.broadcaster.Shutdown() }

// Pass records the events of one environment's pass.
func (e *Events) Pass(r *sync.Result) {
	r = sync.Masked(r) // event messages quote errors and reasons
	ref := &corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: r.Namespace, Name: sync.InventoryName}
	if len(r.Blocked) > 0 {
		e.recorder.Event(ref, corev1.EventTypeWarning, ReasonPolicyBlocked,
			clip(fmt.Sprintf("environment %s not synced at %s: %s", r.Environment, short(r.Revision), strings.Join(r.Blocked, "; "))))
		return
	}
	var applied, pruned []string
	for _, c := range r.Changes {
		switch c.Action {
		case sync.Created, sync.Configured, sync.Replaced:
			applied = append(applied, c.ID())
		case sync.Pruned:
			if c.Message != "" { // the savepoint it was deleted after
				pruned = append(pruned, c.ID()+" "+c.Message)
				continue
			}
			pruned = append(pruned, c.ID())
		}
	}
	if len(applied) > 0 {
		e.recorder.Event(ref, corev1.EventTypeNormal, ReasonApplied,
			clip(fmt.Sprintf("applied %d object(s) at %s: %s", len(applied), short(r.Revision), strings.Join(applied, ", "))))
	}
	if len(pruned) > 0 {
		e.recorder.Event(ref, corev1.EventTypeNormal, ReasonPruned, clip(fmt.Sprintf("pruned %d object(s): %s", len(pruned), strings.Join(pruned, ", "))))
	}
	if len(r.Drift) > 0 {
		var fields []string
		for _, d := range r.Drift {
			fields = append(fields, fmt.Sprintf("%s/%s %s", d.Kind, d.Name, d.Field))
		}
		e.recorder.Event(ref, corev1.EventTypeWarning, ReasonDriftDetected, clip(fmt.Sprintf("%d drifted field(s): %s", len(fields), strings.Join(fields, ", "))))
	}
	upgradeEvents(e.recorder, ref, r) // upgrades.go
	if !r.OK() {
		msg := strings.Join(r.Errors, "; ")
		if msg == "" {
			msg = r.Summary()
		}
		e.recorder.Event(ref, corev1.EventTypeWarning, ReasonSyncFailed, clip(msg))
	}
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// clip keeps event messages under the API server's 1 KiB note limit.
func clip(s string) string {
	if len(s) > 1000 {
		return s[:997] + "..."
	}
	return s
}
