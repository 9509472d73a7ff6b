package sync

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The types that embed ObjectID write the JSON they wrote before it: an
// inventory entry keeps "group" (even the core group's empty one), the
// reports never carry it.
func TestObjectIDJSON(t *testing.T) {
	fd := ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: "flink-prod", Name: "orders"}
	core := ObjectID{Kind: "ConfigMap", Namespace: "flink-prod", Name: "cfg"}
	for _, c := range []struct {
		v    any
		want string
	}{
		{[]Entry{{ObjectID: fd, Hash: "h1"}, {ObjectID: core}},
			`[{"group":"flink.apache.org","kind":"FlinkDeployment","namespace":"flink-prod","name":"orders","hash":"h1"},{"group":"","kind":"ConfigMap","namespace":"flink-prod","name":"cfg"}]`},
		{Change{ObjectID: fd, Action: Configured, Message: "m"},
			`{"kind":"FlinkDeployment","namespace":"flink-prod","name":"orders","action":"configured","message":"m"}`},
		{Drift{Environment: "prod", ObjectID: fd, Field: "spec.x", Desired: "1", Live: "2"},
			`{"environment":"prod","kind":"FlinkDeployment","namespace":"flink-prod","name":"orders","field":"spec.x","desired":"1","live":"2"}`},
		{ObjectDiff{ObjectID: core, Action: Pruned, Unified: "d"},
			`{"kind":"ConfigMap","namespace":"flink-prod","name":"cfg","action":"pruned","diff":"d"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("got  %s\nwant %s", b, c.want)
		}
	}

	var back []Entry
	if err := json.Unmarshal([]byte(`[{"group":"flink.apache.org","kind":"FlinkDeployment","namespace":"flink-prod","name":"orders","hash":"h1"}]`), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || back[0] != (Entry{ObjectID: fd, Hash: "h1"}) {
		t.Errorf("inventory entry read back as %+v", back)
	}
}

func TestIDOf(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("flink.apache.org/v1beta1")
	u.SetKind("FlinkDeployment")
	u.SetNamespace("flink-prod")
	u.SetName("orders")
	id := IDOf(u)
	if id.ID() != "FlinkDeployment/flink-prod/orders" || id.Key() != "flink.apache.org/FlinkDeployment/flink-prod/orders" {
		t.Errorf("ID %q, Key %q", id.ID(), id.Key())
	}
}
