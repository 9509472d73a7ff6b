package testenv_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/testenv"
)

// cfkExamples is the folder, relative to the repository root, of Confluent's
// own CFK 3.3 manifests for Flink SQL: what they hold is valid by definition.
const cfkExamples = "../shared/reference/cfk-3.3.0/examples"

// sqlRequired lists, per CFK SQL kind, the top-level spec fields the real
// CFK 3.3.0 CRD requires: an object with only these (from Confluent's
// example) is accepted, and one without any of them refused.
var sqlRequired = map[string][]string{
	"FlinkComputePool":              {"type", "flinkEnvironment", "clusterSpec"},
	"FlinkStatement":                {"flinkEnvironment", "computePoolName", "statement"},
	"FlinkKafkaCatalog":             {"flinkEnvironment", "srInstance"},
	"FlinkKafkaDatabase":            {"flinkEnvironment", "catalogRef", "kafkaCluster"},
	"FlinkSecret":                   {"secretRef"},
	"FlinkEnvironmentSecretMapping": {"flinkEnvironment", "secretRef"},
}

// shared returns the path of rel (relative to the repository root) when it
// exists; it fails the test when it does not and the control plane is
// required (CI has ../shared beside the checkout), and skips it otherwise.
func shared(t *testing.T, rel string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		if testenv.Required() {
			t.Fatalf("%s must exist (CI has it beside the checkout): %v", p, err)
		}
		t.Skipf("%s is not there (CI has it beside the checkout)", p)
	}
	return p
}

// cfkExampleObjects returns the CFK objects of Confluent's examples, keyed
// by kind and name, moved to namespace ns.
func cfkExampleObjects(t *testing.T, ns string) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shared(t, cfkExamples), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", cfkExamples, err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if u.Object == nil || u.GroupVersionKind().Group != testenv.CFKGroup {
				continue
			}
			u.SetNamespace(ns)
			out[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return out
}

// example returns a copy of Confluent's example key (kind/name), or fails.
func example(t *testing.T, examples map[string]*unstructured.Unstructured, key string) *unstructured.Unstructured {
	t.Helper()
	u, ok := examples[key]
	if !ok {
		t.Fatalf("Confluent's examples have no %s", key)
	}
	return u.DeepCopy()
}

// sqlExamples are the examples of each CFK SQL kind the tests start from.
var sqlExamples = []string{
	"FlinkComputePool/dedicated-pool",
	"FlinkComputePool/shared-pool",
	"FlinkStatement/create-pageviews",
	"FlinkStatement/pageviews-by-user",
	"FlinkKafkaCatalog/kafka-catalog",
	"FlinkKafkaDatabase/clickstream",
	"FlinkSecret/flink-connection-secret",
	"FlinkEnvironmentSecretMapping/flink-connection-secret",
}

// minimal returns a copy of u with only the spec fields its kind requires.
func minimal(u *unstructured.Unstructured) *unstructured.Unstructured {
	m := u.DeepCopy()
	full, _ := m.Object["spec"].(map[string]any)
	spec := map[string]any{}
	for _, f := range sqlRequired[u.GetKind()] {
		if v, ok := full[f]; ok {
			spec[f] = v
		}
	}
	m.Object["spec"] = spec
	return m
}

// bothJudges runs check against the project's CRDs, then against the real
// CFK 3.3.0 CRDs served in their place.
func bothJudges(t *testing.T, check func(t *testing.T, cfg *rest.Config)) {
	cfg := testenv.Config(t)
	t.Run("project CRDs", func(t *testing.T) { check(t, cfg) })
	t.Run("real CRDs", func(t *testing.T) {
		kinds := testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs)
		for k := range sqlRequired {
			if !slices.Contains(kinds, k) {
				t.Fatalf("the real CFK CRDs lack %s (have %v)", k, kinds)
			}
		}
		check(t, cfg)
	})
}

type objectCase struct {
	name   string
	obj    *unstructured.Unstructured
	reject string // in the error; "" when accepted
}

// judge dry-runs each case and fails those not decided as they say.
func judge(t *testing.T, cfg *rest.Config, cases []objectCase) {
	t.Helper()
	for _, tc := range cases {
		f := testenv.DryRunApply(t, cfg, []*unstructured.Unstructured{tc.obj})
		switch {
		case tc.reject == "" && len(f) > 0:
			t.Errorf("%s: must be accepted, got %v", tc.name, f)
		case tc.reject != "" && (len(f) != 1 || !strings.Contains(f[0], tc.reject)):
			t.Errorf("%s: must be refused with %q, got %v", tc.name, tc.reject, f)
		}
	}
}

// The project's CFK SQL CRDs and the real CFK 3.3.0 ones both accept
// Confluent's examples, and the same examples with only the required
// fields; both refuse undeclared fields, values of the wrong type, enum or
// pattern, and missing required fields.
func TestCFKSQLKindsJudgedLikeTheRealCRDs(t *testing.T) {
	ns := "testenv-cfk-sql"
	ex := cfkExampleObjects(t, ns)
	var cases []objectCase
	for _, key := range sqlExamples {
		u := example(t, ex, key)
		cases = append(cases, objectCase{"Confluent's " + key, u, ""}, objectCase{"minimal " + key, minimal(u), ""})
		bad := u.DeepCopy()
		bad.Object["spec"].(map[string]any)["bogusField"] = "x"
		cases = append(cases, objectCase{key + " with an undeclared field", bad, "spec.bogusField"})
		for _, f := range sqlRequired[u.GetKind()] {
			m := minimal(u)
			unstructured.RemoveNestedField(m.Object, "spec", f)
			cases = append(cases, objectCase{key + " without " + f, m, "spec." + f})
		}
	}
	set := func(key string, v any, path ...string) *unstructured.Unstructured {
		u := example(t, ex, key)
		if v == nil {
			unstructured.RemoveNestedField(u.Object, path...)
		} else if err := unstructured.SetNestedField(u.Object, v, path...); err != nil {
			t.Fatal(err)
		}
		return u
	}
	const (
		dedicated = "FlinkComputePool/dedicated-pool"
		shared    = "FlinkComputePool/shared-pool"
		stmt      = "FlinkStatement/pageviews-by-user"
		catalog   = "FlinkKafkaCatalog/kafka-catalog"
		database  = "FlinkKafkaDatabase/clickstream"
		secret    = "FlinkSecret/flink-connection-secret"
		mapping   = "FlinkEnvironmentSecretMapping/flink-connection-secret"
	)
	cases = append(cases, []objectCase{
		{"pool type not DEDICATED or SHARED", set(dedicated, "BURST", "spec", "type"), "spec.type"},
		{"pool type in lower case", set(shared, "shared", "spec", "type"), "spec.type"},
		{"pool state not RUNNING or SUSPENDED", set(shared, "PAUSED", "spec", "state"), "spec.state"},
		{"state on a DEDICATED pool", set(dedicated, "RUNNING", "spec", "state"), "only valid for SHARED compute pools"},
		{"SHARED pool without state", set(shared, nil, "spec", "state"), ""},
		{"suspended SHARED pool", set(shared, "SUSPENDED", "spec", "state"), ""},
		{"pool with an empty flinkEnvironment", set(dedicated, "", "spec", "flinkEnvironment"), "spec.flinkEnvironment"},
		{"statement a number", set(stmt, int64(42), "spec", "statement"), "spec.statement"},
		{"computePoolName a number", set(stmt, int64(1), "spec", "computePoolName"), "spec.computePoolName"},
		{"parallelism a string", set(stmt, "4", "spec", "parallelism"), "spec.parallelism"},
		{"parallelism", set(stmt, int64(4), "spec", "parallelism"), ""},
		{"stopped a string", set(stmt, "yes", "spec", "stopped"), "spec.stopped"},
		{"stopped", set(stmt, true, "spec", "stopped"), ""},
		{"properties with a number", set(stmt, map[string]any{"sql.current-catalog": int64(1)}, "spec", "properties"), "spec.properties"},
		{"current catalog and database", set(stmt, map[string]any{"sql.current-catalog": "kafka-catalog", "sql.current-database": "clickstream"}, "spec", "properties"), ""},
		{"flinkConfiguration with a number", set(stmt, int64(10), "spec", "flinkConfiguration", "execution.checkpointing.interval"), "spec.flinkConfiguration"},
		{"undeclared startFromSavepoint field", set(stmt, "x", "spec", "startFromSavepoint", "path"), "spec.startFromSavepoint.path"},
		{"start from a savepoint", set(stmt, map[string]any{"savepointName": "sp-1", "allowNonRestoredState": true}, "spec", "startFromSavepoint"), ""},
		{"catalog without connectionConfig", set(catalog, nil, "spec", "srInstance", "connectionConfig"), "spec.srInstance.connectionConfig"},
		{"catalog connectionConfig with a number", set(catalog, int64(8081), "spec", "srInstance", "connectionConfig", "schema.registry.port"), "spec.srInstance.connectionConfig"},
		{"catalog connectionSecretId a number", set(catalog, int64(1), "spec", "srInstance", "connectionSecretId"), "spec.srInstance.connectionSecretId"},
		{"database catalogRef without name", set(database, map[string]any{}, "spec", "catalogRef"), "spec.catalogRef.name"},
		{"database catalogRef a string", set(database, "kafka-catalog", "spec", "catalogRef"), "spec.catalogRef"},
		{"database without kafka connectionConfig", set(database, nil, "spec", "kafkaCluster", "connectionConfig"), "spec.kafkaCluster.connectionConfig"},
		{"database bootstrap servers a number", set(database, int64(9071), "spec", "kafkaCluster", "connectionConfig", "bootstrap.servers"), "spec.kafkaCluster.connectionConfig"},
		{"database connectionSecretRef a string", set(database, "flink-connection-secret", "spec", "connectionSecretRef"), "spec.connectionSecretRef"},
		{"database ddlEnvironments a string", set(database, "flink-env1", "spec", "ddlEnvironments"), "spec.ddlEnvironments"},
		{"secretRef a number", set(secret, int64(7), "spec", "secretRef"), "spec.secretRef"},
		{"FlinkSecret secretRef an object", set(secret, map[string]any{"name": "flink-connection-credentials"}, "spec", "secretRef"), "spec.secretRef"},
		{"secretRef not a DNS label", set(secret, "Flink_Credentials", "spec", "secretRef"), "spec.secretRef"},
		{"secretRef of 64 characters", set(secret, strings.Repeat("a", 64), "spec", "secretRef"), "spec.secretRef"},
		{"secretRef of 63 characters", set(secret, strings.Repeat("a", 63), "spec", "secretRef"), ""},
		{"mapping secretRef a string", set(mapping, "flink-connection-secret", "spec", "secretRef"), "spec.secretRef"},
		{"mapping secretRef with an empty name", set(mapping, "", "spec", "secretRef", "name"), "spec.secretRef.name"},
		{"mapping without flinkEnvironment", set(mapping, nil, "spec", "flinkEnvironment"), "spec.flinkEnvironment"},
	}...)
	for i := range cases {
		cases[i].obj.SetName(fmt.Sprintf("case-%d", i))
	}
	bothJudges(t, func(t *testing.T, cfg *rest.Config) { judge(t, cfg, cases) })
}

// An update that changes a field CFK holds immutable (the SQL text of a
// statement, a pool's type, an environment's namespace, the environment of
// every kind that has one) is refused with the field's name by the
// project's CRDs as by the real ones; changing whether a statement runs, its
// parallelism or a pool's state is not. flinksync replaces objects rather
// than make such a change: integration tests on these CRDs prove it never
// tries.
func TestCFKImmutableFields(t *testing.T) {
	ns := "testenv-cfk-immutable"
	cfg := testenv.Config(t)
	testenv.CreateNamespace(t, cfg, ns)
	ex := cfkExampleObjects(t, ns)
	dc := dynamicClient(t)
	ctx := ctxFor(t)
	unset := example(t, ex, "FlinkStatement/pageviews-by-user")
	unset.SetName("statement-not-set")
	_ = unstructured.SetNestedField(unset.Object, "", "spec", "statement")
	ex["FlinkStatement/statement-not-set"] = unset
	for _, key := range []string{
		"FlinkEnvironment/flink-env1", "FlinkApplication/flink-app1", "FlinkComputePool/shared-pool",
		"FlinkStatement/pageviews-by-user", "FlinkStatement/statement-not-set", "FlinkKafkaCatalog/kafka-catalog",
		"FlinkKafkaDatabase/clickstream", "FlinkEnvironmentSecretMapping/flink-connection-secret",
	} {
		u := example(t, ex, key)
		gvr := schema.GroupVersionResource{Group: testenv.CFKGroup, Version: "v1beta1", Resource: strings.ToLower(u.GetKind()) + "s"}
		if _, err := apply(ctx, dc, gvr, u); err != nil {
			t.Fatalf("creating %s: %v", key, err)
		}
		t.Cleanup(func() {
			_ = dc.Resource(gvr).Namespace(ns).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
		})
	}

	change := func(key string, v any, path ...string) *unstructured.Unstructured {
		u := example(t, ex, key)
		if err := unstructured.SetNestedField(u.Object, v, path...); err != nil {
			t.Fatal(err)
		}
		return u
	}
	dedicated := change("FlinkComputePool/shared-pool", "DEDICATED", "spec", "type")
	unstructured.RemoveNestedField(dedicated.Object, "spec", "state")
	const immutable = "flinkEnvironment is immutable"
	cases := []objectCase{
		{"new SQL text", change("FlinkStatement/pageviews-by-user", "INSERT INTO t SELECT 1;", "spec", "statement"), "statement is immutable once running"},
		{"statement's environment", change("FlinkStatement/pageviews-by-user", "flink-env2", "spec", "flinkEnvironment"), immutable},
		{"pool's type", dedicated, "type is immutable"},
		{"pool's environment", change("FlinkComputePool/shared-pool", "flink-env2", "spec", "flinkEnvironment"), immutable},
		{"catalog's environment", change("FlinkKafkaCatalog/kafka-catalog", "flink-env2", "spec", "flinkEnvironment"), immutable},
		{"database's environment", change("FlinkKafkaDatabase/clickstream", "flink-env2", "spec", "flinkEnvironment"), immutable},
		{"mapping's environment", change("FlinkEnvironmentSecretMapping/flink-connection-secret", "flink-env2", "spec", "flinkEnvironment"), immutable},
		{"application's environment", change("FlinkApplication/flink-app1", "flink-env2", "spec", "flinkEnvironment"), immutable},
		{"environment's namespace", change("FlinkEnvironment/flink-env1", "flink-other", "spec", "kubernetesNamespace"), "kubernetesNamespace is immutable"},

		{"statement stopped", change("FlinkStatement/pageviews-by-user", true, "spec", "stopped"), ""},
		{"statement's parallelism", change("FlinkStatement/pageviews-by-user", int64(4), "spec", "parallelism"), ""},
		{"statement's properties", change("FlinkStatement/pageviews-by-user", map[string]any{"sql.current-catalog": "kafka-catalog"}, "spec", "properties"), ""},
		{"SQL text set where it was empty", change("FlinkStatement/statement-not-set", "INSERT INTO t SELECT 1;", "spec", "statement"), ""},
		{"pool suspended", change("FlinkComputePool/shared-pool", "SUSPENDED", "spec", "state"), ""},
		{"pool's cluster spec", change("FlinkComputePool/shared-pool", "v1_20", "spec", "clusterSpec", "flinkVersion"), ""},
		{"database's DDL environments", change("FlinkKafkaDatabase/clickstream", []any{"flink-env1", "flink-env2"}, "spec", "ddlEnvironments"), ""},
	}
	bothJudges(t, func(t *testing.T, cfg *rest.Config) { judge(t, cfg, cases) })
}

// The project's CFK SQL CRDs declare what the real CFK 3.3.0 CRDs declare,
// field by field: names, scope, the status subresource, and in the schema
// every field with its type, format, enum, pattern, bounds, default,
// required list, kept unknown fields and CEL rules. Only descriptions,
// comments and printer columns differ.
func TestCFKSQLCRDsMatchTheRealOnes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(shared(t, testenv.RealCFKCRDs), "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		real[crd.Spec.Names.Kind] = crd
	}
	ours, err := testenv.CRDObjects()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, crd := range ours {
		kind := crd.Spec.Names.Kind
		if _, ok := sqlRequired[kind]; !ok {
			continue
		}
		compared++
		r, ok := real[kind]
		if !ok {
			t.Errorf("no real CRD for %s", kind)
			continue
		}
		for _, d := range crdDiff(crd, r) {
			t.Errorf("%s: %s", kind, d)
		}
	}
	if compared != len(sqlRequired) {
		t.Errorf("compared %d CFK SQL CRDs, want %d", compared, len(sqlRequired))
	}
}

// crdDiff lists where ours and real differ in what they serve and accept.
func crdDiff(ours, real *apiextensionsv1.CustomResourceDefinition) []string {
	var diffs []string
	if ours.Name != real.Name || ours.Spec.Group != real.Spec.Group || ours.Spec.Scope != real.Spec.Scope ||
		!equality.Semantic.DeepEqual(ours.Spec.Names, real.Spec.Names) {
		diffs = append(diffs, fmt.Sprintf("name, group, scope or names differ: %s %s %s %+v, real %s %s %s %+v",
			ours.Name, ours.Spec.Group, ours.Spec.Scope, ours.Spec.Names, real.Name, real.Spec.Group, real.Spec.Scope, real.Spec.Names))
	}
	if len(ours.Spec.Versions) != len(real.Spec.Versions) {
		return append(diffs, fmt.Sprintf("%d versions, real %d", len(ours.Spec.Versions), len(real.Spec.Versions)))
	}
	for i, o := range ours.Spec.Versions {
		r := real.Spec.Versions[i]
		if o.Name != r.Name || o.Served != r.Served || o.Storage != r.Storage || !equality.Semantic.DeepEqual(o.Subresources, r.Subresources) {
			diffs = append(diffs, fmt.Sprintf("version %s served %v storage %v subresources %+v, real %s %v %v %+v",
				o.Name, o.Served, o.Storage, o.Subresources, r.Name, r.Served, r.Storage, r.Subresources))
		}
		diffs = append(diffs, schemaDiff(o.Name, o.Schema.OpenAPIV3Schema, r.Schema.OpenAPIV3Schema)...)
	}
	return diffs
}

// schemaDiff lists the paths under path where ours and real differ in
// anything but descriptions.
func schemaDiff(path string, ours, real *apiextensionsv1.JSONSchemaProps) []string {
	if ours == nil || real == nil {
		if (ours == nil) != (real == nil) {
			return []string{fmt.Sprintf("%s: ours %v, real %v", path, ours != nil, real != nil)}
		}
		return nil
	}
	var diffs []string
	if a, b := own(ours), own(real); !equality.Semantic.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		diffs = append(diffs, fmt.Sprintf("%s: ours %s, real %s", path, ja, jb))
	}
	var names []string
	for n := range ours.Properties {
		names = append(names, n)
	}
	for n := range real.Properties {
		if _, ok := ours.Properties[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		o, inOurs := ours.Properties[n]
		r, inReal := real.Properties[n]
		switch {
		case !inOurs:
			diffs = append(diffs, path+"."+n+": only in the real CRD")
		case !inReal:
			diffs = append(diffs, path+"."+n+": only in ours")
		default:
			diffs = append(diffs, schemaDiff(path+"."+n, &o, &r)...)
		}
	}
	diffs = append(diffs, schemaDiff(path+"[]", itemSchema(ours), itemSchema(real))...)
	return append(diffs, schemaDiff(path+".*", valueSchema(ours), valueSchema(real))...)
}

// own returns s without its children and description, its lists sorted.
func own(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	c := s.DeepCopy()
	c.Properties, c.Items, c.Description = nil, nil, ""
	if c.AdditionalProperties != nil {
		c.AdditionalProperties.Schema = nil
	}
	slices.Sort(c.Required)
	slices.SortFunc(c.XValidations, func(a, b apiextensionsv1.ValidationRule) int { return strings.Compare(a.Rule, b.Rule) })
	if c.XPreserveUnknownFields != nil && !*c.XPreserveUnknownFields {
		c.XPreserveUnknownFields = nil
	}
	return c
}

func itemSchema(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	if s.Items == nil {
		return nil
	}
	return s.Items.Schema
}

func valueSchema(s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	if s.AdditionalProperties == nil {
		return nil
	}
	return s.AdditionalProperties.Schema
}

// cfkFreeForm lists, per CFK kind, the parts of its schema that keep
// unknown fields besides a podTemplate, as the real CFK 3.3.0 CRDs do
// (TestCRDsAreStrict).
var cfkFreeForm = map[string][]string{
	"FlinkEnvironment": {".spec.computePoolDefaults"},
	"FlinkComputePool": {".spec.clusterSpec", ".status"},
	"FlinkStatement":   {".status.traits.schema.columns[].type"},
}
