package cmfsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// Savepoint before prune, on CMF (docs/state.md): CMF 2.3.1 takes a
// savepoint of an application when asked (POST
// /environments/{env}/applications/{app}/savepoints, a Savepoint whose
// status.state the operator moves to COMPLETED with a path, or FAILED).
// Prune asks for one of a running stateful application, and deletes the
// application only once it is COMPLETED, over as many passes as it takes
// (the daemon does not wait). Before the delete it detaches the savepoint
// (POST …/savepoints/{name}/detach): a detached savepoint is CMF's own
// resource (/detached-savepoints), independent of the application, which
// a new application can start from (startFromSavepointUid) and which the
// application's delete does not take along. A statement is not given one:
// CMF starts a statement from a savepoint only on an update of that same
// statement (StatementStartFromSavepoint), so a pruned or replaced
// statement's state cannot be carried over, and the state guard judges it
// (STATE-001).

// LabelSavepointOf names, on a savepoint flinksync took, the application.
const LabelSavepointOf = sync.LabelSavepointOf

// maxSavepoints bounds the savepoints prune takes of one live application
// (one more each time the last is stale): two digits of suffix.
const maxSavepoints = 99

// needsSavepoint reports the upgrade mode of an application when deleting
// it would throw running state away: upgradeMode savepoint or last-state,
// not suspended, its job RUNNING as CMF reports it.
func needsSavepoint(live cmf.Object) (string, bool) {
	mode, _, _ := unstructured.NestedString(live, "spec", "job", "upgradeMode")
	desired, _, _ := unstructured.NestedString(live, "spec", "job", "state")
	running, _, _ := unstructured.NestedString(live, "status", "jobStatus", "state")
	stateful := mode == "savepoint" || mode == "last-state"
	return mode, stateful && desired != "suspended" && strings.EqualFold(running, "RUNNING")
}

// savepointName is the n-th savepoint prune takes of the application (n
// from 1): one series per application as CMF holds it (its uid, else when
// it was created), so that every pass finds the same ones, one recreated
// under the same name gets new ones, and names stay apart once detached
// (detached savepoints share one namespace across environments).
func savepointName(env, app string, live cmf.Object, n int) string {
	meta, _ := live["metadata"].(map[string]any)
	id, _ := meta["uid"].(string)
	if id == "" {
		id, _ = meta["creationTimestamp"].(string)
	}
	sum := sha256.Sum256([]byte(env + "/" + app + "/" + id))
	name := app
	if max := 253 - len("-prune-") - 8 - len("-99"); len(name) > max {
		name = strings.TrimRight(name[:max], "-.")
	}
	name += "-prune-" + hex.EncodeToString(sum[:4])
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	return name
}

// savepoint decides whether prune may delete st, an application: only once
// a fresh savepoint of it is COMPLETED (and detached), when it runs with
// state. It returns the savepoint (nil when none applies); when the
// application must stay, why; and when it may go, what the pruned line
// says. Only an applying pass creates or detaches anything.
func (s *Syncer) savepoint(ctx context.Context, env string, st stale, mode sync.Mode) (*sync.Savepoint, string, string) {
	upgradeMode, need := needsSavepoint(st.live)
	if st.ref.Kind != cmf.KindApplication || !need {
		return nil, "", ""
	}
	app := st.ref.Name
	for n := 1; n <= maxSavepoints; n++ {
		name := savepointName(env, app, st.live, n)
		ref := cmf.Ref{Kind: cmf.KindSavepoint, Environment: env, Application: app, Name: name}
		sp := &sync.Savepoint{ObjectID: idOf(st.ref), Snapshot: name}
		obj, err := s.Client.Get(ctx, ref)
		switch {
		case errors.Is(err, cmf.ErrNotFound):
			return sp, s.takeSavepoint(ctx, ref, upgradeMode, n > 1, mode), ""
		case err != nil:
			return sp, fmt.Sprintf("not pruned: reading savepoint %s failed: %v", name, err), ""
		}
		l := labelsOf(obj)
		if l[LabelSavepointOf] != app || l[render.LabelManagedBy] != render.ManagedByValue || l[render.LabelEnvironment] != env {
			return sp, fmt.Sprintf("not pruned: savepoint %s of application %s exists and is not the savepoint flinksync took of it; delete or rename it", name, app), ""
		}
		sp.State, _, _ = unstructured.NestedString(obj, "status", "state")
		sp.Path, _, _ = unstructured.NestedString(obj, "status", "path")
		sp.Error, _, _ = unstructured.NestedString(obj, "status", "error")
		finished := sp.State == sync.SnapshotCompleted || sp.Failed()
		if finished && s.staleSavepoint(obj) {
			continue // taken for an earlier removal: take the next one
		}
		switch {
		case sp.State == sync.SnapshotCompleted && sp.Path != "":
			if mode == sync.ModeApply {
				if _, err := s.Client.Detach(ctx, ref); err != nil {
					return sp, fmt.Sprintf("not pruned: detaching savepoint %s from the application, so that deleting it keeps the savepoint, failed: %v", name, err), ""
				}
			}
			return sp, "", fmt.Sprintf("after savepoint %s: %s (kept in CMF as detached savepoint %s; restore with spec.job.initialSavepointPath: %s)", name, sp.Path, name, sp.Path)
		case sp.Failed():
			return sp, fmt.Sprintf("not pruned: savepoint %s %s (%s); the job keeps running. %s (prune takes a new one by itself %s after the failure)",
				name, sp.State, orNone(sp.Error), sp.Retry(), sync.SavepointFreshness), ""
		}
		return sp, fmt.Sprintf("waiting for savepoint %s (state %s)", name, orNone(sp.State)), ""
	}
	return nil, fmt.Sprintf("not pruned: %d savepoints of application %s were taken and are all stale; delete its savepoints %s…", maxSavepoints, app, savepointName(env, app, st.live, 1)), ""
}

// takeSavepoint asks CMF for savepoint ref (an applying pass only) and
// says what the pass did; again is true when an earlier one was stale.
func (s *Syncer) takeSavepoint(ctx context.Context, ref cmf.Ref, upgradeMode string, again bool, mode sync.Mode) string {
	why := "as the job runs with upgradeMode " + upgradeMode
	if again {
		why += fmt.Sprintf(", and the last savepoint finished more than %s ago (for an earlier removal)", sync.SavepointFreshness)
	}
	if mode != sync.ModeApply {
		return fmt.Sprintf("would take savepoint %s first (%s), and delete the application once it is COMPLETED", ref.Name, why)
	}
	body := cmf.Object{"apiVersion": cmf.APIVersion, "kind": string(cmf.KindSavepoint),
		"metadata": map[string]any{"name": ref.Name, "labels": map[string]any{
			render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: ref.Environment, LabelSavepointOf: ref.Application}},
		"spec": map[string]any{}}
	if err := s.Client.Create(ctx, ref, body); err != nil {
		return fmt.Sprintf("not pruned: creating savepoint %s failed: %v", ref.Name, err)
	}
	return fmt.Sprintf("waiting for savepoint %s (state none yet): created it, %s", ref.Name, why)
}

// staleSavepoint reports whether a finished savepoint no longer speaks for
// this prune: it finished (status.resultTimestamp, else when it was
// created) more than sync.SavepointFreshness ago.
func (s *Syncer) staleSavepoint(obj cmf.Object) bool {
	at, _, _ := unstructured.NestedString(obj, "status", "resultTimestamp")
	if at == "" {
		at, _, _ = unstructured.NestedString(obj, "metadata", "creationTimestamp")
	}
	done, err := time.Parse(time.RFC3339Nano, at)
	return err == nil && s.now().Sub(done) > sync.SavepointFreshness
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}
