package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// immutableFields lists, per kind, the fields the API server (or the
// operator behind it) refuses to change on an existing object. An apply
// that would change one of them would fail; sync replaces the object
// instead: delete, wait until it is gone, create. The CFK ones are the
// x-kubernetes-validations of the CFK 3.3.0 CRDs, plus what CMF refuses on a
// statement (its compute pool); a FlinkStatement's SQL text, pool and
// properties already give it a new name (render.StatementName), so for
// statements this table is the safety net, not the rule.
var immutableFields = map[schema.GroupKind][]string{
	{Group: "platform.confluent.io", Kind: "FlinkEnvironment"}:              {"spec.kubernetesNamespace"},
	{Group: "platform.confluent.io", Kind: "FlinkApplication"}:              {"spec.flinkEnvironment"},
	{Group: "platform.confluent.io", Kind: "FlinkComputePool"}:              {"spec.flinkEnvironment", "spec.type"},
	{Group: "platform.confluent.io", Kind: "FlinkStatement"}:                {"spec.flinkEnvironment", "spec.statement", "spec.computePoolName"},
	{Group: "platform.confluent.io", Kind: "FlinkKafkaCatalog"}:             {"spec.flinkEnvironment"},
	{Group: "platform.confluent.io", Kind: "FlinkKafkaDatabase"}:            {"spec.flinkEnvironment", "spec.catalogRef"},
	{Group: "platform.confluent.io", Kind: "FlinkEnvironmentSecretMapping"}: {"spec.flinkEnvironment"},
	// Kubernetes refuses a new roleRef on a RoleBinding.
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: {"roleRef"},
}

// ImmutableFields returns the fields of kind gk that cannot change on an
// existing object (dotted paths from the object's root), or nil.
func ImmutableFields(gk schema.GroupKind) []string { return immutableFields[gk] }

// ImmutableChanges lists the immutable fields (see ImmutableFields) that
// desired sets to another value than current has: writing desired over
// current would be refused, so the object must be replaced. A field that
// current does not set (or sets to "") may be set: the CFK rules allow it.
// current is the live object, or for a plan the object base renders.
func ImmutableChanges(desired, current *unstructured.Unstructured) []string {
	var out []string
	for _, path := range immutableFields[desired.GroupVersionKind().GroupKind()] {
		cv, dv := lookup(current.Object, path), lookup(desired.Object, path)
		if cv == nil || cv == "" || dv == nil {
			continue
		}
		if !contains(dv, cv) {
			out = append(out, path)
		}
	}
	return out
}

// DefaultReplaceTimeout bounds how long a replace waits for the old object
// to be gone. The operators hold a deleted object with a finalizer until
// their resource is gone: CFK until CMF has deleted the statement or pool,
// which stops its Flink job (FKO's default job cancel timeout is 1 minute),
// so twice that, well within a daemon pass (--pass-timeout, 5 minutes).
const DefaultReplaceTimeout = 2 * time.Minute

// replacePoll is how often a replace checks whether the old object is gone.
const replacePoll = 250 * time.Millisecond

// replaceReason is the message of an object the pass replaces.
func replaceReason(kind string, fields []string) string {
	return fmt.Sprintf("%s cannot change on an existing %s: replaced (the old object is deleted, then the new one created)", strings.Join(fields, ", "), kind)
}

// replace deletes p's live object and creates p.obj in its place. The
// delete carries the live object's UID as a precondition, and the create
// waits, up to s.ReplaceTimeout, until the object is gone: its operator's
// finalizer (CFK's, which deletes the statement or pool in CMF) has run.
// The delete propagates in the background: the kinds with immutable fields
// own no Kubernetes objects, and foreground deletion would wait for the
// garbage collector to lift its own finalizer. Nothing is lost when it
// stops half-way: the object is in Git and the inventory, so the next pass
// creates it, or deletes the old one again.
// A dry run sends both requests as dry runs (the create under a generated
// name, as the old object is still there) and deletes nothing.
func (s *Syncer) replace(ctx context.Context, ns string, p *planned, force, dryRun bool) error {
	ri := s.dyn.Resource(p.mapping.Resource).Namespace(ns)
	name, uid := p.obj.GetName(), p.live.GetUID()
	del := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: ptr(metav1.DeletePropagationBackground)}
	if dryRun {
		del.DryRun = []string{metav1.DryRunAll}
		if err := ri.Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace: deleting the old object would fail: %s", apiMessage(err))
		}
		c := p.obj.DeepCopy()
		c.SetName("")
		c.SetGenerateName(name + "-")
		if _, err := ri.Create(ctx, c, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager,
			FieldValidation: metav1.FieldValidationStrict}); err != nil {
			return fmt.Errorf("replace: the new object would be refused: %s", apiMessage(err))
		}
		return nil
	}
	if p.live.GetDeletionTimestamp() == nil {
		if err := ri.Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace: deleting the old object failed, nothing changed: %s", apiMessage(err))
		}
	}
	if err := s.waitGone(ctx, ri, name, uid); err != nil {
		return fmt.Errorf("replace: the old object is deleted but still there (%v): the next pass creates the new one once it is gone", err)
	}
	applied, err := ri.Apply(ctx, name, p.obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: force})
	if err != nil {
		return fmt.Errorf("replace: the old object is deleted, but creating the new one failed: %s; it is in Git, so the next pass creates it", apiMessage(err))
	}
	p.live = applied
	return nil
}

// waitGone waits until the object of that name and uid no longer exists
// (another object of the same name, made since, does not count).
func (s *Syncer) waitGone(ctx context.Context, ri dynamic.ResourceInterface, name string, uid types.UID) error {
	timeout := s.ReplaceTimeout
	if timeout <= 0 {
		timeout = DefaultReplaceTimeout
	}
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, replacePoll, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			return false, nil // a read that failed: try again until the deadline
		}
		last = u
		return u.GetUID() != uid, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("the pass was interrupted: %v", ctx.Err())
	}
	if last != nil && len(last.GetFinalizers()) > 0 {
		return fmt.Errorf("after %s, held by finalizers %s", timeout, strings.Join(last.GetFinalizers(), ", "))
	}
	return fmt.Errorf("not gone after %s: %v", timeout, err)
}

// apiMessage is an API error's message, without the client's wrapping.
func apiMessage(err error) string {
	_, msg := failure(err, true)
	return msg
}
