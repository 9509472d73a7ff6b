package render

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// The built-in kinds render makes (ServiceAccount, Role, RoleBinding,
// ConfigMap), and the pod templates it puts in custom resources, are built
// from the k8s.io/api types, so that the compiler checks their field names
// and shapes, and turned into unstructured objects once, here: the rest of
// the pipeline (overlay, policy, sync) works on unstructured objects. The
// custom resources (FKO, CFK and CMF kinds) have no Go types flinksync
// could import and stay unstructured.

// objectMeta is the metadata of a built-in object: that of meta, as a
// typed ObjectMeta.
func (b *builder) objectMeta(name, app string, appLabels map[string]string) metav1.ObjectMeta {
	labels := make(map[string]string, len(appLabels)+3)
	for k, v := range appLabels {
		labels[k] = v
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelEnvironment] = b.env.Metadata.Name
	if app != "" {
		labels[LabelName] = app
	}
	m := metav1.ObjectMeta{Name: name, Namespace: b.env.Spec.Namespace, Labels: labels}
	if b.opts.Revision != "" {
		m.Annotations = map[string]string{AnnRevision: b.opts.Revision}
	}
	return m
}

// toUnstructured converts a typed built-in object to the unstructured form
// Object carries.
func toUnstructured(obj runtime.Object) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		// Only a value the converter cannot encode fails (a channel, a
		// func); every object passed here is a k8s.io/api struct.
		panic(fmt.Sprintf("render: converting %T: %v", obj, err))
	}
	dropNullTimestamp(m)
	return &unstructured.Unstructured{Object: m}
}

// podTemplateMap converts a typed pod template, once, to the unstructured form
// a custom resource embeds (FKO's and CFK's podTemplate are a core/v1
// PodTemplateSpec).
func podTemplateMap(pt *corev1.PodTemplateSpec) map[string]any {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pt)
	if err != nil {
		panic(fmt.Sprintf("render: converting a pod template: %v", err)) // as toUnstructured
	}
	dropNullTimestamp(m)
	spec, _ := m["spec"].(map[string]any)
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := spec[list].([]any)
		for _, c := range cs {
			dropEmptyResources(c.(map[string]any))
		}
	}
	return m
}

// dropEmptyResources removes a container's resources: {}, which the
// converter writes for a container that sets none (ResourceRequirements is
// a struct, never omitted). The operators merge the template into the pod
// they build, and an empty map there says nothing: render never wrote one.
func dropEmptyResources(c map[string]any) {
	if r, ok := c["resources"].(map[string]any); ok && len(r) == 0 {
		delete(c, "resources")
	}
}

// dropNullTimestamp removes metadata.creationTimestamp: null, which a zero
// ObjectMeta converts to with k8s.io/apimachinery releases that do not
// omit a zero metav1.Time, and then an empty metadata. No rendered object
// carries either (the API server sets the timestamp); this keeps a
// dependency update from adding them to every rendered built-in object.
func dropNullTimestamp(obj map[string]any) {
	meta, _ := obj["metadata"].(map[string]any)
	if ts, ok := meta["creationTimestamp"]; ok && ts == nil {
		delete(meta, "creationTimestamp")
	}
	if len(meta) == 0 {
		delete(obj, "metadata")
	}
}

// Type metadata of the built-in kinds render makes.
var (
	serviceAccountType = metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}
	configMapType      = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	roleType           = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"}
	roleBindingType    = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"}
)

// serviceAccount is the JobManager's ServiceAccount.
func (b *builder) serviceAccount(name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: serviceAccountType, ObjectMeta: b.objectMeta(name, "", nil)}
}

// flinkRole is the FKO `flink` Role (FlinkRoleRules).
func (b *builder) flinkRole(name string) *rbacv1.Role {
	role := &rbacv1.Role{TypeMeta: roleType, ObjectMeta: b.objectMeta(name, "", nil)}
	for _, r := range FlinkRoleRules {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{
			// Shared with FlinkRoleRules only until toUnstructured copies them.
			APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs,
		})
	}
	return role
}

// roleBinding binds Role role to ServiceAccount account, both in the
// environment's namespace.
func (b *builder) roleBinding(name, role, account string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   roleBindingType,
		ObjectMeta: b.objectMeta(name, "", nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: b.env.Spec.Namespace,
		}},
	}
}

// configMap is a ConfigMap of data, labelled for app.
func (b *builder) configMap(name, app string, labels map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: configMapType, ObjectMeta: b.objectMeta(name, app, labels), Data: data}
}
