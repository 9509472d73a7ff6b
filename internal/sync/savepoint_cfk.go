package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// cfkGroup is the API group of Confluent for Kubernetes' Flink kinds.
const cfkGroup = "platform.confluent.io"

// cfkSavepoint is savepoint for a CFK FlinkApplication, which has no
// snapshot kind: prune sets spec.job.savepointTriggerNonce (to the Unix
// time it asks at, so the nonce says when) and reads the outcome from the
// FKO-shaped status, as the operator records a manual savepoint:
//
//   - done: status.jobStatus.savepointInfo.lastSavepoint (or an entry of
//     savepointHistory) carries the nonce as triggerNonce, and its location;
//   - in progress: savepointInfo.triggerId is set;
//   - failed: the operator marked the nonce handled (the
//     spec.job.savepointTriggerNonce of status.reconciliationStatus.
//     lastReconciledSpec) with no trigger running and no savepoint of it.
//
// A savepoint of the live nonce is used whoever set it, if fresh; a pending
// or failed one only if prune set it (its field manager owns the field).
func (s *Syncer) cfkSavepoint(ctx context.Context, e Entry, live *unstructured.Unstructured, mode string, opts Options) (*Savepoint, string) {
	nonce, _, _ := unstructured.NestedInt64(live.Object, "spec", "job", "savepointTriggerNonce")
	sp := &Savepoint{ObjectID: e.ObjectID, Nonce: nonce}
	if nonce != 0 {
		if loc, at, ok := cfkSavepointOf(live, nonce); ok {
			sp.State, sp.Path = SnapshotCompleted, loc
			if !s.stale(at) {
				return sp, ""
			}
		} else if setByUs(live, "spec", "job", "savepointTriggerNonce") {
			triggered, _, _ := unstructured.NestedString(live.Object, "status", "jobStatus", "savepointInfo", "triggerId")
			switch {
			case triggered != "":
				sp.State = SnapshotInProgress
			case reconciledNonce(live) != nonce:
				sp.State = SnapshotPending
			default:
				sp.State = SnapshotFailed
				sp.Error = fmt.Sprintf("the operator handled savepointTriggerNonce %d and recorded no savepoint of it (see the FlinkApplication's SavepointError events)", nonce)
				if msg, _, _ := unstructured.NestedString(live.Object, "status", "error"); msg != "" {
					sp.Error += "; status.error: " + msg
				}
			}
			switch {
			case sp.State != SnapshotFailed:
				return sp, fmt.Sprintf("waiting for savepoint %s (state %s)", sp.Ref(), sp.State)
			case !s.stale(time.Unix(nonce, 0)):
				return sp, fmt.Sprintf("not pruned: savepoint %s %s (%s); the job keeps running. %s (prune triggers a new one by itself %s after it asked)", sp.Ref(), sp.State, sp.Error, sp.Retry(), SavepointFreshness)
			}
		}
	}
	return s.triggerCFKSavepoint(ctx, e, live, mode, nonce, opts, sp.State != "")
}

// triggerCFKSavepoint sets spec.job.savepointTriggerNonce of live to a new
// nonce: the Unix time now, or one more than the last when that is later. A
// JSON merge patch writes that field alone, as flinksync's field manager
// (an Update entry apart from its server-side apply one, so a later apply
// of the job does not remove it), and only on the version read.
func (s *Syncer) triggerCFKSavepoint(ctx context.Context, e Entry, live *unstructured.Unstructured, mode string, last int64, opts Options, again bool) (*Savepoint, string) {
	nonce := max(s.Now().Unix(), last+1)
	sp := &Savepoint{ObjectID: e.ObjectID, Nonce: nonce}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": live.GetResourceVersion()},
		"spec":     map[string]any{"job": map[string]any{"savepointTriggerNonce": nonce}},
	})
	po := metav1.PatchOptions{FieldManager: FieldManager}
	why := "as the job runs with upgradeMode " + mode
	if again {
		why += fmt.Sprintf(", and the last savepoint (savepointTriggerNonce %d) finished or was asked for more than %s ago", last, SavepointFreshness)
	}
	said := fmt.Sprintf("waiting for savepoint %s (state none yet): set it, %s", sp.Ref(), why)
	if opts.Mode != ModeApply {
		po.DryRun = []string{metav1.DryRunAll}
		said = fmt.Sprintf("would take savepoint %s first (%s), and delete the job once CFK records it", sp.Ref(), why)
	}
	m, err := s.mapper.RESTMapping(live.GroupVersionKind().GroupKind(), live.GroupVersionKind().Version)
	if err == nil {
		_, err = s.dyn.Resource(m.Resource).Namespace(live.GetNamespace()).Patch(ctx, live.GetName(), types.MergePatchType, patch, po)
	}
	if err != nil {
		return sp, fmt.Sprintf("not pruned: triggering savepoint %s failed: %v", sp.Ref(), err)
	}
	return sp, said
}

// cfkSavepointOf returns the location of the savepoint of live that the
// operator recorded for trigger nonce, and when it was triggered (the only
// time the status keeps).
func cfkSavepointOf(live *unstructured.Unstructured, nonce int64) (string, time.Time, bool) {
	info, _, _ := unstructured.NestedMap(live.Object, "status", "jobStatus", "savepointInfo")
	entries, _, _ := unstructured.NestedSlice(info, "savepointHistory")
	if last, ok := info["lastSavepoint"]; ok {
		entries = append([]any{last}, entries...)
	}
	for _, x := range entries {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		n, _, _ := unstructured.NestedInt64(m, "triggerNonce")
		loc, _, _ := unstructured.NestedString(m, "location")
		if n == nonce && loc != "" {
			ms, _, _ := unstructured.NestedInt64(m, "timeStamp")
			return loc, time.UnixMilli(ms), true
		}
	}
	return "", time.Time{}, false
}

// reconciledNonce is the savepointTriggerNonce of the spec the operator
// last reconciled (status.reconciliationStatus.lastReconciledSpec, a JSON
// document: FKO writes {"spec": …, "resource_metadata": …}), or 0.
func reconciledNonce(live *unstructured.Unstructured) int64 {
	raw, _, _ := unstructured.NestedString(live.Object, "status", "reconciliationStatus", "lastReconciledSpec")
	var doc struct {
		Spec struct {
			Job struct {
				SavepointTriggerNonce int64 `json:"savepointTriggerNonce"`
			} `json:"job"`
		} `json:"spec"`
	}
	if json.Unmarshal([]byte(raw), &doc) != nil {
		return 0
	}
	return doc.Spec.Job.SavepointTriggerNonce
}

// setByUs reports whether flinksync's own update (not its server-side
// apply, not another manager) last set the field at path of u, by u's
// managed fields.
func setByUs(u *unstructured.Unstructured, path ...string) bool {
	for _, mf := range u.GetManagedFields() {
		if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationUpdate || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil {
			continue
		}
		found := true
		for _, p := range path {
			next, ok := fields["f:"+p].(map[string]any)
			if !ok {
				found = false
				break
			}
			fields = next
		}
		if found {
			return true
		}
	}
	return false
}
