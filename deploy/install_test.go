package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	fsync "github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// installFieldManager applies the chart as `helm install --server-side` would.
const installFieldManager = "helm"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// TestInstall applies the rendered chart to a real API server, then acts as
// the chart's ServiceAccount: what it may do, it does for real (sync the
// example repository, hold the Lease); what it may not, the API server
// refuses.
func TestInstall(t *testing.T) {
	cfg := testenv.Config(t)
	helmBin(t)
	installCRDs(t, cfg, "testdata/crds")

	t.Run("defaults", func(t *testing.T) {
		inst := install(t, cfg, "flinksync-min", []string{"flink-min"}, minimal("flink-min")...)
		testenv.CreateNamespace(t, cfg, "flink-min-other")
		checkPodSecurity(t, cfg, inst)
		checkAccess(t, cfg, inst, []access{
			{true, "patch", "flink.apache.org", "flinkdeployments", "flink-min", ""},
			{true, "create", "rbac.authorization.k8s.io", "roles", "flink-min", ""},
			{true, "get", "", "secrets", "flink-min", "any-name"},
			{true, "get", "", "namespaces", "", "flink-min"},
			{false, "list", "", "secrets", "flink-min", ""},
			{false, "watch", "", "secrets", "flink-min", ""},
			{false, "create", "", "configmaps", "flink-min-other", ""},
			{false, "get", "", "namespaces", "", "flink-min-other"},
			// One replica: no Lease, no rights in its own namespace.
			{false, "create", "coordination.k8s.io", "leases", "flinksync-min", ""},
			{false, "get", "", "configmaps", "flinksync-min", ""},
			// Namespaced only: no cluster-wide list of ConfigMaps.
			{false, "list", "", "configmaps", "", ""},
			{false, "create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""},
		})
	})

	t.Run("everything", func(t *testing.T) {
		managed := []string{"flink-dev", "flink-staging", "flink-prod"}
		inst := install(t, cfg, "flinksync-system", managed, "-f", valuesAll)
		// examples/repo-layout's fourth environment lives here: not managed.
		const unmanaged = "flink-prod-eu"
		testenv.CreateNamespace(t, cfg, unmanaged)

		var checks []access
		for _, ns := range managed {
			checks = append(checks,
				access{true, "create", "flink.apache.org", "flinkdeployments", ns, ""},
				access{true, "patch", "flink.apache.org", "flinkdeployments", ns, "orders-enrich"},
				access{true, "delete", "flink.apache.org", "flinksessionjobs", ns, "x"},
				access{true, "patch", "platform.confluent.io", "flinkapplications", ns, "x"},
				access{true, "patch", "platform.confluent.io", "flinkenvironments", ns, "x"},
				access{true, "patch", "platform.confluent.io", "cmfrestclasses", ns, "x"},
				access{true, "patch", "rbac.authorization.k8s.io", "roles", ns, "flink"},
				access{true, "patch", "", "configmaps", ns, "flinksync-inventory"},
				access{true, "create", "", "events", ns, ""},
				access{true, "create", "events.k8s.io", "events", ns, ""},
				access{true, "list", "", "pods", ns, ""},
				access{true, "list", "", "events", ns, ""},
				access{true, "watch", "", "events", ns, ""},
				access{true, "get", "", "secrets", ns, "flink-tls"},
				access{false, "get", "", "secrets", ns, "another-secret"},
				access{false, "list", "", "secrets", ns, ""},
				access{false, "watch", "", "secrets", ns, ""},
				access{false, "escalate", "rbac.authorization.k8s.io", "roles", ns, ""},
				access{false, "bind", "rbac.authorization.k8s.io", "roles", ns, ""},
				access{false, "create", "", "pods/exec", ns, ""},
				access{false, "create", "", "serviceaccounts/token", ns, "flink"},
				access{false, "deletecollection", "flink.apache.org", "flinkdeployments", ns, ""},
				access{true, "get", "", "namespaces", "", ns},
			)
		}
		checks = append(checks,
			access{false, "patch", "flink.apache.org", "flinkdeployments", unmanaged, "x"},
			access{false, "get", "", "configmaps", unmanaged, ""},
			access{false, "list", "", "pods", unmanaged, ""},
			access{false, "list", "", "events", unmanaged, ""},
			access{false, "list", "", "events", "", ""},
			access{false, "get", "", "namespaces", "", unmanaged},
			access{false, "list", "", "namespaces", "", ""},
			access{false, "delete", "", "namespaces", "", "flink-dev"},
			access{true, "create", "coordination.k8s.io", "leases", "flinksync-system", ""},
			access{true, "update", "coordination.k8s.io", "leases", "flinksync-system", "flinksync-leader"},
			access{false, "update", "coordination.k8s.io", "leases", "flinksync-system", "another-lease"},
			access{false, "create", "coordination.k8s.io", "leases", "flink-dev", ""},
			// Its own namespace is not a managed one.
			access{false, "create", "", "configmaps", "flinksync-system", ""},
			access{false, "get", "", "secrets", "flinksync-system", "flinksync-git"},
			access{false, "list", "", "configmaps", "", ""},
			access{false, "create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""},
			access{false, "create", "rbac.authorization.k8s.io", "clusterroles", "", ""},
			access{false, "impersonate", "", "users", "", ""},
			access{false, "patch", "apiextensions.k8s.io", "customresourcedefinitions", "", ""},
		)
		checkAccess(t, cfg, inst, checks)

		checkPodSecurity(t, cfg, inst)
		sa := inst.impersonating(cfg)
		t.Run("sync the example repository", func(t *testing.T) { syncExample(t, cfg, sa, managed, unmanaged) })
		t.Run("no escalation", func(t *testing.T) { checkNoEscalation(t, cfg, sa, unmanaged) })
		t.Run("leader election", func(t *testing.T) { checkLeaderElection(t, sa, "flinksync-system", "flinksync-leader") })
		t.Run("helm install --dry-run=server", func(t *testing.T) { checkHelmInstall(t, cfg) })
	})
}

// checkPodSecurity creates (as a server-side dry run) a pod from the
// Deployment's template in the release namespace under the restricted Pod
// Security Standard, and a worse pod that the standard must refuse.
func checkPodSecurity(t *testing.T, cfg *rest.Config, inst *installation) {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest"}}}`)
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, inst.ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	(&rendered{objs: inst.objs}).one(t, "Deployment", &dep)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: dep.Name + "-", Namespace: inst.ns, Labels: dep.Spec.Template.Labels},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := cs.CoreV1().Pods(inst.ns).Create(ctx, pod, dryRun); err != nil {
		t.Errorf("the pod of the Deployment is refused in a namespace enforcing the restricted Pod Security Standard: %v", err)
	}
	worse := pod.DeepCopy()
	worse.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	if _, err := cs.CoreV1().Pods(inst.ns).Create(ctx, worse, dryRun); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("a pod allowing privilege escalation must be refused by PodSecurity admission: got %v", err)
	}
}

// installation is a chart applied to the control plane.
type installation struct {
	ns, serviceAccount string
	objs               []*unstructured.Unstructured
}

// install renders the chart for release namespace ns, creates ns and the
// managed namespaces, and server-side applies every object.
func install(t *testing.T, cfg *rest.Config, ns string, managed []string, values ...string) *installation {
	t.Helper()
	for _, n := range append([]string{ns}, managed...) {
		testenv.CreateNamespace(t, cfg, n)
	}
	r := renderChart(t, ns, values...)
	applyAll(t, cfg, r.objs)
	return &installation{ns: ns, serviceAccount: r.one(t, "ServiceAccount", nil).GetName(), objs: r.objs}
}

// user is the ServiceAccount's user name and groups, as the API server sees it.
func (i *installation) user() (string, []string) {
	return "system:serviceaccount:" + i.ns + ":" + i.serviceAccount,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + i.ns, "system:authenticated"}
}

// impersonating returns a copy of the admin config that acts as the ServiceAccount.
func (i *installation) impersonating(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate.UserName, c.Impersonate.Groups = i.user()
	return c
}

func newMapper(t *testing.T, cfg *rest.Config) meta.RESTMapper {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

// applyAll server-side applies objs in order and fails t on the first refusal.
func applyAll(t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := newMapper(t, cfg)
	for _, u := range objs {
		if _, err := applyOne(ctx, dyn, mapper, u); err != nil {
			t.Fatalf("the API server refuses %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	return ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: installFieldManager, Force: true})
}

// installCRDs applies the CRDs in dir and waits until they are served.
func installCRDs(t *testing.T, cfg *rest.Config, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.UnmarshalStrict(b, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := dyn.Resource(crdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: installFieldManager, Force: true}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s is not Established: %v", name, err)
		}
	}
	// Discovery may lag behind Established.
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		_, err := dc.ServerResourcesForGroupVersion("monitoring.coreos.com/v1")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("monitoring.coreos.com/v1 is not discoverable: %v", err)
	}
}

// access is one question to the authorizer about the ServiceAccount.
type access struct {
	allowed                           bool
	verb, group, resource, ns, object string
}

func (a access) String() string {
	s := a.verb + " " + a.resource
	if a.group != "" {
		s += "." + a.group
	}
	if a.object != "" {
		s += " " + a.object
	}
	if a.ns != "" {
		return s + " in " + a.ns
	}
	return s + " (cluster-wide)"
}

// checkAccess asks each question twice: as the ServiceAccount itself
// (SelfSubjectAccessReview through impersonation) and about it as the admin
// (SubjectAccessReview).
func checkAccess(t *testing.T, cfg *rest.Config, inst *installation, checks []access) {
	t.Helper()
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	self, err := kubernetes.NewForConfig(inst.impersonating(cfg))
	if err != nil {
		t.Fatal(err)
	}
	user, groups := inst.user()
	for _, c := range checks {
		attrs := &authorizationv1.ResourceAttributes{Namespace: c.ns, Verb: c.verb, Group: c.group, Name: c.object}
		attrs.Resource, attrs.Subresource, _ = strings.Cut(c.resource, "/")
		ssar, err := self.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview %s: %v", c, err)
		}
		sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx,
			&authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: attrs}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SubjectAccessReview %s: %v", c, err)
		}
		if ssar.Status.Allowed != c.allowed || sar.Status.Allowed != c.allowed {
			t.Errorf("%s may %s: allowed %v (self) / %v (admin's review), want %v", user, c, ssar.Status.Allowed, sar.Status.Allowed, c.allowed)
		}
	}
}

// syncExample runs flinksync's own sync of examples/repo-layout as the
// ServiceAccount: every environment in a managed namespace is created, then
// left unchanged, then pruned; the one elsewhere is refused. The target:
// cmf environment writes to CMF, not to the cluster, and is left out: it
// syncs on the CMF stand-in in cmd/flinksync's TestExampleCMFEnvironment.
func syncExample(t *testing.T, admin, sa *rest.Config, managed []string, unmanaged string) {
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(os.DirFS(filepath.Join(root, "examples", "repo-layout")), pipeline.Options{Revision: "chart-test"})
	if err != nil {
		t.Fatal(err)
	}
	syncer, err := fsync.New(sa)
	if err != nil {
		t.Fatal(err)
	}
	pass := func(env string, out *render.Environment) *fsync.Result {
		for _, e := range res.Repo.Environments {
			if e.Metadata.Name == env {
				return syncer.Sync(ctx, e, out, fsync.Options{Blocked: res.Blocked[env]})
			}
		}
		t.Fatalf("no environment %s in examples/repo-layout", env)
		return nil
	}
	seen := map[string]bool{}
	for _, env := range res.Repo.Environments {
		if env.Spec.Target == model.TargetCMF {
			continue
		}
		name, ns := env.Metadata.Name, env.Spec.Namespace
		seen[ns] = true
		out := res.Rendered[name]
		r := pass(name, out)
		if ns == unmanaged {
			if r.OK() || !strings.Contains(strings.ToLower(strings.Join(r.Errors, " ")), "forbidden") {
				t.Errorf("%s in unmanaged %s: want a forbidden error, got %s %v", name, ns, r.Summary(), r.Errors)
			}
			continue
		}
		if !slices.Contains(managed, ns) {
			t.Fatalf("examples/repo-layout environment %s is in %s, which the test neither manages nor expects", name, ns)
		}
		if !r.OK() || r.Count(fsync.Created) == 0 {
			t.Fatalf("%s as the ServiceAccount: %s\nerrors: %v\nchanges: %+v", name, r.Summary(), r.Errors, r.Changes)
		}
		if r = pass(name, out); !r.OK() || r.Count(fsync.Unchanged) != len(r.Changes) {
			t.Errorf("%s, second pass: %s %v", name, r.Summary(), r.Errors)
		}
		checkHealthReadsPods(t, admin, ns, out, func() *fsync.Result { return pass(name, out) })
		// Prune: drop one FlinkDeployment from Git.
		i := slices.IndexFunc(out.Objects, func(o *render.Object) bool { return o.GetKind() == "FlinkDeployment" })
		if i < 0 {
			continue
		}
		less := *out
		less.Objects = slices.Delete(slices.Clone(out.Objects), i, i+1)
		if r = pass(name, &less); !r.OK() || r.Count(fsync.Pruned) != 1 {
			t.Errorf("%s, prune as the ServiceAccount: %s %v", name, r.Summary(), r.Errors)
		}
	}
	for _, ns := range append(slices.Clone(managed), unmanaged) {
		if !seen[ns] {
			t.Errorf("no environment of examples/repo-layout in %s: the test no longer covers it", ns)
		}
	}
}

// checkHealthReadsPods: with the chart's rules, health reads a
// FlinkDeployment's Pending TaskManager pod and the scheduler's
// FailedScheduling event about it in namespace ns (pass syncs as the
// ServiceAccount), and quotes the event.
func checkHealthReadsPods(t *testing.T, admin *rest.Config, ns string, out *render.Environment, pass func() *fsync.Result) {
	t.Helper()
	i := slices.IndexFunc(out.Objects, func(o *render.Object) bool { return o.GetKind() == "FlinkDeployment" })
	if i < 0 {
		return
	}
	app := out.Objects[i].GetName()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: app + "-taskmanager-1-1", Namespace: ns,
		Labels: map[string]string{"app": app, "component": "taskmanager"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "flink-main-container", Image: "flink"}}}}
	if pod, err = cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cs.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: pod.Name + ".1", Namespace: ns}, Reason: "FailedScheduling", Type: "Warning",
		Message:        "0/3 nodes are available: 3 Insufficient cpu.",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, Namespace: ns, UID: pod.UID},
		LastTimestamp:  metav1.Now()}
	if _, err := cs.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cs.CoreV1().Events(ns).Delete(ctx, ev.Name, metav1.DeleteOptions{}) }()
	r := pass()
	for _, h := range r.Health {
		if h.App == app && strings.Contains(h.Message, "FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu.") {
			return
		}
	}
	t.Errorf("%s: health as the ServiceAccount does not quote the FailedScheduling event of %s: %+v", ns, pod.Name, r.Health)
}

// checkNoEscalation: the ServiceAccount cannot grant itself more, read
// Secrets wholesale, or reach outside its namespaces, when it really tries.
func checkNoEscalation(t *testing.T, admin, sa *rest.Config, unmanaged string) {
	ctx := context.Background()
	adminCS, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flink-tls", "another-secret"} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flink-dev"}, StringData: map[string]string{"k": "v"}}
		if _, err := adminCS.CoreV1().Secrets("flink-dev").Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	mustAllow := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	mustForbid := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden, got %v", what, err)
		}
	}
	_, err = cs.CoreV1().Secrets("flink-dev").Get(ctx, "flink-tls", metav1.GetOptions{})
	mustAllow("get the TLS Secret", err)
	_, err = cs.CoreV1().Secrets("flink-dev").Get(ctx, "another-secret", metav1.GetOptions{})
	mustForbid("get another Secret", err)
	_, err = cs.CoreV1().Secrets("flink-dev").List(ctx, metav1.ListOptions{})
	mustForbid("list Secrets", err)
	_, err = cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	mustForbid("list Secrets cluster-wide", err)

	// A Role with more than the ServiceAccount holds: refused (no escalate).
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "grab-secrets", Namespace: "flink-dev"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}}}}
	_, err = cs.RbacV1().Roles("flink-dev").Create(ctx, role, metav1.CreateOptions{})
	mustForbid("create a Role granting list on Secrets", err)
	// A binding of a ClusterRole it does not hold: refused (no bind). Not
	// admin or edit: they are aggregated by kube-controller-manager, which
	// the test control plane lacks, and are empty here.
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "grab-admin", Namespace: "flink-dev"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "flink", Namespace: "flink-dev"}}}
	_, err = cs.RbacV1().RoleBindings("flink-dev").Create(ctx, rb, metav1.CreateOptions{})
	mustForbid("bind ClusterRole cluster-admin in a managed namespace", err)
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "grab-cluster"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "flinksync", Namespace: "flinksync-system"}}}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	mustForbid("create a ClusterRoleBinding", err)

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	for _, ns := range []string{unmanaged, "flinksync-system", "default", "kube-system"} {
		_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		mustForbid("create a ConfigMap in "+ns, err)
	}
	_, err = cs.CoreV1().Namespaces().Get(ctx, unmanaged, metav1.GetOptions{})
	mustForbid("get an unmanaged Namespace", err)
	_, err = cs.CoreV1().Namespaces().Get(ctx, "flink-dev", metav1.GetOptions{})
	mustAllow("get a managed Namespace", err)

	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "flinksync-", Namespace: "flink-dev"},
		InvolvedObject: corev1.ObjectReference{APIVersion: "flink.apache.org/v1beta1", Kind: "FlinkDeployment", Name: "orders-enrich", Namespace: "flink-dev"},
		Reason:         "Synced", Message: "chart test", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "flinksync"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}
	_, err = cs.CoreV1().Events("flink-dev").Create(ctx, ev, metav1.CreateOptions{})
	mustAllow("create an Event in a managed namespace", err)
}

// checkLeaderElection runs client-go's leader election, as the daemon does,
// as the ServiceAccount: it must acquire and then release the Lease.
func checkLeaderElection(t *testing.T, sa *rest.Config, ns, lease string) {
	cs, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	led := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: lease},
			Client:     cs.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: "chart-test"},
		},
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(led); cancel() },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	elector.Run(ctx) // returns after cancel, having released the Lease
	select {
	case <-led:
	default:
		t.Fatalf("the ServiceAccount did not acquire Lease %s/%s within 30s", ns, lease)
	}
	l, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := l.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("Lease still held by %q after release", *h)
	}
}

// checkHelmInstall runs helm's own install against the API server (a server
// dry run: helm validates every object with the server and renders
// NOTES.txt), as a second release beside the one applied above.
func checkHelmInstall(t *testing.T, cfg *rest.Config) {
	kubeconfig := testenv.WriteKubeconfig(t, cfg)
	out, err := helmWithKubeconfig(t, kubeconfig, "install", "flinksync-dry", chartDir, "--namespace", "flinksync-system",
		"--dry-run=server", "-f", valuesAll, "--set", "fullnameOverride=flinksync-dry", "--set", "leaderElection.leaseName=flinksync-dry")
	if err != nil {
		t.Fatal(err)
	}
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("helm install printed no NOTES:\n%s", out)
	}
	for _, want := range []string{
		"follows git@github.com:acme/flink-platform.git (release, every 2m)",
		"flink-dev, flink-staging, flink-prod",
		"Leader election is on: 2 replica(s)",
		"GitHub:  https://flinksync.example.com/hooks/github",
		"PrometheusRule flinksync-system/flinksync-dry",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
	if testing.Verbose() {
		t.Logf("NOTES:%s", notes)
	}
}
