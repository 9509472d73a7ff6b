package policy

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// allowedRBAC is what the FKO `flink` role grants: resources per API group,
// and the verbs on them.
var allowedRBAC, allowedVerbs = func() (map[string]map[string]bool, map[string]bool) {
	res := map[string]map[string]bool{}
	verbs := map[string]bool{}
	for _, r := range render.FlinkRoleRules {
		for _, g := range r.APIGroups {
			if res[g] == nil {
				res[g] = map[string]bool{}
			}
			for _, x := range r.Resources {
				res[g][x] = true
			}
		}
		for _, v := range r.Verbs {
			verbs[v] = true
		}
	}
	return res, verbs
}()

// rbacObjects checks every rendered object for scope, namespace and RBAC.
func (c *checker) rbacObjects(env *model.Environment, objs []*object) {
	name, ns := env.Metadata.Name, env.Spec.Namespace
	for _, v := range objs {
		o, kind := v.Object, v.kind
		if clusterScoped[kind] {
			c.addAt(RBAC001, name, o, "%s %q is cluster-scoped; flinksync renders only namespaced objects into %s: remove it from %s and have the platform team manage it",
				kind, o.GetName(), ns, o.File)
			continue
		}
		if o.GetNamespace() != ns {
			c.addAt(RBAC004, name, o, "%s %q lands in namespace %q, not in the environment's namespace %q; remove the namespace override",
				kind, o.GetName(), o.GetNamespace(), ns)
		}
		switch kind {
		case "Role":
			c.role(name, o)
		case "RoleBinding":
			c.roleBinding(name, ns, o)
		}
		cluster := specPath
		if v.shape == render.FlinkComputePoolGVK.Kind {
			cluster = clusterSpecPath
		}
		if sa, _ := field(o.Object, cluster, "podTemplate", "spec", "serviceAccountName").(string); sa == "default" {
			c.addAt(RBAC003, name, o, "the pod template sets serviceAccountName: default; Flink pods must run as the environment's service account %q", env.Spec.ServiceAccount)
		}
	}
}

func (c *checker) role(env string, o *render.Object) {
	rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
	var problems []string
	for i, r := range rules {
		m, _ := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(m, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(m, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(m, "verbs")
		if _, ok := m["nonResourceURLs"]; ok {
			problems = append(problems, fmt.Sprintf("rule %d grants nonResourceURLs", i))
		}
		for _, list := range [][]string{groups, resources, verbs} {
			for _, x := range list {
				if x == "*" {
					problems = append(problems, fmt.Sprintf("rule %d uses the wildcard \"*\"", i))
				}
			}
		}
		for _, res := range resources {
			if res == "secrets" {
				problems = append(problems, fmt.Sprintf("rule %d grants access to secrets (list/watch on secrets reveals their contents)", i))
				continue
			}
			for _, g := range groups {
				if g != "*" && res != "*" && !allowedRBAC[g][res] {
					problems = append(problems, fmt.Sprintf("rule %d grants %s in API group %q", i, res, g))
				}
			}
		}
		var extra []string
		for _, v := range verbs {
			if v != "*" && !allowedVerbs[v] {
				extra = append(extra, v)
			}
		}
		if len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("rule %d grants verbs %s", i, strings.Join(extra, ", ")))
		}
	}
	if len(problems) > 0 {
		problems = uniq(problems)
		c.addAt(RBAC002, env, o, "Role %q grants more than the JobManager needs (%s); keep exactly the FKO flink role: pods and configmaps, apps deployments and deployments/finalizers, verbs get, list, watch, create, update, patch, delete",
			o.GetName(), strings.Join(problems, "; "))
	}
}

func (c *checker) roleBinding(env, ns string, o *render.Object) {
	if kind := nestedString(o, "roleRef", "kind"); kind == "ClusterRole" {
		c.addAt(RBAC005, env, o, "RoleBinding %q refers to ClusterRole %q; bind the namespaced Role flinksync renders instead",
			o.GetName(), nestedString(o, "roleRef", "name"))
	}
	subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
	for _, s := range subjects {
		m, _ := s.(map[string]any)
		kind, _ := m["kind"].(string)
		sns, _ := m["namespace"].(string)
		sname, _ := m["name"].(string)
		if kind == "ServiceAccount" && sns != "" && sns != ns {
			c.addAt(RBAC005, env, o, "RoleBinding %q binds service account %s/%s from another namespace; bind only accounts of %s",
				o.GetName(), sns, sname, ns)
		}
		if kind == "Group" || kind == "User" {
			c.addAt(RBAC005, env, o, "RoleBinding %q binds %s %q, which is not confined to namespace %s; bind service accounts of the namespace",
				o.GetName(), kind, sname, ns)
		}
	}
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
