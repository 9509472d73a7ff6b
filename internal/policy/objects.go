package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
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

// isFlink reports whether o runs Flink pods.
func isFlink(o *render.Object) bool {
	switch o.GetKind() {
	case "FlinkDeployment", "FlinkApplication", "FlinkSessionJob":
		return true
	}
	return false
}

// flinkConf is the configuration a Flink object runs with: for a CFK
// FlinkApplication, the FlinkEnvironment's defaults under the app's keys.
func flinkConf(out *render.Environment, o *render.Object) map[string]string {
	conf := map[string]string{}
	if o.GetKind() == render.FlinkApplicationGVK.Kind {
		for _, e := range out.Objects {
			if e.GetKind() == render.FlinkEnvironmentGVK.Kind {
				m, _, _ := unstructured.NestedStringMap(e.Object, "spec", "flinkApplicationDefaults", "spec", "flinkConfiguration")
				for k, v := range m {
					conf[k] = v
				}
			}
		}
	}
	m, _, _ := unstructured.NestedMap(o.Object, "spec", "flinkConfiguration")
	for k, v := range m {
		conf[k] = fmt.Sprint(v)
	}
	return conf
}

func nestedString(o *render.Object, path ...string) string {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	s, _ := v.(string)
	return s
}

// number reads a JSON number (int64 or float64) or a numeric string.
func number(o *render.Object, path ...string) (float64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	if !ok {
		return 0, false
	}
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
func parseFlinkMemory(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		n = math.MaxInt64 // more digits than any node has bytes: too big, not unknown
	} else if err != nil {
		return 0, false
	}
	mult := map[string]int64{"": 1, "b": 1, "bytes": 1, "k": 1 << 10, "kb": 1 << 10, "kibibytes": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mebibytes": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gibibytes": 1 << 30,
		"t": 1 << 40, "tb": 1 << 40, "tebibytes": 1 << 40}[strings.TrimSpace(s[i:])]
	if mult == 0 {
		return 0, false
	}
	if n > math.MaxInt64/mult {
		return math.MaxInt64, true // saturate: an overflow must not wrap round to a small size
	}
	return n * mult, true
}

// keyOrigin finds where a Flink configuration key of app in env is set:
// the app (or its override), the pool, or the environment's defaults. When
// no level of the model sets it, it points at fallback in the environment.
func keyOrigin(env *model.Environment, app *model.EffectiveApp, key, fallback string) (string, int) {
	if app != nil {
		if _, ok := app.Spec.FlinkConfiguration[key]; ok {
			return app.Origin.File, app.Origin.LineOf(model.KeyPath("spec.flinkConfiguration", key))
		}
		if app.Pool != nil {
			if _, ok := app.Pool.Spec.FlinkConfiguration[key]; ok {
				return app.Pool.Origin.File, app.Pool.Origin.LineOf(model.KeyPath("spec.flinkConfiguration", key))
			}
		}
	}
	if _, ok := env.Spec.Defaults.FlinkConfiguration[key]; ok {
		return env.Origin.File, env.Origin.LineOf(model.KeyPath("spec.defaults.flinkConfiguration", key))
	}
	return env.Origin.File, env.Origin.LineOf(fallback)
}

// effectiveApp finds the effective app a rendered object belongs to.
func (c *checker) effectiveApp(env *model.Environment, o *render.Object) *model.EffectiveApp {
	if o.App == "" {
		return nil
	}
	for _, a := range c.in.Repo.EffectiveApps(env.Metadata.Name) {
		if a.Name == o.App {
			return a
		}
	}
	return nil
}
