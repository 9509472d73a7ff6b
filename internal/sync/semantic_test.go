package sync

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/render"
)

// gitObj reads a literal object written in YAML, numbers as JSON decodes them
// (float64), the way the pipeline hands objects to sync.
func gitObj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// liveObj reads a literal object the way the API server's answer decodes
// (integers as int64).
func liveObj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

func fields(ds []FieldDiff) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Field)
	}
	return out
}

// TestCompareAsTheServerSees: the local pre-check finds no difference
// where the server stores the same value written another way, and still
// finds every real change.
func TestCompareAsTheServerSees(t *testing.T) {
	for _, tc := range []struct {
		name, desired, live string
		want                []string
	}{
		{"quota quantities", `
kind: ResourceQuota
spec: {hard: {requests.cpu: 1000m, requests.memory: 1024Mi, limits.cpu: 0.5, pods: 10}}`, `
kind: ResourceQuota
spec: {hard: {requests.cpu: "1", requests.memory: 1Gi, limits.cpu: 500m, pods: "10"}}`, nil},
		{"quota changed", `
kind: ResourceQuota
spec: {hard: {requests.cpu: 1500m, requests.memory: 1024Mi}}`, `
kind: ResourceQuota
spec: {hard: {requests.cpu: "1", requests.memory: 1Gi}}`, []string{`spec.hard["requests.cpu"]`}},
		{"pod template quantities in a list", `
kind: Deployment
spec: {template: {spec: {containers: [{name: a, resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {memory: 0.5Gi}}}]}}}`, `
kind: Deployment
spec: {template: {spec: {containers: [{name: a, image: x, imagePullPolicy: Always, resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {memory: 512Mi}}}]}}}`, nil},
		{"pod template quantity changed", `
kind: Deployment
spec: {template: {spec: {containers: [{name: a, resources: {limits: {memory: 1Gi}}}]}}}`, `
kind: Deployment
spec: {template: {spec: {containers: [{name: a, resources: {limits: {memory: 512Mi}}}]}}}`, []string{"spec.template.spec.containers"}},
		{"FKO pod template and emptyDir", `
kind: FlinkDeployment
spec: {podTemplate: {spec: {volumes: [{name: t, emptyDir: {sizeLimit: 1024Mi}}], containers: [{name: flink-main-container, resources: {requests: {cpu: "1"}}}]}}}`, `
kind: FlinkDeployment
spec: {podTemplate: {spec: {volumes: [{name: t, emptyDir: {sizeLimit: 1Gi}}], containers: [{name: flink-main-container, resources: {requests: {cpu: 1000m}}}]}}}`, nil},
		{"limit range", `
kind: LimitRange
spec: {limits: [{type: Container, default: {cpu: 0.5}, max: {memory: 2048Mi}}]}`, `
kind: LimitRange
spec: {limits: [{type: Container, default: {cpu: 500m}, max: {memory: 2Gi}}]}`, nil},
		// Flink's memory strings are not quantities: "1024m" is 1024 MiB
		// to Flink and 1.024 to Kubernetes; nothing rewrites them.
		{"not a quantity path", `
kind: FlinkDeployment
spec: {jobManager: {resource: {memory: 1024m}}, flinkConfiguration: {taskmanager.memory.process.size: 1g}}`, `
kind: FlinkDeployment
spec: {jobManager: {resource: {memory: 1.024}}, flinkConfiguration: {taskmanager.memory.process.size: 1024m}}`,
			[]string{`spec.flinkConfiguration["taskmanager.memory.process.size"]`, "spec.jobManager.resource.memory"}},
		{"config map data that reads as a quantity", `
kind: ConfigMap
data: {limit: 1000m}`, `
kind: ConfigMap
data: {limit: "1"}`, []string{"data.limit"}},
		{"numbers int and float", `
kind: FlinkDeployment
spec: {taskManager: {replicas: 2, resource: {cpu: 1.0}}, job: {parallelism: 4}}`, `
kind: FlinkDeployment
spec: {taskManager: {replicas: 2, resource: {cpu: 1}}, job: {parallelism: 4.0}}`, nil},
		{"number changed", `
kind: FlinkDeployment
spec: {taskManager: {resource: {cpu: 1.5}}}`, `
kind: FlinkDeployment
spec: {taskManager: {resource: {cpu: 1}}}`, []string{"spec.taskManager.resource.cpu"}},
		{"int-or-string ports", `
kind: Service
spec: {ports: [{name: rest, port: 8081, targetPort: 8081}, {name: ui, port: 80, targetPort: rest}]}`, `
kind: Service
spec: {ports: [{name: rest, port: 8081, protocol: TCP, targetPort: 8081}, {name: ui, port: 80, protocol: TCP, targetPort: rest}]}`, nil},
		// A port number written as a string is another value to the
		// server (a port name): the server decides, so the pre-check says
		// "maybe different".
		{"int-or-string spelled as a string", `
kind: Service
spec: {ports: [{port: 80, targetPort: "8081"}]}`, `
kind: Service
spec: {ports: [{port: 80, protocol: TCP, targetPort: 8081}]}`, []string{"spec.ports"}},
		{"nested list of a different length", `
kind: FlinkDeployment
spec: {podTemplate: {spec: {tolerations: [{key: a}, {key: b}]}}}`, `
kind: FlinkDeployment
spec: {podTemplate: {spec: {tolerations: [{key: a, operator: Equal}]}}}`, []string{"spec.podTemplate.spec.tolerations"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fields(compare(gitObj(t, tc.desired), liveObj(t, tc.live)))
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("diffs %q, want %q", got, want)
			}
		})
	}
}

// TestSameScalar covers the scalar rules on their own: numbers whatever
// their Go type, quantities only at quantity paths, never a string with a
// number elsewhere.
func TestSameScalar(t *testing.T) {
	hard := []string{"spec", "hard", "pods"}
	cpu := []string{"spec", "containers", listElem, "resources", "limits", "cpu"}
	other := []string{"spec", "replicas"}
	for _, tc := range []struct {
		kind string
		path []string
		a, b any
		want bool
	}{
		{"X", other, int64(3), float64(3), true},
		{"X", other, json.Number("3"), int64(3), true},
		{"X", other, int64(3), "3", false},
		{"X", other, "1000m", "1", false},
		{"ResourceQuota", hard, float64(10), "10", true},
		{"ResourceQuota", hard, "1k", "1000", true},
		{"ResourceQuota", hard, "1k", "1001", false},
		{"ConfigMap", hard, "1k", "1000", false},
		{"Pod", cpu, "100m", "0.1", true},
		{"Pod", cpu, "100m", nil, false},
		{"Pod", cpu, "not-a-quantity", "not-a-quantity", true},
		{"Pod", cpu, "x", "y", false},
		{"X", other, nil, nil, true},
		{"X", other, true, true, true},
		{"X", other, true, "true", false},
	} {
		if got := sameScalar(tc.kind, tc.path, tc.a, tc.b); got != tc.want {
			t.Errorf("sameScalar(%s, %v, %#v, %#v) = %v, want %v", tc.kind, tc.path, tc.a, tc.b, got, tc.want)
		}
	}
}

// TestServerCompare: the dry run's object against the live one. The
// metadata the server rewrites on every write, status and the revision
// annotation are no difference; a field only live has is one applying
// removes; lists compare as a whole, their elements semantically.
func TestServerCompare(t *testing.T) {
	live := liveObj(t, `
apiVersion: v1
kind: Service
metadata:
  name: s
  namespace: n
  resourceVersion: "41"
  generation: 1
  uid: u1
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields: [{manager: flinksync, operation: Apply}]
  labels: {app: x, old: z}
  annotations: {`+render.AnnRevision+`: rev1}
spec:
  clusterIP: 10.0.0.7
  ports: [{name: rest, port: 8081, protocol: TCP, targetPort: 8081}]
status: {loadBalancer: {}}
`)
	same := live.DeepCopy()
	same.SetResourceVersion("42")
	same.SetGeneration(2)
	same.SetAnnotations(map[string]string{render.AnnRevision: "rev2"})
	same.SetManagedFields(nil)
	same.Object["status"] = map[string]any{"x": "y"}
	if d := serverCompare(same, live); len(d) != 0 {
		t.Errorf("the same object as the server would store it: %+v", d)
	}
	changed := same.DeepCopy()
	unstructured.SetNestedSlice(changed.Object, []any{map[string]any{"name": "rest", "port": int64(8082), "protocol": "TCP", "targetPort": int64(8081)}}, "spec", "ports")
	changed.SetLabels(map[string]string{"app": "x"})
	got := serverCompare(changed, live)
	want := []FieldDiff{
		{Field: "metadata.labels.old", Desired: removedFromGit, Live: "z"},
		{Field: "spec.ports", Desired: `[{"name":"rest","port":8082,"protocol":"TCP","targetPort":8081}]`,
			Live: `[{"name":"rest","port":8081,"protocol":"TCP","targetPort":8081}]`},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestServerCompareMasksSecrets: the field diffs of a dry run mask secret
// values as compare's do.
func TestServerCompareMasksSecrets(t *testing.T) {
	const marker = "c2VjcmV0LXZhbHVlLTE=" // base64 of secret-value-1
	live := liveObj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: "+marker+"}\n")
	dry := liveObj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: c2VjcmV0LXZhbHVlLTI=, user: YQ==}\n")
	diffs := serverCompare(dry, live)
	if len(diffs) != 2 {
		t.Fatalf("want the changed and the new key: %+v", diffs)
	}
	for _, d := range append(diffs, compare(dry, live)...) {
		for _, v := range []string{d.Desired, d.Live} {
			if v == "<none>" {
				continue // the key is not there
			}
			if strings.Contains(v, "c2VjcmV0") || strings.Contains(v, "YQ==") || !strings.Contains(v, "masked") {
				t.Errorf("%s shows a secret value: %q", d.Field, v)
			}
		}
	}
}

// TestServerView: a unified diff shows Git's object as the server stores
// it, and keeps what the server does not echo (a Secret's stringData).
func TestServerView(t *testing.T) {
	desired := gitObj(t, "kind: ResourceQuota\nspec: {hard: {requests.cpu: 1000m}}\nstringData: {a: b}\n").Object
	dry := liveObj(t, "kind: ResourceQuota\nspec: {hard: {requests.cpu: \"1\", pods: \"3\"}}\n").Object
	got := serverView(desired, dry)
	if v, _, _ := unstructured.NestedString(got, "spec", "hard", "requests.cpu"); v != "1" {
		t.Errorf("requests.cpu %q, want the server's 1", v)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(got, "spec", "hard", "pods"); ok {
		t.Error("a field Git does not set is not shown")
	}
	if v, _, _ := unstructured.NestedString(got, "stringData", "a"); v != "b" {
		t.Error("stringData, which the server does not echo, is kept")
	}
	if serverView(desired, nil)["stringData"] == nil {
		t.Error("without a dry run, the view is desired")
	}
}
