package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/render"
)

// The inventory of an environment is a ConfigMap in its namespace that
// lists every object flinksync applied there, with a hash of what it
// applied. It is also an ApplySet parent (KEP-3659), and every member
// carries the ApplySet part-of label, so kubectl and other tools can see the
// membership.
const (
	InventoryName = "flinksync-inventory"
	inventoryKey  = "objects.json"
	// inventoryGzipKey holds the entries gzipped (binaryData) when their
	// JSON is over inventoryInlineMax: a ConfigMap holds at most 1 MiB, and
	// 10,000 objects' entries are more than that as plain JSON.
	inventoryGzipKey   = "objects.json.gz"
	LabelApplySetID    = "applyset.kubernetes.io/id"
	LabelApplySetPart  = "applyset.kubernetes.io/part-of"
	AnnApplySetTooling = "applyset.kubernetes.io/tooling"
	AnnApplySetKinds   = "applyset.kubernetes.io/contains-group-kinds"
	LabelComponent     = "app.kubernetes.io/component"
	ComponentInventory = "inventory"
	toolingValue       = "flinksync/v1"
)

var configMapGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Entry is one object of an inventory.
type Entry struct {
	ObjectID
	// Hash is the hash of the object flinksync last applied (without the
	// revision annotation); it tells a change in Git from drift.
	Hash string `json:"hash,omitempty"`
	// Upgrade is the job's upgrade still in progress, if any (upgrade.go).
	// An inventory written before it existed has none.
	Upgrade UpgradeMark `json:"-"`
}

// Inventory is the set of objects of one environment.
type Inventory map[string]Entry

func entryFor(o *unstructured.Unstructured, hash string) Entry {
	return Entry{ObjectID: IDOf(o), Hash: hash}
}

// isInventory reports whether e is the inventory ConfigMap itself.
func (e Entry) isInventory() bool {
	return e.Group == "" && e.Kind == "ConfigMap" && e.Name == InventoryName
}

// sorted lists the entries in a stable order.
func (inv Inventory) sorted() []Entry {
	out := make([]Entry, 0, len(inv))
	for _, e := range inv {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// equal compares the entries without their upgrade marks, which the pass
// sets apart (see Syncer.upgrades).
func (inv Inventory) equal(o Inventory) bool {
	if len(inv) != len(o) {
		return false
	}
	for k, e := range inv {
		other, ok := o[k]
		other.Upgrade = e.Upgrade
		if !ok || other != e {
			return false
		}
	}
	return true
}

// ApplySetID is the ApplySet id of the inventory of namespace ns:
// "applyset-" + base64url(sha256("<name>.<namespace>.<kind>.<group>")) + "-v1".
func ApplySetID(ns string) string {
	sum := sha256.Sum256([]byte(InventoryName + "." + ns + ".ConfigMap."))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// readInventory reads the inventory of namespace ns; a missing one is
// empty. It does not check whose it is (inventoryOf does).
func (s *Syncer) readInventory(ctx context.Context, ns string) (Inventory, error) {
	u, err := s.getInventory(ctx, ns)
	if u == nil || err != nil {
		return Inventory{}, err
	}
	return decodeInventory(u)
}

// getInventory reads the inventory ConfigMap of ns; nil when there is none.
func (s *Syncer) getInventory(ctx context.Context, ns string) (*unstructured.Unstructured, error) {
	u, err := s.dyn.Resource(configMapGVR).Namespace(ns).Get(ctx, InventoryName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory ConfigMap %s/%s: %w", ns, InventoryName, err)
	}
	return u, nil
}

// inventoryOf reads the inventory of environment env in namespace ns and
// says who owns what in this pass. It refuses a ConfigMap of that name that
// flinksync did not write, and the inventory of another environment (two
// environments in one namespace, or a rename), unless the ConfigMap is
// annotated flinksync.dev/adopt=<env>: then env takes over what the other
// environment applied there.
func (s *Syncer) inventoryOf(ctx context.Context, env, ns string) (Inventory, owner, error) {
	own := owner{env: env, ns: ns}
	u, err := s.getInventory(ctx, ns)
	if u == nil || err != nil {
		return Inventory{}, own, err
	}
	l := u.GetLabels()
	adopted := u.GetAnnotations()[AnnAdopt] == env
	where := fmt.Sprintf("ConfigMap %s/%s", ns, InventoryName)
	switch {
	case adopted:
		if prev := l[render.LabelEnvironment]; prev != env {
			own.predecessor = prev
		}
	case l[LabelComponent] != ComponentInventory || l[render.LabelManagedBy] != render.ManagedByValue || l[LabelApplySetID] != ApplySetID(ns):
		return nil, own, fmt.Errorf("%s exists and is not flinksync's inventory (it lacks the labels flinksync writes); flinksync keeps its inventory under that name: rename or delete that ConfigMap, or annotate it %s=%s to let environment %s use it",
			where, AnnAdopt, env, env)
	case l[render.LabelEnvironment] != env:
		return nil, own, fmt.Errorf("namespace %s holds the inventory of flinksync environment %q (was it renamed to %s, or do two environments share the namespace?); %s does not take over %s's objects: annotate %s %s=%s to let it, or give %s its own namespace",
			ns, l[render.LabelEnvironment], env, env, l[render.LabelEnvironment], where, AnnAdopt, env, env)
	}
	inv, err := decodeInventory(u)
	return inv, own, err
}

// inventoryInlineMax is the largest entries' JSON written as plain text;
// above it, the entries are gzipped into binaryData.
const inventoryInlineMax = 256 << 10

// inventoryMaxEntriesJSON bounds what a gzipped inventory may expand to: the
// ConfigMap is anyone's with write access to the namespace, and a small
// gzip can expand to gigabytes.
const inventoryMaxEntriesJSON = 64 << 20

// decodeInventory reads the entries of an inventory ConfigMap: plain JSON
// in data, or gzipped JSON in binaryData.
func decodeInventory(u *unstructured.Unstructured) (Inventory, error) {
	raw, _, _ := unstructured.NestedString(u.Object, "data", inventoryKey)
	if b64, found, _ := unstructured.NestedString(u.Object, "binaryData", inventoryGzipKey); found {
		text, err := gunzipInventory(b64)
		if err != nil {
			return nil, fmt.Errorf("inventory ConfigMap %s/%s: %s is not valid: %w", u.GetNamespace(), u.GetName(), inventoryGzipKey, err)
		}
		raw = text
	}
	var entries []Entry
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &entries); err != nil {
			return nil, fmt.Errorf("inventory ConfigMap %s/%s: %s is not valid: %w", u.GetNamespace(), u.GetName(), inventoryKey, err)
		}
	}
	inv := Inventory{}
	for _, e := range entries {
		inv[e.Key()] = e
	}
	return inv, nil
}

// writeInventory stores inv as the inventory of environment env in ns.
func (s *Syncer) writeInventory(ctx context.Context, env, ns string, inv Inventory) error {
	entries := inv.sorted()
	raw, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	kinds := map[string]bool{}
	for _, e := range entries {
		gk := e.Kind
		if e.Group != "" {
			gk += "." + e.Group
		}
		kinds[gk] = true
	}
	var gks []string
	for k := range kinds {
		gks = append(gks, k)
	}
	sort.Strings(gks)
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": InventoryName, "namespace": ns,
			"labels": map[string]any{
				render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: env,
				LabelComponent: ComponentInventory, LabelApplySetID: ApplySetID(ns),
			},
			"annotations": map[string]any{AnnApplySetTooling: toolingValue, AnnApplySetKinds: strings.Join(gks, ",")},
		},
	}}
	if len(raw) > inventoryInlineMax {
		gz, err := gzipInventory(raw)
		if err != nil {
			return err
		}
		cm.Object["binaryData"] = map[string]any{inventoryGzipKey: gz}
	} else {
		cm.Object["data"] = map[string]any{inventoryKey: string(raw)}
	}
	_, err = s.dyn.Resource(configMapGVR).Namespace(ns).Apply(ctx, InventoryName, cm,
		metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("writing inventory ConfigMap %s/%s: %w", ns, InventoryName, err)
	}
	return nil
}

// gzipInventory is raw gzipped, base64 as binaryData holds it.
func gzipInventory(raw []byte) (string, error) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(raw); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

// gunzipInventory reads binaryData's base64 gzip, up to
// inventoryMaxEntriesJSON bytes.
func gunzipInventory(b64 string) (string, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", err
	}
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	out, err := io.ReadAll(io.LimitReader(r, inventoryMaxEntriesJSON+1))
	if err != nil {
		return "", err
	}
	if len(out) > inventoryMaxEntriesJSON {
		return "", fmt.Errorf("it expands to more than %d bytes", inventoryMaxEntriesJSON)
	}
	return string(out), nil
}
