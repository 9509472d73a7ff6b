package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/flinksync/flinksync/internal/jsonptr"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/redact"
)

// Fields other managers add. Server-side apply records who set each field
// of an object (metadata.managedFields). A field of an object flinksync
// owns that another manager set (kubectl edit or patch, a script, a
// controller) and Git does not declare is drift, like a changed value:
// drift reports it, and drift: correct takes it away, with a JSON patch
// that removes exactly those fields (an apply cannot remove what another
// manager owns) before the apply. Fields no manager set (the server's
// defaults) are not drift, nor are status and metadata other than labels
// and annotations. Ignore rules (ignore.go) hold for these fields too.

// notInGit is the desired value of a field another manager added.
const notInGit = "<not in Git>"

// managerSet is the fields one metadata.managedFields entry of an object's
// main resource (not a subresource such as status) records.
type managerSet struct {
	manager string
	apply   bool // operation Apply; else Update
	set     *fieldpath.Set
}

// ours reports whether the entry is flinksync's own apply.
func (m managerSet) ours() bool { return m.manager == FieldManager && m.apply }

// eachEntry calls f with the manager, operation and fields of every
// managedFields entry of live's main resource, read from the object
// without converting it.
func eachEntry(live *unstructured.Unstructured, f func(manager string, apply bool, fields map[string]any)) {
	md, _ := live.Object["metadata"].(map[string]any)
	entries, _ := md["managedFields"].([]any)
	for _, e := range entries {
		m, _ := e.(map[string]any)
		fields, _ := m["fieldsV1"].(map[string]any)
		if sub, _ := m["subresource"].(string); sub != "" || fields == nil {
			continue
		}
		manager, _ := m["manager"].(string)
		f(manager, m["operation"] == "Apply", fields)
	}
}

// managedSets parses the managedFields entries of live's main resource that
// keep selects (every entry when keep is nil). An entry that does not parse
// is left out: it records nothing flinksync could act on.
func managedSets(live *unstructured.Unstructured, keep func(manager string, apply bool) bool) []managerSet {
	var out []managerSet
	eachEntry(live, func(manager string, apply bool, fields map[string]any) {
		if keep != nil && !keep(manager, apply) {
			return
		}
		set := &fieldpath.Set{}
		if err := readFields(fields, set); err != nil {
			return
		}
		out = append(out, managerSet{manager: manager, apply: apply, set: set})
	})
	return out
}

// readFields adds to s the fields of a fieldsV1 map as the unstructured
// object holds it, as fieldpath.Set.FromJSON reads its JSON (without
// writing the JSON again): a key is a member when its value is empty or
// holds ".", and holds the fields under it. Keys of an unknown kind are
// left out, as FromJSON leaves them out.
func readFields(fields map[string]any, s *fieldpath.Set) error {
	for k, v := range fields {
		if k == "." {
			continue
		}
		e, err := fieldpath.DeserializePathElement(k)
		if errors.Is(err, fieldpath.ErrUnknownPathElementType) {
			continue
		}
		if err != nil {
			return fmt.Errorf("managedFields key %q: %w", k, err)
		}
		under, _ := v.(map[string]any)
		_, member := under["."]
		if member || len(under) == 0 {
			s.Members.Insert(e)
		}
		if len(under) > 1 || (len(under) == 1 && !member) {
			if err := readFields(under, s.Children.Descend(e)); err != nil {
				return err
			}
		}
	}
	return nil
}

// liveFields is what managedFields says about one live object, parsed on
// first use: a pass parses it only for objects another manager wrote to,
// or whose ignore rules need it.
type liveFields struct {
	live   *unstructured.Unstructured
	sets   []managerSet
	parsed bool
}

func (lf *liveFields) all() []managerSet {
	if !lf.parsed && lf.live != nil {
		lf.sets, lf.parsed = managedSets(lf.live, nil), true
	}
	return lf.sets
}

// others reports whether a manager other than flinksync set fields of the
// object's main resource.
func (lf *liveFields) others() bool {
	found := false
	if lf.live != nil {
		eachEntry(lf.live, func(manager string, _ bool, _ map[string]any) { found = found || manager != FieldManager })
	}
	return found
}

// managers names the managers that set the field at p.
func (lf *liveFields) managers(p fieldpath.Path) []string {
	var out []string
	for _, ms := range lf.all() {
		if ms.set.Has(p) {
			out = append(out, ms.manager)
		}
	}
	return out
}

// applied lists the map fields under prefix (tokens) that flinksync's apply
// set.
func (lf *liveFields) applied(prefix []string) [][]string {
	var out [][]string
	for _, ms := range lf.all() {
		if !ms.ours() {
			continue
		}
		ms.set.Leaves().Iterate(func(p fieldpath.Path) {
			if names, ok := fieldNames(p); ok && hasPrefix(names, prefix) {
				out = append(out, names)
			}
		})
	}
	return out
}

// ownedOnlyBy lists the fields of the object whose managers are all in
// only, as map keys from the root: a list counts as one field, with all
// the managers of what is under it.
func (lf *liveFields) ownedOnlyBy(only map[string]bool) [][]string {
	type unit struct {
		names []string
		all   bool
	}
	units := map[string]*unit{}
	var order []string
	for _, ms := range lf.all() {
		ms.set.Leaves().Iterate(func(p fieldpath.Path) {
			if !driftable(p) {
				return
			}
			names := leadingNames(p)
			key := strings.Join(names, "\x00")
			u, seen := units[key]
			if !seen {
				u = &unit{names: names, all: true}
				units[key] = u
				order = append(order, key)
			}
			u.all = u.all && only[ms.manager]
		})
	}
	var out [][]string
	for _, k := range order {
		if units[k].all {
			out = append(out, units[k].names)
		}
	}
	return out
}

// fieldNames is p as map keys, when p names only map fields.
func fieldNames(p fieldpath.Path) ([]string, bool) {
	names := leadingNames(p)
	return names, len(names) == len(p)
}

// leadingNames is the map keys p starts with, up to its first list element.
func leadingNames(p fieldpath.Path) []string {
	var names []string
	for _, e := range p {
		if e.FieldName == nil {
			break
		}
		names = append(names, *e.FieldName)
	}
	return names
}

func hasPrefix(tokens, prefix []string) bool {
	if len(tokens) < len(prefix) {
		return false
	}
	for i := range prefix {
		if tokens[i] != prefix[i] {
			return false
		}
	}
	return true
}

// driftable reports whether a field can be drift: anything but status,
// apiVersion and kind, and of metadata only labels and annotations.
func driftable(p fieldpath.Path) bool {
	if len(p) == 0 || p[0].FieldName == nil {
		return false
	}
	switch *p[0].FieldName {
	case "status", "apiVersion", "kind":
		return false
	case "metadata":
		return len(p) >= 3 && p[1].FieldName != nil && (*p[1].FieldName == "labels" || *p[1].FieldName == "annotations")
	}
	return true
}

// clusterManagers are the field managers of Kubernetes' own controllers:
// what they alone set is the cluster's bookkeeping (a Deployment's
// deployment.kubernetes.io/revision annotation), never drift, or the pass
// and the controller would undo each other for ever.
var clusterManagers = map[string]bool{"kube-controller-manager": true}

// exempt reports whether a field another manager set is never drift: the
// annotation by which a cluster user hands an object over to flinksync
// (AnnAdopt), and what only Kubernetes' own controllers set.
func exempt(tokens, managers []string) bool {
	if len(tokens) == 3 && tokens[0] == "metadata" && tokens[1] == "annotations" && tokens[2] == AnnAdopt {
		return true
	}
	for _, m := range managers {
		if !clusterManagers[m] {
			return false
		}
	}
	return len(managers) > 0
}

// step goes from v, a map or list of an unstructured object, to its child
// at e. It returns the child, the child's JSON pointer token (a list
// element's index), whether the child exists, and whether v is of the kind
// e goes into (a map for a field name, a list for the rest).
func step(v any, e fieldpath.PathElement) (child any, token string, found, container bool) {
	if e.FieldName != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, "", false, false
		}
		child, found = m[*e.FieldName]
		return child, *e.FieldName, found, true
	}
	l, ok := v.([]any)
	if !ok {
		return nil, "", false, false
	}
	for i, item := range l {
		if matches(item, i, e) {
			return item, strconv.Itoa(i), true, true
		}
	}
	return nil, "", false, true
}

// matches reports whether item, at index i of a list, is the element e
// names: by its key fields, its value, or its index.
func matches(item any, i int, e fieldpath.PathElement) bool {
	switch {
	case e.Index != nil:
		return *e.Index == i
	case e.Value != nil:
		return value.Equals(value.NewValueInterface(item), *e.Value)
	case e.Key != nil:
		m, ok := item.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range *e.Key {
			v, ok := m[f.Name]
			if !ok || !value.Equals(value.NewValueInterface(v), f.Value) {
				return false
			}
		}
		return true
	}
	return false
}

// resolve finds p in obj: its JSON pointer tokens and value.
func resolve(obj map[string]any, p fieldpath.Path) ([]string, any, bool) {
	var cur any = obj
	tokens := make([]string, 0, len(p))
	for _, e := range p {
		child, token, found, _ := step(cur, e)
		if !found {
			return nil, nil, false
		}
		tokens = append(tokens, token)
		cur = child
	}
	return tokens, cur, true
}

// undeclared is the index of the first element of p that obj (the desired
// object) does not have, or -1 when obj declares p: all of it, or a value
// where p goes deeper (Git declares that value whole).
func undeclared(obj map[string]any, p fieldpath.Path) int {
	var cur any = obj
	for i, e := range p {
		child, _, found, container := step(cur, e)
		switch {
		case !container:
			return -1
		case !found:
			return i
		}
		cur = child
	}
	return -1
}

// displayPath is p as drift names a field: map keys as field paths do
// (fieldPath), list elements by their keys: containers[name="main"].
func displayPath(p fieldpath.Path) string {
	var b strings.Builder
	for _, e := range p {
		if e.FieldName != nil {
			writeKey(&b, *e.FieldName)
			continue
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// addedField is a field another manager added that Git does not declare.
type addedField struct {
	// field names it as drift does.
	field string
	// tokens is its JSON pointer in the live object it was found in.
	tokens []string
	// live is its value, masked.
	live string
	// keep is true when removing it would remove a field an ignore rule
	// keeps too: it is reported, and never removed.
	keep bool
}

// leaf is one field another manager set in a live object.
type leaf struct {
	path   fieldpath.Path
	tokens []string
	from   int // the index of its first element desired does not have
}

// addedByOthers lists the fields of live that a manager other than
// flinksync set and desired (Git, after the ignore rules) does not
// declare, outside what ig ignores. Each is named at the highest level
// desired lacks that holds no ignored field: the key another manager
// added to spec.flinkConfiguration, or the whole of a map it added.
func addedByOthers(desired, live *unstructured.Unstructured, lf *liveFields, ig *ignorer) []addedField {
	if live == nil || !lf.others() {
		return nil
	}
	leaves, ignored := undeclaredLeaves(desired, live, lf, ig)
	if len(leaves) == 0 {
		return nil
	}
	var out []addedField
	var masked map[string]any
	seen := map[string]bool{}
	for _, l := range leaves {
		at, keep := len(l.path), true
		for k := l.from + 1; k <= len(l.path); k++ {
			if !ig.holds(live.Object, l.tokens[:k], ignored) {
				at, keep = k, false
				break
			}
		}
		key := strings.Join(l.tokens[:at], "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		if masked == nil {
			masked = redact.Object(live.Object)
		}
		v, _ := jsonptr.Lookup(masked, l.tokens[:at])
		out = append(out, addedField{field: displayPath(l.path[:at]), tokens: l.tokens[:at:at], live: render1(v), keep: keep})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].field < out[j].field })
	return out
}

// undeclaredLeaves lists the fields other managers set in live that desired
// does not declare and flinksync's apply does not own (those are
// compare's: Git removed them), split into those ig ignores (by pointer
// token paths) and the rest.
func undeclaredLeaves(desired, live *unstructured.Unstructured, lf *liveFields, ig *ignorer) (rest []leaf, ignored [][]string) {
	seen := map[string]bool{}
	for _, ms := range lf.all() {
		if ms.manager == FieldManager {
			continue
		}
		ms.set.Leaves().Iterate(func(p fieldpath.Path) {
			if !driftable(p) {
				return
			}
			from := undeclared(desired.Object, p)
			if from < 0 {
				return
			}
			tokens, _, ok := resolve(live.Object, p)
			if !ok {
				return // managedFields names a field the object no longer has
			}
			key := strings.Join(tokens, "\x00")
			if seen[key] {
				return
			}
			seen[key] = true
			managers := lf.managers(p)
			for _, m := range lf.all() {
				if m.ours() && m.set.Has(p) {
					return
				}
			}
			if exempt(tokens, managers) {
				return
			}
			if ig.path(tokens) || ig.byManagers(managers) {
				ignored = append(ignored, tokens)
				return
			}
			rest = append(rest, leaf{path: p.Copy(), tokens: tokens, from: from})
		})
	}
	return rest, ignored
}

// addedDiffs are the field diffs of added fields.
func addedDiffs(added []addedField) []FieldDiff {
	var out []FieldDiff
	for _, a := range added {
		out = append(out, FieldDiff{Field: a.field, Desired: notInGit, Live: a.live})
	}
	return out
}

// jsonPatchOp is one operation of a JSON patch (RFC 6902).
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// removal is the JSON patch that removes the added fields from live (those
// it may remove), provided live has not changed since it was read: its
// first operation tests the resourceVersion. Elements of one list are
// removed from the last, so that each index still names its element. Nil
// when there is nothing to remove.
func removal(live *unstructured.Unstructured, added []addedField) []byte {
	var paths [][]string
	for _, a := range added {
		if !a.keep {
			paths = append(paths, a.tokens)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	sort.Slice(paths, func(i, j int) bool { return tokensAfter(paths[i], paths[j]) })
	ops := []jsonPatchOp{{Op: "test", Path: "/metadata/resourceVersion", Value: live.GetResourceVersion()}}
	for _, p := range paths {
		ops = append(ops, jsonPatchOp{Op: "remove", Path: jsonptr.Join(p)})
	}
	b, _ := json.Marshal(ops)
	return b
}

// tokensAfter orders pointers last first, list indices by number.
func tokensAfter(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		ai, aerr := strconv.Atoi(a[i])
		bi, berr := strconv.Atoi(b[i])
		if aerr == nil && berr == nil {
			return ai > bi
		}
		return a[i] > b[i]
	}
	return len(a) > len(b)
}

// removeAdded takes away, in a drift: correct environment, the fields other
// managers added to p's live object that Git does not declare, before the
// apply puts back what Git says. The patch fails, and the next pass looks
// again, when the object changed since this pass read it.
func (s *Syncer) removeAdded(ctx context.Context, st *passState, p *planned, dryRun bool) error {
	if st.env.Spec.Sync.Drift == model.DriftWarn {
		return nil
	}
	patch := removal(p.live, p.added)
	if patch == nil {
		return nil
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := s.dyn.Resource(p.mapping.Resource).Namespace(st.ns).Patch(ctx, p.obj.GetName(), types.JSONPatchType, patch, opts); err != nil {
		var fields []string
		for _, a := range p.added {
			fields = append(fields, a.field)
		}
		return fmt.Errorf("removing %s, which another field manager added and Git does not declare: %v (when the object changed since this pass read it, the next pass tries again)",
			strings.Join(fields, ", "), err)
	}
	return nil
}

// addedTokens are the JSON pointer tokens of added fields.
func addedTokens(added []addedField) [][]string {
	var out [][]string
	for _, a := range added {
		out = append(out, a.tokens)
	}
	return out
}

// showFields copies into view (live as far as a diff shows it) the fields
// of live at tokens, which a view of only Git's fields leaves out. A list
// or value on the way is in view whole already.
func showFields(view, live map[string]any, fields [][]string) {
	for _, t := range fields {
		v, ok := jsonptr.Lookup(live, t)
		if !ok || len(t) == 0 {
			continue
		}
		cur := view
		for _, k := range t[:len(t)-1] {
			next, isMap := cur[k].(map[string]any)
			if _, exists := cur[k]; exists && !isMap {
				cur = nil
				break
			}
			if next == nil {
				next = map[string]any{}
				cur[k] = next
			}
			cur = next
		}
		if cur != nil {
			cur[t[len(t)-1]] = v
		}
	}
}
