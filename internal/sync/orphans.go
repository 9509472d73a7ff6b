package sync

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// Orphan is an inventory in the cluster that no environment of the
// repository syncs any more: its environment was removed or renamed, or
// moved to another namespace. Its objects keep running, unmanaged;
// flinksync never deletes them on its own.
type Orphan struct {
	Environment string `json:"environment"`
	Namespace   string `json:"namespace"`
	// MovedTo is the environment's namespace in the repository now, when
	// the environment is still there but in another namespace.
	MovedTo string `json:"movedTo,omitempty"`
	// Successor is the repository's environment that now uses Namespace
	// (a rename), if any. It does not take the orphan's objects over
	// unless the inventory is annotated flinksync.dev/adopt=<successor>.
	Successor string `json:"successor,omitempty"`
	// Objects are the objects the inventory lists, as "Kind namespace/name".
	Objects []string `json:"objects"`
	// Message says what happened and the ways out.
	Message string `json:"message"`
}

// maxListed is how many objects an orphan's message names before "and N
// more": enough to recognise an environment, short enough for a log line.
const maxListed = 5

// Orphans finds the inventories that no environment of the repository
// syncs: envs maps each of the repository's environments to its namespace.
// It lists inventories in every namespace; where that is forbidden (the
// chart's default, rbac.clusterWideInventoryDiscovery off), it reads only
// the inventories in envs' namespaces, which finds renames but not
// environments that moved or left.
func (s *Syncer) Orphans(ctx context.Context, envs map[string]string) ([]Orphan, error) {
	list, err := s.orphanInventories(ctx, envs)
	if apierrors.IsForbidden(err) {
		list, err = s.inventoriesIn(ctx, envs)
	}
	if err != nil {
		return nil, err
	}
	byNS := map[string]string{}
	for env, ns := range envs {
		byNS[ns] = env
	}
	var out []Orphan
	for i := range list {
		u := &list[i]
		env, ns := u.GetLabels()[render.LabelEnvironment], u.GetNamespace()
		now, inRepo := envs[env]
		if inRepo && now == ns {
			continue
		}
		o := Orphan{Environment: env, Namespace: ns, Objects: []string{}}
		if inRepo {
			o.MovedTo = now
		}
		if succ := byNS[ns]; succ != env {
			o.Successor = succ
		}
		inv, err := decodeInventory(u)
		if err != nil {
			return nil, err
		}
		for _, e := range inv.sorted() {
			if !e.isInventory() {
				o.Objects = append(o.Objects, e.Kind+" "+e.Namespace+"/"+e.Name)
			}
		}
		o.Message = o.message()
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Environment < out[j].Environment
	})
	return out, nil
}

// orphanInventories reads the inventories no environment of envs syncs in
// its namespace: a LIST of every inventory's metadata (labels say whose it
// is), then the full ConfigMap of each orphan only, so that a pass over a
// cluster of large, healthy inventories decodes none of them.
func (s *Syncer) orphanInventories(ctx context.Context, envs map[string]string) ([]unstructured.Unstructured, error) {
	list, err := s.meta.Resource(configMapGVR).Namespace("").List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s=%s", LabelComponent, ComponentInventory, render.LabelManagedBy, render.ManagedByValue),
	})
	if err != nil {
		return nil, fmt.Errorf("listing inventories: %w", err)
	}
	var out []unstructured.Unstructured
	for _, m := range list.Items {
		if m.Name != InventoryName {
			continue
		}
		if ns, ok := envs[m.Labels[render.LabelEnvironment]]; ok && ns == m.Namespace {
			continue // synced where it is
		}
		u, err := s.getInventory(ctx, m.Namespace)
		if err != nil {
			return nil, err
		}
		if u != nil {
			out = append(out, *u)
		}
	}
	return out, nil
}

// inventoriesIn reads the inventories of the namespaces of envs, one by one.
func (s *Syncer) inventoriesIn(ctx context.Context, envs map[string]string) ([]unstructured.Unstructured, error) {
	seen := map[string]bool{}
	var out []unstructured.Unstructured
	for _, ns := range envs {
		if seen[ns] {
			continue
		}
		seen[ns] = true
		u, err := s.getInventory(ctx, ns)
		if apierrors.IsForbidden(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if u == nil {
			continue
		}
		if l := u.GetLabels(); l[LabelComponent] == ComponentInventory && l[render.LabelManagedBy] == render.ManagedByValue {
			out = append(out, *u)
		}
	}
	return out, nil
}

// message is the warning for an orphan: what happened, what it holds, and
// the ways out.
func (o Orphan) message() string {
	held := fmt.Sprintf("%d object(s) in %s are no longer managed: %s", len(o.Objects), o.Namespace, listed(o.Objects))
	if len(o.Objects) == 0 {
		held = fmt.Sprintf("its inventory in %s lists no objects", o.Namespace)
	}
	cm := fmt.Sprintf("ConfigMap %s/%s", o.Namespace, InventoryName)
	switch {
	case o.MovedTo != "":
		return fmt.Sprintf("environment %s moved from namespace %s to %s; %s; delete them (and %s) or move the environment back",
			o.Environment, o.Namespace, o.MovedTo, held, cm)
	case o.Successor != "":
		return fmt.Sprintf("environment %s is no longer in the repository and environment %s now uses its namespace %s (a rename?); %s; %s does not take them over: annotate %s %s=%s to let it, or delete them",
			o.Environment, o.Successor, o.Namespace, held, o.Successor, cm, AnnAdopt, o.Successor)
	default:
		return fmt.Sprintf("environment %s (namespace %s) is no longer in the repository; %s; delete them (and %s) or restore the environment",
			o.Environment, o.Namespace, held, cm)
	}
}

// listed names the first maxListed objects.
func listed(objs []string) string {
	if len(objs) <= maxListed {
		return strings.Join(objs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(objs[:maxListed], ", "), len(objs)-maxListed)
}
