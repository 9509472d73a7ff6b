package sync

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ObjectID names one Kubernetes object: its API group, kind, namespace and
// name. Entry, Change, Drift, ObjectDiff and plan's ObjectChange embed it,
// so every stage names an object the same way.
//
// The group is not written to JSON: the reports that embed ObjectID never
// carried it (an inventory Entry writes it itself, see entryJSON).
type ObjectID struct {
	Group     string `json:"-"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// IDOf is the identity of o.
func IDOf(o *unstructured.Unstructured) ObjectID {
	return ObjectID{Group: o.GroupVersionKind().Group, Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

// ID is "Kind/namespace/name", as messages and diffs name an object.
func (id ObjectID) ID() string { return id.Kind + "/" + id.Namespace + "/" + id.Name }

// Key is "group/Kind/namespace/name": unique across API groups, for maps.
func (id ObjectID) Key() string { return id.Group + "/" + id.ID() }

// entryJSON is an Entry as an inventory stores it: "group" is written
// even when empty (the core group), as inventories always have been.
type entryJSON struct {
	Group string `json:"group"`
	ObjectID
	Hash string `json:"hash,omitempty"`
	// Upgrade is absent when no upgrade is in progress (and in the
	// inventories written before upgrades were followed).
	Upgrade *UpgradeMark `json:"upgrade,omitempty"`
}

// MarshalJSON writes e with its group.
func (e Entry) MarshalJSON() ([]byte, error) {
	w := entryJSON{Group: e.Group, ObjectID: e.ObjectID, Hash: e.Hash}
	if e.Upgrade.pending() {
		w.Upgrade = &e.Upgrade
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads an entry written by MarshalJSON.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var w entryJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Entry{ObjectID: w.ObjectID, Hash: w.Hash}
	e.Group = w.Group
	if w.Upgrade != nil {
		e.Upgrade = *w.Upgrade
	}
	return nil
}
