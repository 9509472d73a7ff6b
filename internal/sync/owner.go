package sync

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/render"
)

// AnnAdopt, set on a live object to an environment's name, lets that
// environment take the object over: apply it and, once it is no longer in
// Git, prune it. Only someone who may write the object in the cluster can
// set it; nothing in the repository can (flinksync refuses to write an
// object that is not its own, so an annotation in Git never reaches a
// foreign object). On flinksync's inventory ConfigMap it lets an
// environment take over everything another environment applied in that
// namespace (a rename).
const AnnAdopt = "flinksync.dev/adopt"

// owner is who may write and delete objects in one pass: environment env,
// whose inventory is in namespace ns. An object is the owner's when all of
// these hold on the live object:
//
//   - label app.kubernetes.io/managed-by is flinksync;
//   - label flinksync.dev/environment is env (or predecessor, the
//     environment whose inventory env adopted);
//   - label applyset.kubernetes.io/part-of is the ApplySet id of ns's
//     inventory.
//
// The first two labels can come from Git (an overlay can write any label),
// but the part-of label cannot: flinksync sets it on every object it
// applies, whatever Git says, and never applies over an existing object
// that is not already its own or adopted. So the part-of label on a live
// object means flinksync created or adopted it in this namespace (or a
// cluster user with write access there forged it, who could delete the
// object anyway). Prune asks one more thing: the object is listed in the
// inventory, in ns, and of a namespaced kind.
type owner struct {
	env, ns string
	// predecessor is the environment whose inventory env adopted
	// (flinksync.dev/adopt on the inventory ConfigMap), or "".
	predecessor string
}

// owns reports whether live is flinksync's object of this environment.
func (o owner) owns(live *unstructured.Unstructured) bool {
	return o.why(live) == ""
}

// adopts reports whether live carries the opt-in to be taken over by this
// environment.
func (o owner) adopts(live *unstructured.Unstructured) bool {
	return live.GetAnnotations()[AnnAdopt] == o.env
}

// why says why live is not this environment's object, or "" when it is.
func (o owner) why(live *unstructured.Unstructured) string {
	l := live.GetLabels()
	env := l[render.LabelEnvironment]
	switch {
	case live.GetNamespace() != o.ns:
		return fmt.Sprintf("it is in namespace %q, not in the environment's namespace %q", live.GetNamespace(), o.ns)
	case l[render.LabelManagedBy] != render.ManagedByValue:
		return "it is not flinksync's" + managers(live)
	case env != o.env && (o.predecessor == "" || env != o.predecessor):
		return fmt.Sprintf("it belongs to flinksync environment %q", env)
	case l[LabelApplySetPart] != ApplySetID(o.ns):
		return fmt.Sprintf("it carries flinksync's labels but not the mark flinksync writes on what it applies (%s=%s)", LabelApplySetPart, ApplySetID(o.ns))
	}
	return ""
}

// refusal is the message of an existing object this environment will not
// take over.
func (o owner) refusal(live *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s exists and %s; flinksync does not take over objects it did not create for environment %s: annotate it %s=%s to let flinksync manage it (and prune it once Git no longer declares it), or rename the object in Git",
		live.GetKind(), live.GetNamespace(), live.GetName(), o.why(live), o.env, AnnAdopt, o.env)
}

// managers names the field managers of live, for a refusal message.
func managers(live *unstructured.Unstructured) string {
	seen := map[string]bool{}
	for _, m := range live.GetManagedFields() {
		if m.Manager != "" {
			seen[m.Manager] = true
		}
	}
	if len(seen) == 0 {
		return ""
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (written by " + strings.Join(names, ", ") + ")"
}

// ownedBy names the owners of live (its metadata.ownerReferences) that are
// not in ours, the UIDs of the live objects this pass owns; "" when there
// are none. An object another controller owns is that controller's to
// write and delete: FKO's Blue/Green controller owns the FlinkDeployments
// it creates for a FlinkBlueGreenDeployment, CMF those it creates for a CFK
// FlinkApplication. Labels do not decide it: a controller may copy its
// parent's labels, flinksync's among them, onto what it makes.
func ownedBy(live *unstructured.Unstructured, ours map[types.UID]bool) string {
	var names []string
	for _, ref := range live.GetOwnerReferences() {
		if ours[ref.UID] {
			continue
		}
		n := ref.Kind + " " + ref.Name
		if ref.Controller != nil && *ref.Controller {
			n += " (its controller)"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// refuseOwned refuses to change an object whose live copy another
// controller owns (see ownedBy): no apply, no drift correction and no
// replace, whatever its labels say. An owned object that already matches
// Git is left as it is. The owners flinksync itself applies in this pass
// do not count.
func (st *passState) refuseOwned() {
	ours := map[types.UID]bool{}
	for _, p := range st.objects {
		if p.live != nil && !p.refused {
			ours[p.live.GetUID()] = true
		}
	}
	for _, p := range st.objects {
		if p.live == nil || p.refused || p.action == Unchanged {
			continue
		}
		if by := ownedBy(p.live, ours); by != "" {
			p.refuse(fmt.Sprintf("%s %s/%s is owned by %s: flinksync never writes, corrects or prunes an object another controller owns; declare its owner in Git instead, or rename the object in Git",
				p.live.GetKind(), p.live.GetNamespace(), p.live.GetName(), by))
		}
	}
}
