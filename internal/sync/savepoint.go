package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// Savepoint is the savepoint prune takes of a running stateful job before
// it deletes it, the operator's own way: a FKO FlinkStateSnapshot of a
// FlinkDeployment or FlinkSessionJob (savepoint_snapshot.go), the
// spec.job.savepointTriggerNonce of a CFK FlinkApplication
// (savepoint_cfk.go), or a CMF Savepoint of a CMF application (cmfsync;
// its Group is cmf.confluent.io, its Namespace the CMF environment, its
// Snapshot the Savepoint's name).
type Savepoint struct {
	ObjectID        // the job
	Snapshot string `json:"snapshot,omitempty"` // the FlinkStateSnapshot's name (FKO), the Savepoint's (CMF)
	// Nonce is the spec.job.savepointTriggerNonce prune set to trigger the
	// savepoint (CFK), or 0.
	Nonce int64 `json:"triggerNonce,omitempty"`
	// State is the snapshot's status.state: TRIGGER_PENDING, IN_PROGRESS,
	// COMPLETED, FAILED or ABANDONED ("" until the operator saw it). A CFK
	// savepoint is given the same states from the application's status.
	State string `json:"state"`
	// Path is where the savepoint is (once COMPLETED): restore the job from
	// it with spec.job.initialSavepointPath.
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// Failed reports whether the operator gave up on the savepoint: prune keeps
// the job, and it is an alert.
func (sp Savepoint) Failed() bool { return sp.State == SnapshotFailed || sp.State == SnapshotAbandoned }

// Ref says which savepoint sp is: the FlinkStateSnapshot, or the trigger
// nonce of a CFK one.
func (sp Savepoint) Ref() string {
	if sp.Snapshot != "" {
		return sp.Snapshot
	}
	return fmt.Sprintf("savepointTriggerNonce %d", sp.Nonce)
}

// Retry says how to take a new savepoint after a failed one, before prune
// takes one by itself once the failure is older than SavepointFreshness.
// On CMF (cmfsync) the savepoint is CMF's Savepoint resource of the
// application, under the name prune gave it: deleted, the next pass finds
// none under that name and asks CMF for a new one.
func (sp Savepoint) Retry() string {
	if sp.Group == render.CMFGroupVersion.Group {
		return fmt.Sprintf("delete savepoint %s of application %s in CMF environment %s to take a new savepoint", sp.Snapshot, sp.ObjectID.Name, sp.Namespace)
	}
	if sp.Snapshot != "" {
		return "delete FlinkStateSnapshot " + sp.Snapshot + " to take a new savepoint"
	}
	return "change or remove spec.job.savepointTriggerNonce of " + sp.ObjectID.Kind + " " + sp.ObjectID.Name + " to take a new savepoint"
}

// The FlinkStateSnapshot states prune acts on.
const (
	SnapshotCompleted  = "COMPLETED"
	SnapshotFailed     = "FAILED"
	SnapshotAbandoned  = "ABANDONED"
	SnapshotInProgress = "IN_PROGRESS"
	SnapshotPending    = "TRIGGER_PENDING"
)

// SavepointFreshness is how long a finished savepoint speaks for a prune.
// A savepoint prune asked for is used by the next pass (minutes later), so
// one that finished longer ago than this was taken for an earlier removal
// of the job (it was added back to Git before the delete, and removed again
// later): its state is old, so prune takes a new one. A failure older than
// this is retried the same way. An hour is many passes at the daemon's
// interval, and short enough that a re-added job is not deleted after a
// savepoint of the morning.
const SavepointFreshness = time.Hour

// needsSavepoint reports the upgrade mode of live when deleting it would
// throw running state away: a FKO FlinkDeployment or FlinkSessionJob, or a
// CFK FlinkApplication, whose spec.job.upgradeMode is savepoint or
// last-state, not suspended, whose job the operator reports RUNNING. A
// stateless, suspended or not running job has no state a savepoint could
// keep.
func needsSavepoint(live *unstructured.Unstructured) (string, bool) {
	if !savepointKinds[live.GroupVersionKind().GroupKind().String()] {
		return "", false
	}
	mode, _, _ := unstructured.NestedString(live.Object, "spec", "job", "upgradeMode")
	desired, _, _ := unstructured.NestedString(live.Object, "spec", "job", "state")
	running, _, _ := unstructured.NestedString(live.Object, "status", "jobStatus", "state")
	stateful := mode == "savepoint" || mode == "last-state"
	return mode, stateful && desired != "suspended" && strings.EqualFold(running, "RUNNING")
}

// savepointKinds are the job kinds prune takes a savepoint of (GroupKind
// strings).
var savepointKinds = map[string]bool{
	"FlinkDeployment.flink.apache.org":       true,
	"FlinkSessionJob.flink.apache.org":       true,
	"FlinkApplication.platform.confluent.io": true,
}

// savepoint decides whether prune may delete live, a running stateful job:
// only once a savepoint of it is COMPLETED (or FKO takes one itself as the
// job is deleted). The first pass asks the operator for one; later passes
// read how it went. It returns the savepoint (nil when none applies); when
// the job must stay, why; and when it may go, what the pruned line says.
func (s *Syncer) savepoint(ctx context.Context, st *passState, e Entry, live *unstructured.Unstructured, opts Options) (sp *Savepoint, why, note string) {
	mode, need := needsSavepoint(live)
	if !need {
		return nil, "", ""
	}
	if live.GroupVersionKind().Group == cfkGroup {
		sp, why = s.cfkSavepoint(ctx, e, live, mode, opts)
	} else {
		sp, why, note = s.snapshotSavepoint(ctx, st, e, live, mode, opts)
	}
	if sp != nil && why == "" {
		note = restoreHint(sp)
		if sp.Snapshot != "" && onDeletion(live) {
			note += fmt.Sprintf("; FKO takes one more as it deletes the job (%s)", SavepointOnDeletion)
		}
	}
	return sp, why, note
}

// stale reports whether a savepoint that finished at done no longer speaks
// for this prune (see SavepointFreshness).
func (s *Syncer) stale(done time.Time) bool {
	return !done.IsZero() && s.Now().Sub(done) > SavepointFreshness
}

// restoreHint is what prune says of a job it deleted after a savepoint.
func restoreHint(sp *Savepoint) string {
	return fmt.Sprintf("after savepoint %s: %s (restore with spec.job.initialSavepointPath: %s)", sp.Ref(), sp.Path, sp.Path)
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}
