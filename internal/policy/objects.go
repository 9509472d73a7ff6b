package policy

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flinksync/flinksync/internal/flinkconf"
	"github.com/flinksync/flinksync/internal/render"
)

// clusterScoped are the kinds that must never come out of a render (RBAC-001).
var clusterScoped = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true, "Namespace": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true, "APIService": true,
	"PersistentVolume": true, "StorageClass": true, "PriorityClass": true, "IngressClass": true,
	"RuntimeClass": true, "CSIDriver": true, "PodSecurityPolicy": true,
}

// isFlink reports whether an object of kind runs Flink pods.
func isFlink(kind string) bool {
	switch kind {
	case "FlinkDeployment", "FlinkApplication", "FlinkSessionJob":
		return true
	}
	return false
}

// The cluster spec paths clusterSpec returns, shared: callers only read them.
var (
	specPath        = []string{"spec"}
	clusterSpecPath = []string{"spec", "clusterSpec"}
)

// clusterSpec is the path of the Flink cluster spec an object of shape
// (object.shape) holds: spec for a FlinkDeployment or FlinkApplication,
// spec.clusterSpec for a CFK FlinkComputePool or CMF ComputePool (the
// template CMF builds its statements' clusters from); nil for anything else.
func clusterSpec(shape string) []string {
	switch shape {
	case "FlinkDeployment", "FlinkApplication":
		return specPath
	case render.FlinkComputePoolGVK.Kind:
		return clusterSpecPath
	}
	return nil
}

// under is path under prefix, as a new slice.
func under(prefix []string, path ...string) []string {
	return append(append([]string(nil), prefix...), path...)
}

// envDefaults is where a FlinkEnvironment (or a CMF environment, whose
// settings are at the same paths) holds the configuration CMF puts under
// the keys of each shape it applies defaults to.
var envDefaults = map[string][]string{
	render.FlinkApplicationGVK.Kind: {"spec", "flinkApplicationDefaults", "spec", "flinkConfiguration"},
	render.FlinkComputePoolGVK.Kind: {"spec", "computePoolDefaults", "clusterSpec", "flinkConfiguration"},
	render.FlinkStatementGVK.Kind:   {"spec", "statementDefaults", "detached", "flinkConfiguration"},
}

// object is a rendered object with what several checks read of it, read
// once: its kind and name, its shape (shapeOf) and its owner (ownerOf).
type object struct {
	*render.Object
	kind, name string
	// shape is the kind the checks read the object as: its own, or for a
	// CMF resource the CFK kind with its spec.
	shape      string
	owner      *owner
	ownerKnown bool
}

// objectsOf are the objects of an environment, in order.
func objectsOf(out *render.Environment) []*object {
	views := make([]object, len(out.Objects))
	objs := make([]*object, len(out.Objects))
	for i, o := range out.Objects {
		kind := o.GetKind()
		views[i] = object{Object: o, kind: kind, name: o.GetName(), shape: shapeOf(o, kind)}
		objs[i] = &views[i]
	}
	return objs
}

// cfkShapes are the CMF resource kinds whose spec is a CFK kind's (a CMF
// FlinkApplication is FKO's, as CFK's is): render reshapes the CFK objects
// into them (render/cmf.go), so the rules that read a CFK object read its
// CMF counterpart the same way, after the overlay as well.
var cfkShapes = map[string]string{
	render.CMFComputePoolKind:   render.FlinkComputePoolGVK.Kind,
	render.CMFStatementKind:     render.FlinkStatementGVK.Kind,
	render.CMFKafkaCatalogKind:  render.FlinkKafkaCatalogGVK.Kind,
	render.CMFKafkaDatabaseKind: render.FlinkKafkaDatabaseGVK.Kind,
}

// shapeOf is the kind the checks read o of kind as: for a CMF resource
// (apiVersion cmf.confluent.io/v1), the CFK kind with its spec; else kind.
func shapeOf(o *render.Object, kind string) string {
	if shape, ok := cfkShapes[kind]; ok && render.IsCMF(o.Unstructured) {
		return shape
	}
	return kind
}

// flinkEnvironments are the CFK FlinkEnvironments among an environment's
// objects, or its CMF environment on cmf, whose flinkApplicationDefaults
// have the same path (one, or none on fko).
func flinkEnvironments(objs []*object) []*render.Object {
	var envs []*render.Object
	for _, e := range objs {
		if e.kind == render.FlinkEnvironmentGVK.Kind || (e.kind == render.CMFEnvironmentKind && render.IsCMF(e.Unstructured)) {
			envs = append(envs, e.Object)
		}
	}
	return envs
}

// flinkConf is the configuration a Flink object o of shape (object.shape)
// runs with: for the CFK kinds and their CMF counterparts, the defaults of
// the FlinkEnvironments (or CMF environment) envs under the object's own
// keys; for a statement, its SQL session properties too.
func flinkConf(envs []*render.Object, o *render.Object, shape string) map[string]string {
	conf := map[string]string{}
	put := func(v any) {
		m, _ := v.(map[string]any)
		for k, v := range m {
			if s, ok := v.(string); ok {
				conf[k] = s
			} else {
				conf[k] = fmt.Sprint(v)
			}
		}
	}
	if path := envDefaults[shape]; path != nil {
		for _, e := range envs {
			put(field(e.Object, nil, path...))
		}
	}
	switch cs := clusterSpec(shape); {
	case cs != nil:
		put(field(o.Object, cs, "flinkConfiguration"))
	case shape == render.FlinkStatementGVK.Kind:
		put(field(o.Object, nil, "spec", "flinkConfiguration"))
		put(field(o.Object, nil, "spec", "properties"))
	default:
		put(field(o.Object, nil, "spec", "flinkConfiguration"))
	}
	return conf
}

// field is the value at prefix, then path, in obj (nil when there is
// none), without copying it: the caller only reads it.
func field(obj map[string]any, prefix []string, path ...string) any {
	var cur any = obj
	for _, ps := range [2][]string{prefix, path} {
		for _, p := range ps {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			if cur, ok = m[p]; !ok {
				return nil
			}
		}
	}
	return cur
}

func nestedString(o *render.Object, path ...string) string {
	s, _ := field(o.Object, nil, path...).(string)
	return s
}

// number reads a JSON number (int64 or float64) or a numeric string at
// path in o.
func number(o *render.Object, path ...string) (float64, bool) {
	return toNumber(field(o.Object, nil, path...))
}

// toNumber reads a JSON number (int64 or float64) or a numeric string.
func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			return f, true
		}
		// A Kubernetes quantity, as CFK's FlinkApplication carries its CPU ("500m").
		q, err := resource.ParseQuantity(x)
		if err != nil {
			return 0, false
		}
		return q.AsApproximateFloat64(), true
	}
	return 0, false
}

// parseFlinkMemory reads a Flink memory size ("8192m", "2g", "1024 mb", bytes).
func parseFlinkMemory(s string) (int64, bool) { return flinkconf.ParseMemory(s) }
