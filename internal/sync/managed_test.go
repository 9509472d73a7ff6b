package sync

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/flinksync/flinksync/internal/jsonptr"
)

// jsonObj parses a JSON object.
func jsonObj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return u
}

// withManagers gives live managedFields entries: manager, operation and
// fieldsV1 JSON, three strings each.
func withManagers(t *testing.T, live *unstructured.Unstructured, entries ...string) *unstructured.Unstructured {
	t.Helper()
	var list []any
	for i := 0; i+2 < len(entries); i += 3 {
		var fields map[string]any
		if err := json.Unmarshal([]byte(entries[i+2]), &fields); err != nil {
			t.Fatalf("%v\n%s", err, entries[i+2])
		}
		e := map[string]any{"manager": entries[i], "operation": entries[i+1], "apiVersion": live.GetAPIVersion(), "fieldsType": "FieldsV1", "fieldsV1": fields}
		if strings.HasSuffix(entries[i], "/status") {
			e["manager"], e["subresource"] = strings.TrimSuffix(entries[i], "/status"), "status"
		}
		list = append(list, e)
	}
	md := live.Object["metadata"].(map[string]any)
	md["managedFields"] = list
	return live
}

const gitFD = `{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment",
 "metadata":{"name":"orders","namespace":"dev","labels":{"app":"orders"}},
 "spec":{"image":"flink:1.20","flinkConfiguration":{"state.backend.type":"rocksdb"},"job":{"parallelism":4}}}`

const ourFields = `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:image":{},"f:flinkConfiguration":{"f:state.backend.type":{}},"f:job":{"f:parallelism":{}}}}`

// liveFD is gitFD as applied, with more: what the test adds.
func liveFD(t *testing.T, spec, labels string) *unstructured.Unstructured {
	t.Helper()
	return jsonObj(t, `{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment",
 "metadata":{"name":"orders","namespace":"dev","resourceVersion":"42","finalizers":["flinkdeployments.flink.apache.org/finalizer"],"labels":{"app":"orders"`+labels+`}},
 "spec":{"image":"flink:1.20","serviceAccount":"flink","flinkConfiguration":{"state.backend.type":"rocksdb"`+spec+`},"job":{"parallelism":4,"upgradeMode":"stateless"}},
 "status":{"jobStatus":{"state":"RUNNING"}}}`)
}

func TestAddedByOthers(t *testing.T) {
	for _, c := range []struct {
		name    string
		live    func(t *testing.T) *unstructured.Unstructured
		ig      *ignorer
		want    []string // field=live
		pointer []string
	}{
		{"only flinksync and the server's defaults", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, "", ""), "flinksync", "Apply", ourFields)
		}, nil, nil, nil},
		{"a key kubectl patch added to flinkConfiguration", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, `,"taskmanager.numberOfTaskSlots":"8"`, ""), "flinksync", "Apply", ourFields,
				"kubectl-patch", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:taskmanager.numberOfTaskSlots":{}}}}`)
		}, nil, []string{`spec.flinkConfiguration["taskmanager.numberOfTaskSlots"]=8`}, []string{"/spec/flinkConfiguration/taskmanager.numberOfTaskSlots"}},
		{"a secret key's value is masked", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, `,"s3.secret-key":"PLANTED"`, ""), "flinksync", "Apply", ourFields,
				"kubectl-edit", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:s3.secret-key":{}}}}`)
		}, nil, []string{`spec.flinkConfiguration["s3.secret-key"]=<masked`}, []string{"/spec/flinkConfiguration/s3.secret-key"}},
		{"a label another tool applied, and status, finalizers and Git's own fields it also set", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, "", `,"team":"data"`), "flinksync", "Apply", ourFields,
				"helm", "Apply", `{"f:metadata":{"f:labels":{"f:team":{},"f:app":{}},"f:finalizers":{".":{},"v:\"flinkdeployments.flink.apache.org/finalizer\"":{}}},"f:spec":{"f:image":{}}}`,
				"flink-kubernetes-operator/status", "Update", `{"f:status":{"f:jobStatus":{"f:state":{}}}}`,
				"flink-kubernetes-operator", "Update", `{"f:status":{"f:jobStatus":{}}}`)
		}, nil, []string{"metadata.labels.team=data"}, []string{"/metadata/labels/team"}},
		{"the annotation that hands an object over, and what only Kubernetes' controllers set", func(t *testing.T) *unstructured.Unstructured {
			l := liveFD(t, "", "")
			l.SetAnnotations(map[string]string{AnnAdopt: "dev", "deployment.kubernetes.io/revision": "3"})
			return withManagers(t, l, "flinksync", "Apply", ourFields,
				"kubectl-annotate", "Update", `{"f:metadata":{"f:annotations":{".":{},"f:flinksync.dev/adopt":{}}}}`,
				"kube-controller-manager", "Update", `{"f:metadata":{"f:annotations":{"f:deployment.kubernetes.io/revision":{}}}}`)
		}, nil, nil, nil},
		{"a field flinksync applied and Git removed is compare's, not another manager's", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, `,"old.key":"x"`, ""), "flinksync", "Apply", `{"f:spec":{"f:flinkConfiguration":{"f:old.key":{}}}}`,
				"kubectl-patch", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:old.key":{}}}}`)
		}, nil, nil, nil},
		{"a map Git does not declare is one field", func(t *testing.T) *unstructured.Unstructured {
			l := liveFD(t, "", "")
			l.Object["spec"].(map[string]any)["podTemplate"] = map[string]any{"spec": map[string]any{"nodeSelector": map[string]any{"disk": "ssd"}, "priorityClassName": "high"}}
			return withManagers(t, l, "flinksync", "Apply", ourFields,
				"kubectl-edit", "Update", `{"f:spec":{"f:podTemplate":{".":{},"f:spec":{".":{},"f:nodeSelector":{"f:disk":{}},"f:priorityClassName":{}}}}}`)
		}, nil, []string{`spec.podTemplate={"spec":{"nodeSelector":{"disk":"ssd"},"priorityClassName":"high"}}`}, []string{"/spec/podTemplate"}},
		{"ignored by path, in a map Git does not declare: the rest is reported key by key", func(t *testing.T) *unstructured.Unstructured {
			l := liveFD(t, "", "")
			l.Object["spec"].(map[string]any)["podTemplate"] = map[string]any{"spec": map[string]any{"nodeSelector": map[string]any{"disk": "ssd"}, "priorityClassName": "high"}}
			return withManagers(t, l, "flinksync", "Apply", ourFields,
				"kubectl-edit", "Update", `{"f:spec":{"f:podTemplate":{".":{},"f:spec":{".":{},"f:nodeSelector":{"f:disk":{}},"f:priorityClassName":{}}}}}`)
		}, &ignorer{paths: [][]string{{"spec", "podTemplate", "spec", "nodeSelector"}}},
			[]string{"spec.podTemplate.spec.priorityClassName=high"}, []string{"/spec/podTemplate/spec/priorityClassName"}},
		{"ignored by manager", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, `,"pipeline.jobvertex-parallelism-overrides":"a:2","x":"1"`, ""), "flinksync", "Apply", ourFields,
				"autoscaler", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:pipeline.jobvertex-parallelism-overrides":{}}}}`,
				"kubectl-patch", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:x":{}}}}`)
		}, &ignorer{managers: map[string]bool{"autoscaler": true}}, []string{`spec.flinkConfiguration.x=1`}, []string{"/spec/flinkConfiguration/x"}},
		{"a field two managers set is ignored only when both are", func(t *testing.T) *unstructured.Unstructured {
			return withManagers(t, liveFD(t, `,"x":"1"`, ""), "flinksync", "Apply", ourFields,
				"autoscaler", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:x":{}}}}`,
				"script", "Apply", `{"f:spec":{"f:flinkConfiguration":{"f:x":{}}}}`)
		}, &ignorer{managers: map[string]bool{"autoscaler": true}}, []string{`spec.flinkConfiguration.x=1`}, []string{"/spec/flinkConfiguration/x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			live := c.live(t)
			added := addedByOthers(jsonObj(t, gitFD), live, &liveFields{live: live}, c.ig)
			var got, pointers []string
			for _, a := range added {
				got = append(got, a.field+"="+a.live)
				pointers = append(pointers, jsonptr.Join(a.tokens))
			}
			for i := range c.want {
				if i >= len(got) || !strings.HasPrefix(got[i], c.want[i]) {
					t.Fatalf("got %q, want %q", got, c.want)
				}
			}
			if len(got) != len(c.want) || !reflect.DeepEqual(pointers, c.pointer) {
				t.Fatalf("got %q at %q, want %q at %q", got, pointers, c.want, c.pointer)
			}
			if strings.Contains(strings.Join(got, " "), "PLANTED") {
				t.Fatalf("a secret value leaked: %q", got)
			}
		})
	}
}

// TestAddedToKeyedLists: in built-in kinds lists of maps are keyed (a
// container by name); a field added to an element Git declares is named by
// the element's key and removed by its index in the live list.
func TestAddedToKeyedLists(t *testing.T) {
	desired := jsonObj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
 "spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx","env":[{"name":"A","value":"1"}]}]}}}}`)
	live := withManagers(t, jsonObj(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","resourceVersion":"7"},
 "spec":{"replicas":1,"template":{"spec":{"containers":[
   {"name":"sidecar","image":"envoy"},
   {"name":"main","image":"nginx","env":[{"name":"A","value":"1"},{"name":"DB_PASSWORD","value":"PLANTED"},{"name":"B","value":"2"}]}]}}}}`),
		"flinksync", "Apply", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"main\"}":{".":{},"f:name":{},"f:image":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`,
		"kubectl-set", "Update", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{
		   "k:{\"name\":\"main\"}":{"f:env":{"k:{\"name\":\"DB_PASSWORD\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"B\"}":{".":{},"f:name":{},"f:value":{}}}},
		   "k:{\"name\":\"sidecar\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`)
	added := addedByOthers(desired, live, &liveFields{live: live}, nil)
	var got []string
	for _, a := range added {
		got = append(got, a.field+" "+jsonptr.Join(a.tokens)+" "+a.live)
	}
	want := []string{
		`spec.template.spec.containers[name="main"].env[name="B"] /spec/template/spec/containers/1/env/2 {"name":"B","value":"2"}`,
		`spec.template.spec.containers[name="main"].env[name="DB_PASSWORD"] /spec/template/spec/containers/1/env/1 {"name":"DB_PASSWORD","value":"<masked`,
		`spec.template.spec.containers[name="sidecar"] /spec/template/spec/containers/0 {"image":"envoy","name":"sidecar"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got  %s\nwant %s", got[i], want[i])
		}
	}
	// Removal: the resourceVersion first, then the last element of a list
	// before an earlier one, so that each index still names its element.
	var ops []jsonPatchOp
	if err := json.Unmarshal(removal(live, added), &ops); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, op := range ops {
		paths = append(paths, op.Op+" "+op.Path)
	}
	wantOps := []string{"test /metadata/resourceVersion", "remove /spec/template/spec/containers/1/env/2", "remove /spec/template/spec/containers/1/env/1", "remove /spec/template/spec/containers/0"}
	if !reflect.DeepEqual(paths, wantOps) || ops[0].Value != "7" {
		t.Errorf("patch %q (%v), want %q", paths, ops[0].Value, wantOps)
	}
}

func TestRemovalLeavesWhatAnIgnoreRuleKeeps(t *testing.T) {
	live := jsonObj(t, `{"kind":"ConfigMap","metadata":{"resourceVersion":"1"}}`)
	if removal(live, nil) != nil || removal(live, []addedField{{tokens: []string{"spec", "x"}, keep: true}}) != nil {
		t.Fatal("nothing to remove: no patch")
	}
	got := string(removal(live, []addedField{{tokens: []string{"metadata", "annotations", "example.com/a~b"}}, {tokens: []string{"spec", "x"}, keep: true}}))
	if got != `[{"op":"test","path":"/metadata/resourceVersion","value":"1"},{"op":"remove","path":"/metadata/annotations/example.com~1a~0b"}]` {
		t.Errorf("patch %s", got)
	}
}

func TestDriftable(t *testing.T) {
	for p, want := range map[string]bool{
		`{"f:spec":{"f:x":{}}}`: true, `{"f:data":{"f:k":{}}}`: true, `{"f:status":{"f:x":{}}}`: false,
		`{"f:metadata":{"f:labels":{"f:a":{}}}}`: true, `{"f:metadata":{"f:annotations":{"f:a":{}}}}`: true,
		`{"f:metadata":{"f:finalizers":{"v:\"x\"":{}}}}`: false, `{"f:metadata":{"f:ownerReferences":{}}}`: false,
		`{"f:metadata":{"f:labels":{}}}`: false, `{"f:kind":{}}`: false,
	} {
		live := withManagers(t, jsonObj(t, `{"kind":"ConfigMap","metadata":{}}`), "x", "Update", p)
		sets := managedSets(live, nil)
		if len(sets) != 1 {
			t.Fatalf("%s: %d sets", p, len(sets))
		}
		got := false
		for leaf := range sets[0].set.Leaves().All() {
			got = driftable(leaf)
		}
		if got != want {
			t.Errorf("%s: driftable %v, want %v", p, got, want)
		}
	}
}

// TestReadFieldsReadsAsFromJSON: reading fieldsV1 from the unstructured
// object gives the set the library's own JSON reader gives.
func TestReadFieldsReadsAsFromJSON(t *testing.T) {
	for _, raw := range []string{
		ourFields,
		`{"f:metadata":{"f:labels":{".":{},"f:a":{}},"f:finalizers":{".":{},"v:\"x\"":{}}},"f:spec":{"f:podTemplate":{}}}`,
		`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"main\"}":{".":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:value":{}}}},"i:3":{}}}}}}`,
		`{"f:spec":{"z:unknown":{},"f:a":{".":{}}}}`,
		`{}`,
	} {
		var fields map[string]any
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			t.Fatal(err)
		}
		want, got := &fieldpath.Set{}, &fieldpath.Set{}
		if err := want.FromJSON(strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		if err := readFields(fields, got); err != nil || !got.Equals(want) || !got.Leaves().Equals(want.Leaves()) {
			t.Errorf("%s:\n got  %v (%v)\n want %v", raw, got, err, want)
		}
	}
	if err := readFields(map[string]any{"k:{nope": map[string]any{}}, &fieldpath.Set{}); err == nil {
		t.Error("a key that does not parse is an error")
	}
}

func BenchmarkManagedSets(b *testing.B) {
	live := withManagers(&testing.T{}, jsonObj(&testing.T{}, gitFD), "flinksync", "Apply", ourFields, "kubectl-edit", "Update", `{"f:spec":{"f:job":{"f:parallelism":{}}}}`)
	for b.Loop() {
		managedSets(live, nil)
	}
}
