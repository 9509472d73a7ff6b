package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/model"
)

// CMFGroupVersion is the apiVersion of the CMF resources a target: cmf
// environment renders to: the payloads of CMF's REST API, which
// internal/cmf/cmfsync sends.
var CMFGroupVersion = schema.GroupVersion{Group: "cmf.confluent.io", Version: "v1"}

// The CMF resource kinds, as CMF names them in its resources.
const (
	CMFEnvironmentKind   = "Environment"
	CMFApplicationKind   = "FlinkApplication"
	CMFComputePoolKind   = "ComputePool"
	CMFStatementKind     = "Statement"
	CMFKafkaCatalogKind  = "KafkaCatalog"
	CMFKafkaDatabaseKind = "KafkaDatabase"
	CMFSecretMappingKind = "EnvironmentSecretMapping"
)

// AnnCMFCatalog is, on a rendered KafkaDatabase, the catalog it belongs
// to: CMF keeps a database under its catalog's path, not in its body.
const AnnCMFCatalog = "flinksync.dev/catalog"

// IsCMF reports whether u is a CMF resource (apiVersion cmf.confluent.io/v1)
// rather than a Kubernetes object.
func IsCMF(u *unstructured.Unstructured) bool { return u.GetAPIVersion() == CMFGroupVersion.String() }

// The CMF resources share their shapes with CFK's objects, which CFK
// passes on to CMF: a CMF application's spec is the FKO deployment spec,
// a statement's, pool's, catalog's and database's spec is the CFK spec
// without the references CFK resolves itself (flinkEnvironment,
// cmfRestClassRef, catalogRef). So target cmf renders through the same
// builders as fko and cfk and reshapes the result here.

// cmfEnvironment renders the CMF environment: its Kubernetes namespace and
// the defaults every application starts from, the FlinkEnvironment's.
func (b *builder) cmfEnvironment() *Object {
	u := b.meta(CMFEnvironmentKind, CMFGroupVersion.String(), b.env.Metadata.Name, "", nil)
	u.Object["spec"] = map[string]any{
		"kubernetesNamespace":      b.env.Spec.Namespace,
		"flinkApplicationDefaults": b.applicationDefaults(),
	}
	return b.cmfObject(b.envObject(u, "spec.cmf"), CMFEnvironmentKind, u.Object["spec"].(map[string]any))
}

// cmfApplication reshapes an app rendered as an FKO FlinkDeployment into a
// CMF FlinkApplication: the same spec.
func (b *builder) cmfApplication(o *Object) *Object {
	spec, _ := o.Object["spec"].(map[string]any)
	return b.cmfObject(o, CMFApplicationKind, spec)
}

// cmfSQL renders the statements, pools and catalogs of a cmf environment
// as CFK's objects and reshapes them. CMF secrets hold credentials, which
// flinksync does not read: they are created in CMF by whoever holds them,
// and flinksync maps them into the environment.
func (b *builder) cmfSQL(in Input) ([]*Object, []*SourceError) {
	objs, errs := b.cfkSQL(in)
	out := make([]*Object, 0, len(objs))
	for _, o := range objs {
		spec, _ := o.Object["spec"].(map[string]any)
		delete(spec, "flinkEnvironment")
		delete(spec, "cmfRestClassRef")
		switch o.GetKind() {
		case FlinkStatementGVK.Kind:
			out = append(out, b.cmfObject(o, CMFStatementKind, spec))
		case FlinkComputePoolGVK.Kind:
			out = append(out, b.cmfObject(o, CMFComputePoolKind, spec))
		case FlinkKafkaCatalogGVK.Kind:
			out = append(out, b.cmfObject(o, CMFKafkaCatalogKind, spec))
		case FlinkKafkaDatabaseGVK.Kind:
			catalog, _, _ := unstructured.NestedString(spec, "catalogRef", "name")
			if ref, ok := spec["connectionSecretRef"].(map[string]any); ok {
				_ = unstructured.SetNestedField(spec, ref["name"], "kafkaCluster", "connectionSecretId")
			}
			delete(spec, "catalogRef")
			delete(spec, "connectionSecretRef")
			db := b.cmfObject(o, CMFKafkaDatabaseKind, spec)
			ann := db.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[AnnCMFCatalog] = catalog
			db.SetAnnotations(ann)
			out = append(out, db)
		case FlinkEnvironmentSecretMappingGVK.Kind:
			out = append(out, b.cmfObject(o, CMFSecretMappingKind, map[string]any{"secretName": o.GetName()}))
		}
	}
	return out, errs
}

// cmfObject is o as the CMF resource of kind: apiVersion
// cmf.confluent.io/v1, metadata, spec. The metadata keeps the
// environment's namespace, as every rendered object does, so that policy
// and reports see where its Flink clusters run; CMF resources have no
// namespace, and cmfsync leaves it out of what it sends.
func (b *builder) cmfObject(o *Object, kind string, spec map[string]any) *Object {
	meta, _ := o.Object["metadata"].(map[string]any)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": CMFGroupVersion.String(), "kind": kind, "metadata": meta, "spec": spec,
	}}
	c := *o
	c.Unstructured = u
	return &c
}

// applicationDefaults are the defaults a FlinkEnvironment or a CMF
// environment gives every application: the environment's Flink
// configuration with its TLS settings.
func (b *builder) applicationDefaults() map[string]any {
	conf := stringMap(b.env.Spec.Defaults.FlinkConfiguration, len(b.shared().tlsDefaults)+1)
	b.tls(conf)
	defaults := map[string]any{}
	if len(conf) > 0 {
		defaults["flinkConfiguration"] = conf
	}
	return map[string]any{"spec": defaults}
}

// targetCMF reports whether env renders CMF resources.
func targetCMF(env *model.Environment) bool { return env.Spec.Target == model.TargetCMF }
