package sync

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/render"
)

// LabelSavepointOf names, on a FlinkStateSnapshot flinksync made, the job
// it was taken of before prune.
const LabelSavepointOf = "flinksync.dev/savepoint-of"

// SavepointOnDeletion is the FKO option (spec.flinkConfiguration) with which
// the operator itself takes a savepoint when the job's object is deleted.
const SavepointOnDeletion = "kubernetes.operator.job.savepoint-on-deletion"

var snapshotGK = schema.GroupKind{Group: "flink.apache.org", Kind: "FlinkStateSnapshot"}

// maxSnapshots bounds the FlinkStateSnapshots prune takes of one live job
// (one more each time the last is stale): two digits of suffix.
const maxSnapshots = 99

// snapshotName is the n-th FlinkStateSnapshot prune makes of live (n from
// 1): one series per live object (its UID), so every pass finds the same
// ones and a job recreated under the same name gets new ones. The first is
// <job>-prune-<uid>, later ones (each taken when the one before was stale)
// <job>-prune-<uid>-<n>.
func snapshotName(live *unstructured.Unstructured, n int) string {
	uid := strings.ReplaceAll(string(live.GetUID()), "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	name := live.GetName()
	if max := 253 - len("-prune-") - len(uid) - len("-99"); len(name) > max {
		name = strings.TrimRight(name[:max], "-.")
	}
	name += "-prune-" + uid
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

// onDeletion reports whether live has FKO take a savepoint itself when it
// is deleted (SavepointOnDeletion is true in its spec.flinkConfiguration).
func onDeletion(live *unstructured.Unstructured) bool {
	v, _, _ := unstructured.NestedString(live.Object, "spec", "flinkConfiguration", SavepointOnDeletion)
	return strings.EqualFold(strings.TrimSpace(v), "true")
}

// snapshotSavepoint is savepoint for a FKO job: a FlinkStateSnapshot of it,
// COMPLETED and fresh. The first pass creates it; later passes read it, and
// take the next one of the series when the last is stale. Where the cluster
// does not serve FlinkStateSnapshot, a job that has FKO take a savepoint on
// deletion may go (note says so); any other is kept.
func (s *Syncer) snapshotSavepoint(ctx context.Context, st *passState, e Entry, live *unstructured.Unstructured, mode string, opts Options) (*Savepoint, string, string) {
	m, err := s.mapper.RESTMapping(snapshotGK)
	if err != nil {
		s.mapper.Reset() // the CRD may have been installed since
		if m, err = s.mapper.RESTMapping(snapshotGK); err != nil {
			if onDeletion(live) {
				return nil, "", fmt.Sprintf("FKO takes a savepoint as it deletes the job (spec.flinkConfiguration %s: true); the cluster does not serve FlinkStateSnapshot, so flinksync cannot record its path: find it in the operator's log or under state.savepoints.dir", SavepointOnDeletion)
			}
			return nil, fmt.Sprintf("not pruned: the job runs with upgradeMode %s and the cluster does not serve FlinkStateSnapshot (FKO 1.10 or later) to take a savepoint first; take one and delete the %s by hand, suspend it in Git first, or set spec.flinkConfiguration %s: \"true\" so that FKO takes one as it deletes it", mode, live.GetKind(), SavepointOnDeletion), ""
		}
	}
	ri := s.dyn.Resource(m.Resource).Namespace(live.GetNamespace())
	for n := 1; n <= maxSnapshots; n++ {
		name := snapshotName(live, n)
		sp := &Savepoint{ObjectID: e.ObjectID, Snapshot: name}
		snap, err := ri.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return sp, s.takeSnapshot(ctx, ri, st, live, name, mode, n > 1, opts), ""
		case err != nil:
			return sp, fmt.Sprintf("not pruned: reading savepoint %s failed: %v", name, err), ""
		}
		ref, _, _ := unstructured.NestedString(snap.Object, "spec", "jobReference", "name")
		kind, _, _ := unstructured.NestedString(snap.Object, "spec", "jobReference", "kind")
		if of := snap.GetLabels()[LabelSavepointOf]; of != live.GetName() || ref != live.GetName() || kind != live.GetKind() || st.owner.why(withPart(snap, st.ns)) != "" {
			return sp, fmt.Sprintf("not pruned: FlinkStateSnapshot %s exists and is not the savepoint flinksync took of it; delete or rename it", name), ""
		}
		sp.State, _, _ = unstructured.NestedString(snap.Object, "status", "state")
		sp.Path, _, _ = unstructured.NestedString(snap.Object, "status", "path")
		sp.Error, _, _ = unstructured.NestedString(snap.Object, "status", "error")
		finished := sp.State == SnapshotCompleted || sp.Failed()
		if finished && s.stale(snapshotDone(snap)) {
			continue // taken for an earlier removal: take the next one
		}
		switch {
		case sp.State == SnapshotCompleted && sp.Path != "":
			return sp, "", ""
		case sp.Failed():
			return sp, fmt.Sprintf("not pruned: savepoint %s %s (%s); the job keeps running. Delete the FlinkStateSnapshot to try again (prune takes a new one by itself %s after the failure)", name, sp.State, orNone(sp.Error), SavepointFreshness), ""
		}
		return sp, fmt.Sprintf("waiting for savepoint %s (state %s)", name, orNone(sp.State)), ""
	}
	return nil, fmt.Sprintf("not pruned: %d savepoints of the job were taken and are all stale; delete the FlinkStateSnapshots %s…", maxSnapshots, snapshotName(live, 1)), ""
}

// takeSnapshot creates FlinkStateSnapshot name of live (a dry run unless
// opts apply) and says what the pass did; again is true when an earlier one
// was stale.
func (s *Syncer) takeSnapshot(ctx context.Context, ri dynamic.ResourceInterface, st *passState, live *unstructured.Unstructured, name, mode string, again bool, opts Options) string {
	create := metav1.CreateOptions{FieldManager: FieldManager}
	why := "as the job runs with upgradeMode " + mode
	if again {
		why += fmt.Sprintf(", and the last savepoint finished more than %s ago (for an earlier removal)", SavepointFreshness)
	}
	said := fmt.Sprintf("waiting for savepoint %s (state none yet): created it, %s", name, why)
	if opts.Mode != ModeApply {
		create.DryRun = []string{metav1.DryRunAll}
		said = fmt.Sprintf("would take savepoint %s first (%s), and delete the job once it is COMPLETED", name, why)
	}
	if _, err := ri.Create(ctx, newSnapshot(st, live, name), create); err != nil {
		return fmt.Sprintf("not pruned: creating savepoint %s failed: %v", name, err)
	}
	return said
}

// snapshotDone is when snap finished: the operator's status.resultTimestamp,
// or, without one, when prune created it. Zero when neither parses.
func snapshotDone(snap *unstructured.Unstructured) time.Time {
	at, _, _ := unstructured.NestedString(snap.Object, "status", "resultTimestamp")
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		return t
	}
	return snap.GetCreationTimestamp().Time
}

// newSnapshot is the FlinkStateSnapshot of a savepoint of live. It keeps
// the savepoint when the snapshot object is deleted (disposeOnDelete is
// false), and has no owner: deleting the job must not take it along.
func newSnapshot(st *passState, live *unstructured.Unstructured, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1",
		"kind":       snapshotGK.Kind,
		"metadata": map[string]any{
			"name":      name,
			"namespace": live.GetNamespace(),
		},
		"spec": map[string]any{
			"jobReference": map[string]any{"kind": live.GetKind(), "name": live.GetName()},
			"savepoint":    map[string]any{"disposeOnDelete": false},
		},
	}}
	u.SetLabels(map[string]string{
		render.LabelManagedBy:   render.ManagedByValue,
		render.LabelEnvironment: st.owner.env,
		LabelSavepointOf:        live.GetName(),
	})
	return u
}

// withPart is snap with the ApplySet mark owner.why asks for: a snapshot is
// not an ApplySet member (the inventory does not list it), so only its
// other labels say whose it is.
func withPart(snap *unstructured.Unstructured, ns string) *unstructured.Unstructured {
	c := snap.DeepCopy()
	l := c.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[LabelApplySetPart] = ApplySetID(ns)
	c.SetLabels(l)
	return c
}
