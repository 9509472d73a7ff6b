package testenv_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const fieldManager = "flinksync-test"

var (
	namespaceGVR        = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	flinkDeploymentGVR  = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
	flinkSessionJobGVR  = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinksessionjobs"}
	flinkEnvironmentGVR = schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "flinkenvironments"}
	flinkApplicationGVR = schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "flinkapplications"}
	cmfRestClassGVR     = schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "cmfrestclasses"}
)

// object parses a YAML manifest for a test.
func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("parsing test manifest: %v\n%s", err, manifest)
	}
	return u
}

func dynamicClient(t *testing.T) *dynamic.DynamicClient {
	t.Helper()
	dc, err := dynamic.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatalf("creating dynamic client: %v", err)
	}
	return dc
}

// apply server-side applies obj as fieldManager and returns the server's answer.
func apply(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	var ri dynamic.ResourceInterface = dc.Resource(gvr)
	if ns := obj.GetNamespace(); ns != "" {
		ri = dc.Resource(gvr).Namespace(ns)
	}
	return ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantString(t *testing.T, obj *unstructured.Unstructured, want string, path ...string) {
	t.Helper()
	got, found, err := unstructured.NestedString(obj.Object, path...)
	if err != nil || !found || got != want {
		t.Errorf("%s = %q (found %v, err %v), want %q", strings.Join(path, "."), got, found, err, want)
	}
}

func wantInt(t *testing.T, obj *unstructured.Unstructured, want int64, path ...string) {
	t.Helper()
	got, found, err := unstructured.NestedInt64(obj.Object, path...)
	if err != nil || !found || got != want {
		t.Errorf("%s = %d (found %v, err %v), want %d", strings.Join(path, "."), got, found, err, want)
	}
}

const flinkDeploymentYAML = `
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: testenv-apply
  labels:
    app.kubernetes.io/managed-by: flinksync
spec:
  image: flink:1.20
  imagePullPolicy: IfNotPresent
  flinkVersion: v1_20
  serviceAccount: flink
  mode: native
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    state.backend.type: rocksdb
  logConfiguration:
    log4j-console.properties: "rootLogger.level = INFO"
  restartNonce: 3
  podTemplate:
    spec:
      containers:
        - name: flink-main-container
          env:
            - name: TZ
              value: UTC
  jobManager:
    replicas: 1
    resource: {cpu: 0.5, memory: 1024m, ephemeralStorage: 1Gi}
  taskManager:
    replicas: 2
    resource: {cpu: 1, memory: 2g}
  job:
    jarURI: local:///opt/flink/usrlib/orders.jar
    entryClass: com.example.Orders
    args: [--topic, orders]
    parallelism: 4
    upgradeMode: savepoint
    state: running
    savepointTriggerNonce: 1
    initialSavepointPath: s3://bucket/savepoints/sp-1
    allowNonRestoredState: false
  ingress:
    template: "{{name}}.flink.example.com"
    className: nginx
    annotations: {nginx.ingress.kubernetes.io/rewrite-target: /}
`

// (a) A Namespace and a FlinkDeployment go in by server-side apply and come
// back with their fields.
func TestApplyAndReadBack(t *testing.T) {
	dc := dynamicClient(t)
	ctx := ctxFor(t)

	ns := object(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: testenv-apply\n  labels: {team: data}\n")
	if _, err := apply(ctx, dc, namespaceGVR, ns); err != nil {
		t.Fatalf("applying namespace: %v", err)
	}
	gotNS, err := dc.Resource(namespaceGVR).Get(ctx, "testenv-apply", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading namespace back: %v", err)
	}
	wantString(t, gotNS, "data", "metadata", "labels", "team")

	if _, err := apply(ctx, dc, flinkDeploymentGVR, object(t, flinkDeploymentYAML)); err != nil {
		t.Fatalf("applying FlinkDeployment: %v", err)
	}
	got, err := dc.Resource(flinkDeploymentGVR).Namespace("testenv-apply").Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading FlinkDeployment back: %v", err)
	}
	wantString(t, got, "flink:1.20", "spec", "image")
	wantString(t, got, "v1_20", "spec", "flinkVersion")
	wantString(t, got, "2", "spec", "flinkConfiguration", "taskmanager.numberOfTaskSlots")
	wantString(t, got, "1024m", "spec", "jobManager", "resource", "memory")
	wantInt(t, got, 2, "spec", "taskManager", "replicas")
	wantInt(t, got, 4, "spec", "job", "parallelism")
	wantString(t, got, "savepoint", "spec", "job", "upgradeMode")
	containers, _, _ := unstructured.NestedSlice(got.Object, "spec", "podTemplate", "spec", "containers")
	if len(containers) != 1 || containers[0].(map[string]any)["name"] != "flink-main-container" {
		t.Errorf("spec.podTemplate.spec.containers = %v, want flink-main-container", containers)
	}
	if cpu, _, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "jobManager", "resource", "cpu"); cpu != 0.5 {
		t.Errorf("spec.jobManager.resource.cpu = %v (%T), want 0.5", cpu, cpu)
	}
	if args, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "job", "args"); !slices.Equal(args, []string{"--topic", "orders"}) {
		t.Errorf("spec.job.args = %q", args)
	}
	managers := []string{}
	for _, mf := range got.GetManagedFields() {
		managers = append(managers, mf.Manager)
	}
	if !slices.Contains(managers, fieldManager) {
		t.Errorf("managedFields managers = %v, want %q among them", managers, fieldManager)
	}

	// The short name and the printer columns are served too.
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	resources, err := cs.Discovery().ServerResourcesForGroupVersion("flink.apache.org/v1beta1")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	for _, r := range resources.APIResources {
		if r.Name == "flinkdeployments" && !slices.Contains(r.ShortNames, "flinkdep") {
			t.Errorf("flinkdeployments short names = %v, want flinkdep", r.ShortNames)
		}
	}
}

// (b) Our CRDs are strict like the operator's: server-side apply rejects an
// undeclared field and names it, and enums and types are enforced.
func TestFlinkDeploymentRejectsUndeclaredFields(t *testing.T) {
	dc := dynamicClient(t)
	ctx := ctxFor(t)
	testenv.CreateNamespace(t, testenv.Config(t), "testenv-strict")

	cases := []struct {
		name  string
		path  []string
		value any
		want  string // in the error message
	}{
		{"undeclared spec field", []string{"spec", "bogusField"}, "x", "bogusField"},
		{"undeclared job field", []string{"spec", "job", "jarUri"}, "local:///x.jar", "jarUri"},
		{"undeclared resource field", []string{"spec", "taskManager", "resource", "gpu"}, int64(1), "gpu"},
		{"bad upgradeMode", []string{"spec", "job", "upgradeMode"}, "sometimes", "upgradeMode"},
		{"bad flinkVersion", []string{"spec", "flinkVersion"}, "v1_12", "flinkVersion"},
		{"nested flinkConfiguration", []string{"spec", "flinkConfiguration", "state"}, map[string]any{"backend": "rocksdb"}, "flinkConfiguration"},
		{"numeric flinkConfiguration value", []string{"spec", "flinkConfiguration", "parallelism.default"}, int64(4), "parallelism.default"},
		{"string parallelism", []string{"spec", "job", "parallelism"}, "4", "parallelism"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, flinkDeploymentYAML)
			obj.SetNamespace("testenv-strict")
			obj.SetName("strict")
			if err := unstructured.SetNestedField(obj.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			_, err := apply(ctx, dc, flinkDeploymentGVR, obj)
			if err == nil {
				t.Fatalf("apply with %s = %v was accepted, want rejected", strings.Join(tc.path, "."), tc.value)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			// kube-apiserver v1.36 answers an undeclared field or a wrong type
			// under server-side apply with HTTP 500 and no reason ("failed to
			// create typed patch object ... field not declared in schema"), and
			// an enum or required-field violation with 422 Invalid. A caller must
			// not take that 500 for a transient failure.
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Errorf("error %v is not an API status", err)
			}
		})
	}

	// The unchanged object is accepted, so the rejections above are the fields'.
	obj := object(t, flinkDeploymentYAML)
	obj.SetNamespace("testenv-strict")
	obj.SetName("strict")
	if _, err := apply(ctx, dc, flinkDeploymentGVR, obj); err != nil {
		t.Fatalf("applying the valid FlinkDeployment: %v", err)
	}
}

// (c) The same strictness for the CFK kinds, and their required fields.
func TestCFKKindsAreStrict(t *testing.T) {
	dc := dynamicClient(t)
	ctx := ctxFor(t)
	testenv.CreateNamespace(t, testenv.Config(t), "testenv-cfk")

	rest := object(t, `
apiVersion: platform.confluent.io/v1beta1
kind: CMFRestClass
metadata: {name: default, namespace: testenv-cfk}
spec:
  cmfRest:
    endpoint: https://cmf.confluent.svc:8080
    authentication: {type: mtls}
    tls: {secretRef: cmf-client-tls}
`)
	env := object(t, `
apiVersion: platform.confluent.io/v1beta1
kind: FlinkEnvironment
metadata: {name: dev, namespace: testenv-cfk}
spec:
  kubernetesNamespace: flink-dev
  cmfRestClassRef: {name: default, namespace: testenv-cfk}
  flinkApplicationDefaults:
    metadata:
      labels: {env: dev}
    spec:
      flinkConfiguration:
        state.backend.type: rocksdb
`)
	app := object(t, `
apiVersion: platform.confluent.io/v1beta1
kind: FlinkApplication
metadata: {name: orders, namespace: testenv-cfk}
spec:
  flinkEnvironment: dev
  cmfRestClassRef: {name: default, namespace: testenv-cfk}
  image: confluentinc/cp-flink:1.19.3-cp1
  flinkVersion: v1_19
  flinkConfiguration: {taskmanager.numberOfTaskSlots: "1"}
  serviceAccount: flink
  jobManager: {resource: {cpu: 1, memory: 1024m}}
  taskManager: {resource: {cpu: 1, memory: 1024m}}
  job: {jarURI: "local:///opt/flink/examples/streaming/StateMachineExample.jar", state: running, parallelism: 1, upgradeMode: stateless}
`)
	for _, tc := range []struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}{{cmfRestClassGVR, rest}, {flinkEnvironmentGVR, env}, {flinkApplicationGVR, app}} {
		if _, err := apply(ctx, dc, tc.gvr, tc.obj); err != nil {
			t.Fatalf("applying valid %s: %v", tc.obj.GetKind(), err)
		}
	}

	cases := []struct {
		name   string
		gvr    schema.GroupVersionResource
		obj    *unstructured.Unstructured
		mutate func(map[string]any)
		want   string
	}{
		{"FlinkApplication undeclared spec field", flinkApplicationGVR, app,
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "x", "spec", "bogusField") }, "bogusField"},
		{"FlinkApplication undeclared job field", flinkApplicationGVR, app,
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "x", "spec", "job", "entrypoint") }, "entrypoint"},
		{"FlinkApplication without flinkEnvironment", flinkApplicationGVR, app,
			func(o map[string]any) { unstructured.RemoveNestedField(o, "spec", "flinkEnvironment") }, "flinkEnvironment"},
		{"FlinkEnvironment undeclared field", flinkEnvironmentGVR, env,
			func(o map[string]any) { _ = unstructured.SetNestedField(o, "x", "spec", "namespace") }, "namespace"},
		{"FlinkEnvironment without kubernetesNamespace", flinkEnvironmentGVR, env,
			func(o map[string]any) { unstructured.RemoveNestedField(o, "spec", "kubernetesNamespace") }, "kubernetesNamespace"},
		{"CMFRestClass bad authentication type", cmfRestClassGVR, rest,
			func(o map[string]any) {
				_ = unstructured.SetNestedField(o, "kerberos", "spec", "cmfRest", "authentication", "type")
			}, "authentication.type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.obj.DeepCopy()
			obj.SetName("strict-" + strings.ToLower(obj.GetKind()))
			tc.mutate(obj.Object)
			_, err := apply(ctx, dc, tc.gvr, obj)
			if err == nil {
				t.Fatalf("apply was accepted, want rejected")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// (d) Status is written through the status subresource, as the operator
// would; writing it with the main resource is ignored.
func TestStatusSubresource(t *testing.T) {
	dc := dynamicClient(t)
	ctx := ctxFor(t)
	testenv.CreateNamespace(t, testenv.Config(t), "testenv-status")
	fd := dc.Resource(flinkDeploymentGVR).Namespace("testenv-status")

	obj := object(t, flinkDeploymentYAML)
	obj.SetNamespace("testenv-status")
	created, err := apply(ctx, dc, flinkDeploymentGVR, obj)
	if err != nil {
		t.Fatalf("applying FlinkDeployment: %v", err)
	}

	status := object(t, `
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: testenv-status}
status:
  jobStatus:
    jobName: orders
    jobId: 4a1f2c3d4e5f60718293a4b5c6d7e8f9
    state: RUNNING
    startTime: "1700000000000"
    upgradeSavepointPath: s3://bucket/savepoints/sp-2
    savepointInfo:
      lastSavepoint: {location: s3://bucket/savepoints/sp-2, timeStamp: 1700000000000, triggerType: UPGRADE, formatType: CANONICAL}
  lifecycleState: STABLE
  jobManagerDeploymentStatus: READY
  reconciliationStatus: {state: DEPLOYED, reconciliationTimestamp: 1700000000000, lastReconciledSpec: "{}"}
  taskManager: {replicas: 2, labelSelector: "component=taskmanager,app=orders"}
  clusterInfo: {flink-version: "1.20.1"}
  observedGeneration: 1
`)
	if _, err := fd.ApplyStatus(ctx, "orders", status, metav1.ApplyOptions{FieldManager: "flink-kubernetes-operator", Force: true}); err != nil {
		t.Fatalf("applying status: %v", err)
	}
	got, err := fd.Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantString(t, got, "RUNNING", "status", "jobStatus", "state")
	wantString(t, got, "STABLE", "status", "lifecycleState")
	wantString(t, got, "READY", "status", "jobManagerDeploymentStatus")
	wantInt(t, got, 2, "status", "taskManager", "replicas")
	if got.GetGeneration() != created.GetGeneration() {
		t.Errorf("generation moved from %d to %d on a status write", created.GetGeneration(), got.GetGeneration())
	}

	// Status enums are enforced too.
	bad := status.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "HAPPY", "status", "lifecycleState")
	if _, err := fd.ApplyStatus(ctx, "orders", bad, metav1.ApplyOptions{FieldManager: "flink-kubernetes-operator", Force: true}); err == nil || !strings.Contains(err.Error(), "lifecycleState") {
		t.Errorf("status with lifecycleState HAPPY: err = %v, want a rejection naming lifecycleState", err)
	}

	// A status sent to the main resource is dropped.
	withStatus := object(t, flinkDeploymentYAML)
	withStatus.SetNamespace("testenv-status")
	_ = unstructured.SetNestedField(withStatus.Object, "FAILED", "status", "lifecycleState")
	if _, err := apply(ctx, dc, flinkDeploymentGVR, withStatus); err != nil {
		t.Fatalf("applying FlinkDeployment with a status: %v", err)
	}
	got, err = fd.Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantString(t, got, "STABLE", "status", "lifecycleState")

	// The other kinds have a status subresource too.
	for _, gvr := range []schema.GroupVersionResource{flinkSessionJobGVR, flinkEnvironmentGVR, flinkApplicationGVR, cmfRestClassGVR} {
		if _, err := dc.Resource(gvr).Namespace("testenv-status").Get(ctx, "none", metav1.GetOptions{}, "status"); !apierrors.IsNotFound(err) {
			t.Errorf("GET %s/none/status: err = %v, want NotFound", gvr.Resource, err)
		}
	}
}

func TestCFKStatus(t *testing.T) {
	dc := dynamicClient(t)
	ctx := ctxFor(t)
	testenv.CreateNamespace(t, testenv.Config(t), "testenv-cfk-status")
	app := object(t, `
apiVersion: platform.confluent.io/v1beta1
kind: FlinkApplication
metadata: {name: orders, namespace: testenv-cfk-status}
spec: {flinkEnvironment: dev, flinkVersion: v1_19, image: confluentinc/cp-flink:1.19.3-cp1}
`)
	if _, err := apply(ctx, dc, flinkApplicationGVR, app); err != nil {
		t.Fatalf("applying FlinkApplication: %v", err)
	}
	status := object(t, `
apiVersion: platform.confluent.io/v1beta1
kind: FlinkApplication
metadata: {name: orders, namespace: testenv-cfk-status}
status:
  jobStatus: {state: RUNNING, jobId: abc}
  lifecycleState: STABLE
  cfkInternalState: CREATED
  cmfSync: {status: Synced, lastSyncTime: "2025-01-01T00:00:00Z"}
`)
	res := dc.Resource(flinkApplicationGVR).Namespace("testenv-cfk-status")
	if _, err := res.ApplyStatus(ctx, "orders", status, metav1.ApplyOptions{FieldManager: "cfk", Force: true}); err != nil {
		t.Fatalf("applying FlinkApplication status: %v", err)
	}
	got, err := res.Get(ctx, "orders", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantString(t, got, "Synced", "status", "cmfSync", "status")
	wantString(t, got, "CREATED", "status", "cfkInternalState")
}

func TestCreateNamespaceIsIdempotent(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.CreateNamespace(t, cfg, "testenv-idempotent")
	testenv.CreateNamespace(t, cfg, "testenv-idempotent")
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctxFor(t), "testenv-idempotent", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace not there: %v", err)
	}
}

// A user outside system:masters is subject to RBAC.
func TestUserConfigIsSubjectToRBAC(t *testing.T) {
	cfg := testenv.UserConfig(t, "nobody")
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dc.Resource(flinkDeploymentGVR).Namespace("default").List(ctxFor(t), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list as an unprivileged user: err = %v, want Forbidden", err)
	}
}

// The CRDs need no control plane to check: they decode, every kind has a
// status subresource, and unknown fields are kept only where documented.
func TestCRDsAreStrict(t *testing.T) {
	crds, err := testenv.CRDObjects()
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != len(testenv.CRDs()) {
		t.Fatalf("CRDObjects() has %d CRDs, CRDs() %d manifests", len(crds), len(testenv.CRDs()))
	}
	var kinds []string
	for _, crd := range crds {
		kinds = append(kinds, crd.Spec.Names.Kind)
		for _, v := range crd.Spec.Versions {
			if v.Subresources == nil || v.Subresources.Status == nil {
				t.Errorf("%s %s: no status subresource", crd.Name, v.Name)
			}
			walkSchema(v.Schema.OpenAPIV3Schema, "", func(path string, s *apiextensionsv1.JSONSchemaProps) {
				if s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields {
					return
				}
				allowed := strings.HasSuffix(path, ".podTemplate") ||
					path == ".spec.flinkApplicationDefaults.metadata" || path == ".spec.flinkApplicationDefaults.spec" ||
					slices.Contains(cfkFreeForm[crd.Spec.Names.Kind], path)
				if !allowed {
					t.Errorf("%s: %s keeps unknown fields", crd.Name, path)
				}
			})
		}
	}
	slices.Sort(kinds)
	want := []string{"CMFRestClass", "FlinkApplication", "FlinkComputePool", "FlinkDeployment", "FlinkEnvironment",
		"FlinkEnvironmentSecretMapping", "FlinkKafkaCatalog", "FlinkKafkaDatabase", "FlinkSecret", "FlinkSessionJob", "FlinkStatement"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
}

func walkSchema(s *apiextensionsv1.JSONSchemaProps, path string, visit func(string, *apiextensionsv1.JSONSchemaProps)) {
	if s == nil {
		return
	}
	visit(path, s)
	for name, p := range s.Properties {
		walkSchema(&p, path+"."+name, visit)
	}
	if s.Items != nil {
		walkSchema(s.Items.Schema, path+"[]", visit)
	}
	if s.AdditionalProperties != nil {
		walkSchema(s.AdditionalProperties.Schema, path+".*", visit)
	}
}

func TestBinDirReportsMissingBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	_, err := testenv.BinDir()
	var missing *testenv.MissingBinariesError
	if !errors.As(err, &missing) {
		t.Fatalf("BinDir() error = %v, want *MissingBinariesError", err)
	}
	if !slices.Equal(missing.Missing, []string{"kube-apiserver"}) || missing.Dir != dir {
		t.Errorf("missing = %+v", missing)
	}
	if msg := err.Error(); !strings.Contains(msg, filepath.Join(dir, "kube-apiserver")) || !strings.Contains(msg, "make controlplane") {
		t.Errorf("message %q should name the file and `make controlplane`", msg)
	}
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		require, ci string // "-" = unset
		want        bool
	}{
		{"-", "-", false},
		{"1", "-", true},
		{"-", "true", true},
		{"-", "false", false},
		{"0", "true", false},
		{"", "1", true},
	} {
		for name, v := range map[string]string{testenv.RequireEnv: tc.require, "CI": tc.ci} {
			t.Setenv(name, v) // restores the old value after the test
			if v == "-" {
				os.Unsetenv(name)
			}
		}
		if got := testenv.Required(); got != tc.want {
			t.Errorf("%s=%q CI=%q: Required() = %v, want %v", testenv.RequireEnv, tc.require, tc.ci, got, tc.want)
		}
	}
}
