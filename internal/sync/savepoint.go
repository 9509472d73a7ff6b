package sync

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/render"
)

// Savepoint is the savepoint prune takes of a running stateful
// FlinkDeployment before it deletes it: a FKO FlinkStateSnapshot, which the
// operator triggers and whose status it writes.
type Savepoint struct {
	ObjectID        // the FlinkDeployment
	Snapshot string `json:"snapshot"` // the FlinkStateSnapshot's name
	// State is the snapshot's status.state: TRIGGER_PENDING, IN_PROGRESS,
	// COMPLETED, FAILED or ABANDONED ("" until the operator saw it).
	State string `json:"state"`
	// Path is where the savepoint is (status.path, once COMPLETED): restore
	// the job from it with spec.job.initialSavepointPath.
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// Failed reports whether the operator gave up on the savepoint: prune keeps
// the job, and it is an alert.
func (sp Savepoint) Failed() bool { return sp.State == SnapshotFailed || sp.State == SnapshotAbandoned }

// The FlinkStateSnapshot states prune acts on.
const (
	SnapshotCompleted = "COMPLETED"
	SnapshotFailed    = "FAILED"
	SnapshotAbandoned = "ABANDONED"
)

// LabelSavepointOf names, on a FlinkStateSnapshot flinksync made, the
// FlinkDeployment it was taken of before prune.
const LabelSavepointOf = "flinksync.dev/savepoint-of"

var snapshotGK = schema.GroupKind{Group: "flink.apache.org", Kind: "FlinkStateSnapshot"}

// needsSavepoint reports the upgrade mode of live when deleting it would
// throw running state away: a FKO FlinkDeployment whose spec.job.upgradeMode
// is savepoint or last-state, not suspended, whose job the operator reports
// RUNNING. A stateless, suspended or not running job has no state a
// savepoint could keep.
func needsSavepoint(live *unstructured.Unstructured) (string, bool) {
	if live.GetKind() != "FlinkDeployment" || live.GroupVersionKind().Group != snapshotGK.Group {
		return "", false
	}
	mode, _, _ := unstructured.NestedString(live.Object, "spec", "job", "upgradeMode")
	desired, _, _ := unstructured.NestedString(live.Object, "spec", "job", "state")
	running, _, _ := unstructured.NestedString(live.Object, "status", "jobStatus", "state")
	stateful := mode == "savepoint" || mode == "last-state"
	return mode, stateful && desired != "suspended" && strings.EqualFold(running, "RUNNING")
}

// snapshotName is the FlinkStateSnapshot prune makes of live: one per live
// object (its UID), so every pass finds the same one, and a job recreated
// under the same name gets a new one.
func snapshotName(live *unstructured.Unstructured) string {
	uid := strings.ReplaceAll(string(live.GetUID()), "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	name := live.GetName()
	if max := 253 - len("-prune-") - len(uid); len(name) > max {
		name = strings.TrimRight(name[:max], "-.")
	}
	return name + "-prune-" + uid
}

// savepoint decides whether prune may delete live, a running stateful job:
// only once a savepoint of it is COMPLETED. The first pass creates the
// FlinkStateSnapshot; later passes read it. It returns the savepoint (nil
// when none applies) and, when the job must stay, why.
func (s *Syncer) savepoint(ctx context.Context, st *passState, e Entry, live *unstructured.Unstructured, opts Options) (*Savepoint, string) {
	mode, need := needsSavepoint(live)
	if !need {
		return nil, ""
	}
	name := snapshotName(live)
	sp := &Savepoint{ObjectID: e.ObjectID, Snapshot: name}
	m, err := s.mapper.RESTMapping(snapshotGK)
	if err != nil {
		s.mapper.Reset() // the CRD may have been installed since
		if m, err = s.mapper.RESTMapping(snapshotGK); err != nil {
			return nil, fmt.Sprintf("not pruned: the job runs with upgradeMode %s and the cluster does not serve FlinkStateSnapshot (FKO 1.10 or later) to take a savepoint first; take one and delete the FlinkDeployment by hand, or suspend it in Git first", mode)
		}
	}
	ri := s.dyn.Resource(m.Resource).Namespace(live.GetNamespace())
	snap, err := ri.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		create := metav1.CreateOptions{FieldManager: FieldManager}
		said := fmt.Sprintf("waiting for savepoint %s (state none yet): created it, as the job runs with upgradeMode %s", name, mode)
		if opts.Mode != ModeApply {
			create.DryRun = []string{metav1.DryRunAll}
			said = fmt.Sprintf("would take savepoint %s first (upgradeMode %s), and delete the job once it is COMPLETED", name, mode)
		}
		if _, err := ri.Create(ctx, newSnapshot(st, live, name), create); err != nil {
			return sp, fmt.Sprintf("not pruned: creating savepoint %s failed: %v", name, err)
		}
		return sp, said
	case err != nil:
		return sp, fmt.Sprintf("not pruned: reading savepoint %s failed: %v", name, err)
	}
	ref, _, _ := unstructured.NestedString(snap.Object, "spec", "jobReference", "name")
	if of := snap.GetLabels()[LabelSavepointOf]; of != live.GetName() || ref != live.GetName() || st.owner.why(withPart(snap, st.ns)) != "" {
		return sp, fmt.Sprintf("not pruned: FlinkStateSnapshot %s exists and is not the savepoint flinksync took of it; delete or rename it", name)
	}
	sp.State, _, _ = unstructured.NestedString(snap.Object, "status", "state")
	sp.Path, _, _ = unstructured.NestedString(snap.Object, "status", "path")
	sp.Error, _, _ = unstructured.NestedString(snap.Object, "status", "error")
	switch {
	case sp.State == SnapshotCompleted && sp.Path != "":
		return sp, ""
	case sp.Failed():
		return sp, fmt.Sprintf("not pruned: savepoint %s %s (%s); the job keeps running. Delete the FlinkStateSnapshot to try again", name, sp.State, orNone(sp.Error))
	}
	return sp, fmt.Sprintf("waiting for savepoint %s (state %s)", name, orNone(sp.State))
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
			"jobReference": map[string]any{"kind": "FlinkDeployment", "name": live.GetName()},
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

// restoreHint is what prune says of a job it deleted after a savepoint.
func restoreHint(sp *Savepoint) string {
	return fmt.Sprintf("after savepoint %s: %s (restore with spec.job.initialSavepointPath: %s)", sp.Snapshot, sp.Path, sp.Path)
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}
