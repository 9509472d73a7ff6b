package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// RealCFKCRDs is the folder, relative to the repository root, that holds the
// real Confluent for Kubernetes 3.3.0 CRDs. It is reference data beside the
// checkout (CI has it there), never copied into the project.
const RealCFKCRDs = "../shared/reference/cfk-3.3.0/crds"

// UseRealCRDs serves the CustomResourceDefinitions in rel (a folder relative
// to the repository root, read at test time) instead of the project's test
// CRDs of the same names, and creates those the project lacks, until the
// test ends: then the project's CRDs are restored and the added ones
// deleted. It returns the kinds installed.
//
// A missing folder fails the test when [Required] (CI, or
// FLINKSYNC_REQUIRE_CONTROLPLANE=1) and skips it otherwise. Tests that call
// it change CRDs every test of the package shares: they must not run in
// parallel with others.
func UseRealCRDs(t testing.TB, cfg *rest.Config, rel string) []string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, filepath.FromSlash(rel))
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	files = append(files, more...)
	sort.Strings(files)
	if len(files) == 0 {
		if Required() {
			t.Fatalf("the real CRDs must be in %s (%s=1 or CI is set; CI has them beside the checkout)", dir, RequireEnv)
		}
		t.Skipf("the real CRDs are not in %s (CI has them beside the checkout)", dir)
	}
	ext, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var kinds []string
	var installed []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		real := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, real); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if real.Kind != "CustomResourceDefinition" || real.Name == "" {
			t.Fatalf("%s is not a named CustomResourceDefinition", f)
		}
		kinds = append(kinds, real.Spec.Names.Kind)
		crds := ext.ApiextensionsV1().CustomResourceDefinitions()
		cur, err := crds.Get(ctx, real.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			created, err := crds.Create(ctx, real, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("creating the real %s: %v", real.Name, err)
			}
			name := created.Name
			t.Cleanup(func() {
				if err := crds.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("deleting %s: %v", name, err)
					return
				}
				// A CRD goes once its objects are gone: wait, so the next
				// test that serves it creates it anew, not over one that
				// is terminating.
				err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
					_, err := crds.Get(ctx, name, metav1.GetOptions{})
					return apierrors.IsNotFound(err), nil
				})
				if err != nil {
					t.Errorf("%s still exists a minute after it was deleted: %v", name, err)
				}
			})
			installed = append(installed, created)
		case err != nil:
			t.Fatal(err)
		default:
			ours := cur.Spec.DeepCopy()
			name := cur.Name
			t.Cleanup(func() { restoreSpec(t, cfg, ext, name, ours) })
			probe := probeObject(real, cur)
			sameColumns := slices.Equal(columnNames(&real.Spec), columnNames(&cur.Spec))
			cur.Spec = real.Spec
			updated, err := crds.Update(ctx, cur, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("installing the real %s: %v", real.Name, err)
			}
			installed = append(installed, updated)
			if !sameColumns {
				waitColumns(t, cfg, updated.Name, &updated.Spec)
			}
			if probe != nil {
				waitServed(t, cfg, probe, real.Name)
			}
		}
	}
	c, err := crdClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitEstablished(ctx, c, installed); err != nil {
		t.Fatal(err)
	}
	if err := waitDiscoverable(ctx, cfg, installed); err != nil {
		t.Fatal(err)
	}
	return kinds
}

func restoreSpec(t testing.TB, cfg *rest.Config, ext apiextclient.Interface, name string, spec *apiextensionsv1.CustomResourceDefinitionSpec) {
	ctx := context.Background()
	crds := ext.ApiextensionsV1().CustomResourceDefinitions()
	cur, err := crds.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("restoring %s: %v", name, err)
		return
	}
	sameColumns := slices.Equal(columnNames(spec), columnNames(&cur.Spec))
	cur.Spec = *spec
	if _, err := crds.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Errorf("restoring %s: %v", name, err)
		return
	}
	if !sameColumns {
		waitColumns(t, cfg, name, spec)
	}
}

// columnNames returns the table columns the API server lists a CRD's
// objects with: Name, then the printer columns of the first served version,
// or Age when it declares none.
func columnNames(spec *apiextensionsv1.CustomResourceDefinitionSpec) []string {
	for _, v := range spec.Versions {
		if !v.Served {
			continue
		}
		names := []string{"Name"}
		for _, c := range v.AdditionalPrinterColumns {
			names = append(names, c.Name)
		}
		if len(v.AdditionalPrinterColumns) == 0 {
			names = append(names, "Age")
		}
		return names
	}
	return nil
}

// waitColumns waits until the API server lists the objects of CRD name with
// the columns of spec. It builds the schema and the columns it serves from
// the same version of a CRD, so new columns show that the new schema is
// served too, whatever the schema change (probeObject finds none when the
// two schemas declare the same fields).
func waitColumns(t testing.TB, cfg *rest.Config, name string, spec *apiextensionsv1.CustomResourceDefinitionSpec) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := columnNames(spec)
	var version string
	for _, v := range spec.Versions {
		if v.Served {
			version = v.Name
			break
		}
	}
	var got []string
	var last error
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var raw []byte
		raw, last = dc.RESTClient().Get().AbsPath("/apis", spec.Group, version, spec.Names.Plural).
			Param("limit", "1").SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if last != nil {
			return false, nil
		}
		table := &metav1.Table{}
		if last = json.Unmarshal(raw, table); last != nil {
			return false, nil
		}
		got = got[:0]
		for _, c := range table.ColumnDefinitions {
			got = append(got, c.Name)
		}
		return slices.Equal(got, want), nil
	})
	if err != nil {
		t.Fatalf("%s is not served with the columns %v: %v (last: columns %v, %v)", name, want, err, got, last)
	}
}

// probeObject returns an object that only the real CRD accepts: it sets a
// top-level spec field of a simple type that the real schema declares and
// the project's does not. Nil when there is none.
func probeObject(real, ours *apiextensionsv1.CustomResourceDefinition) *unstructured.Unstructured {
	rs, ourProps := specProps(real), specProps(ours)
	if rs == nil || ourProps == nil {
		return nil
	}
	names := make([]string, 0, len(rs))
	for n := range rs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := ourProps[n]; ok {
			continue
		}
		p := rs[n]
		var v any
		switch {
		case len(p.Enum) > 0 || p.Pattern != "" || p.MinLength != nil || len(p.XValidations) > 0:
			continue
		case p.Type == "string":
			v = "probe"
		case p.Type == "integer":
			v = int64(1)
		case p.Type == "boolean":
			v = true
		case p.Type == "object" && len(p.Required) == 0:
			v = map[string]any{}
		default:
			continue
		}
		var version string
		for _, ver := range real.Spec.Versions {
			if ver.Served {
				version = ver.Name
				break
			}
		}
		u := &unstructured.Unstructured{Object: map[string]any{"spec": requiredStubs(real, n, v)}}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: real.Spec.Group, Version: version, Kind: real.Spec.Names.Kind})
		u.SetName("flinksync-schema-probe")
		if real.Spec.Scope == apiextensionsv1.NamespaceScoped {
			u.SetNamespace("default")
		}
		return u
	}
	return nil
}

// requiredStubs returns a spec with field set to v and every required
// top-level string field of the real schema set to a placeholder.
func requiredStubs(real *apiextensionsv1.CustomResourceDefinition, field string, v any) map[string]any {
	spec := map[string]any{field: v}
	for _, ver := range real.Spec.Versions {
		if !ver.Served || ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
			continue
		}
		s := ver.Schema.OpenAPIV3Schema.Properties["spec"]
		for _, r := range s.Required {
			if s.Properties[r].Type == "string" {
				spec[r] = "probe"
			}
		}
		break
	}
	return spec
}

func specProps(crd *apiextensionsv1.CustomResourceDefinition) map[string]apiextensionsv1.JSONSchemaProps {
	for _, v := range crd.Spec.Versions {
		if v.Served && v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			return v.Schema.OpenAPIV3Schema.Properties["spec"].Properties
		}
	}
	return nil
}

// waitServed waits until a server-side dry-run create of probe succeeds,
// i.e. until the API server validates with the schema just installed.
func waitServed(t testing.TB, cfg *rest.Config, probe *unstructured.Unstructured, crd string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gvk := probe.GroupVersionKind()
	plural := strings.SplitN(crd, ".", 2)[0]
	res := dyn.Resource(gvk.GroupVersion().WithResource(plural))
	var last error
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var ri dynamic.ResourceInterface = res
		if ns := probe.GetNamespace(); ns != "" {
			ri = res.Namespace(ns)
		}
		_, last = ri.Create(ctx, probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("the real %s is not served: %v", crd, fmt.Errorf("%w (last: %v)", err, last))
	}
}

// DryRunApply server-side applies each object with dryRun=All (field
// manager flinksync, forced, strict as server-side apply is) and returns the
// failures, one line each ("Kind/namespace/name: error"). It creates the
// objects' namespaces first.
func DryRunApply(t testing.TB, cfg *rest.Config, objs []*unstructured.Unstructured) []string {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var failures []string
	for _, o := range objs {
		id := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			failures = append(failures, id+": "+err.Error())
			continue
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if ns := o.GetNamespace(); ns != "" {
			CreateNamespace(t, cfg, ns)
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		if _, err := ri.Apply(context.Background(), o.GetName(), o,
			metav1.ApplyOptions{FieldManager: "flinksync", DryRun: []string{metav1.DryRunAll}, Force: true}); err != nil {
			failures = append(failures, id+": "+err.Error())
		}
	}
	return failures
}

// Object is a Kubernetes object held as unstructured content.
type Object interface {
	GroupVersionKind() schema.GroupVersionKind
	UnstructuredContent() map[string]any
}

// CFKGroup is the API group of Confluent for Kubernetes' Flink kinds.
const CFKGroup = "platform.confluent.io"

// CheckCFK dry-runs the CFK objects among objs (those of CFKGroup) against
// the CRDs the control plane serves (the real ones after UseRealCRDs),
// reports every rejection as a test error that says where the objects come
// from, and counts the objects it checked by kind into checked.
// Any object type that wraps an unstructured object will do (the render
// stage's Object among them).
func CheckCFK[O Object](t testing.TB, cfg *rest.Config, where string, objs []O, checked map[string]int) {
	t.Helper()
	var cfk []*unstructured.Unstructured
	for _, o := range objs {
		if gvk := o.GroupVersionKind(); gvk.Group == CFKGroup {
			cfk = append(cfk, &unstructured.Unstructured{Object: o.UnstructuredContent()})
			checked[gvk.Kind]++
		}
	}
	if f := DryRunApply(t, cfg, cfk); len(f) > 0 {
		t.Errorf("%s: rejected by the CFK schema:\n  %s", where, strings.Join(f, "\n  "))
	}
}

// RequireChecked fails the test when checked (from CheckCFK) counts no
// object of one of kinds: a real-schema test that checked nothing proves
// nothing.
func RequireChecked(t testing.TB, checked map[string]int, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		if checked[k] == 0 {
			t.Errorf("no %s was checked: %v", k, checked)
		}
	}
}
