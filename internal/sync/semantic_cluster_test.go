package sync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var quotaGVR = schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}

// quotaYAML is a ResourceQuota as a platform team writes it in an
// overlay: the server stores 1000m as 1, 1024Mi as 1Gi, 50 as "50".
const quotaYAML = `apiVersion: v1
kind: ResourceQuota
metadata: {name: flink-quota, namespace: NS}
spec:
  hard:
    requests.cpu: 1000m
    requests.memory: 1024Mi
    limits.memory: 2048Mi
    pods: 50
`

// serviceYAML is a Service with int-or-string target ports, one a number
// and one a port name, and an empty clusterIP the server fills in (no
// local rule knows that: the server's dry run settles it).
const serviceYAML = `apiVersion: v1
kind: Service
metadata: {name: flink-rest, namespace: NS}
spec:
  clusterIP: ""
  selector: {app: orders-enrich, component: jobmanager}
  ports:
  - {name: rest, port: 8081, targetPort: 8081}
  - {name: ui, port: 80, targetPort: rest}
`

// withOverlayObjects gives env an overlay that adds the quota and the
// Service.
func (f *fixture) withOverlayObjects(env string) {
	f.t.Helper()
	dir := filepath.Join(f.dir, "overlays", env)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	for name, data := range map[string]string{
		"kustomization.yaml": "resources: [quota.yaml, service.yaml]\n",
		"quota.yaml":         quotaYAML,
		"service.yaml":       serviceYAML,
	} {
		data = strings.ReplaceAll(data, "NS", f.ns(env))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) quotaCPU(env string) string {
	f.t.Helper()
	q, err := f.dyn.Resource(quotaGVR).Namespace(f.ns(env)).Get(context.Background(), "flink-quota", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	v, _, _ := unstructured.NestedString(q.Object, "spec", "hard", "requests.cpu")
	return v
}

// TestOverlayObjectsTheServerRewritesConverge: an overlay's quota written
// as 1000m/1024Mi and a Service with int-or-string ports and a clusterIP
// the server allocates converge on the real API server: the pass after
// the first writes nothing, neither does any later one, drift finds
// nothing in a warn and in a correct environment, and a steady cluster
// costs no dry run.
func TestOverlayObjectsTheServerRewritesConverge(t *testing.T) {
	f := newFixture(t)
	envs := []string{"dev", "staging"} // drift: warn and drift: correct
	for _, env := range envs {
		f.withOverlayObjects(env)
	}
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	if got := f.quotaCPU("dev"); got != "1" {
		t.Fatalf("the server stores requests.cpu as %q; the test expects it to rewrite 1000m as 1", got)
	}
	for pass := 2; pass <= 3; pass++ {
		f.writes.Store(0)
		results := f.pass(ctx, Options{})
		mustOK(t, results)
		for _, env := range envs {
			r := results[env]
			if r.Count(Unchanged) != len(r.Changes) || len(r.Drift) != 0 {
				t.Errorf("pass %d, %s: nothing changed, so nothing to do: %s %+v %+v", pass, env, r.Summary(), notUnchanged(r), r.Drift)
			}
			// Pass 2 asks the server about the Service once; pass 3
			// remembers its answer.
			if want := 3 - pass; r.DryRuns != want {
				t.Errorf("pass %d, %s: %d dry runs, want %d", pass, env, r.DryRuns, want)
			}
		}
		if n := f.writes.Load(); n != 0 {
			t.Errorf("pass %d made %d write requests on an unchanged cluster, want 0", pass, n)
		}
	}
	// drift, as the CLI runs it: a new process, so no remembered answers.
	fresh, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = fresh
	for env, r := range f.pass(ctx, Options{Mode: ModeObserve}) {
		if len(r.Drift) != 0 || len(r.Errors) != 0 {
			t.Errorf("%s: drift on an untouched cluster: %+v %v", env, r.Drift, r.Errors)
		}
	}
}

// TestRealQuotaChangeIsStillDrift: a live edit of the quota is reported,
// in the server's spelling and with no other field, left alone in a warn
// environment and taken back in a correct one; a change of the quota in
// Git is applied, then the passes are quiet again.
func TestRealQuotaChangeIsStillDrift(t *testing.T) {
	f := newFixture(t)
	envs := []string{"dev", "staging"}
	for _, env := range envs {
		f.withOverlayObjects(env)
	}
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	for _, env := range envs {
		patch := []byte(`{"spec":{"hard":{"requests.cpu":"2"}}}`)
		if _, err := f.dyn.Resource(quotaGVR).Namespace(f.ns(env)).Patch(ctx, "flink-quota", types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	want := Drift{ObjectID: ObjectID{Kind: "ResourceQuota", Name: "flink-quota"}, Field: `spec.hard["requests.cpu"]`, Desired: "1", Live: "2"}
	observed := f.pass(ctx, Options{Mode: ModeObserve})
	for _, env := range envs {
		r := observed[env]
		want.Environment, want.Namespace = env, f.ns(env)
		if len(r.Drift) != 1 || r.Drift[0] != want {
			t.Errorf("%s: drift must be the quota's requests.cpu alone, Git 1, live 2: %+v", env, r.Drift)
		}
	}
	r := f.pass(ctx, Options{})
	mustOK(t, r)
	if r["dev"].Count(Drifted) != 1 || f.quotaCPU("dev") != "2" {
		t.Errorf("dev (drift: warn) reports the edit and leaves it: %s, requests.cpu %s", r["dev"].Summary(), f.quotaCPU("dev"))
	}
	if r["staging"].Count(Configured) != 1 || f.quotaCPU("staging") != "1" {
		t.Errorf("staging (drift: correct) takes the edit back: %s, requests.cpu %s", r["staging"].Summary(), f.quotaCPU("staging"))
	}
	for _, c := range r["staging"].Changes {
		for _, d := range c.Diffs {
			if strings.Contains(d.Desired, "1000m") || strings.Contains(d.Desired, "1024Mi") {
				t.Errorf("a diff shows Git's spelling the server rewrites: %+v", d)
			}
		}
	}

	f.edit("overlays/staging/quota.yaml", "requests.cpu: 1000m", "requests.cpu: 1500m")
	r = f.pass(ctx, Options{})
	mustOK(t, r)
	if r["staging"].Count(Configured) != 1 || f.quotaCPU("staging") != "1500m" {
		t.Errorf("a quota changed in Git is applied: %s %+v, requests.cpu %s", r["staging"].Summary(), notUnchanged(r["staging"]), f.quotaCPU("staging"))
	}
	f.writes.Store(0)
	r = f.pass(ctx, Options{})
	if r["staging"].Count(Unchanged) != len(r["staging"].Changes) || f.writes.Load() != 0 {
		t.Errorf("and the pass after writes nothing: %s, %d writes", r["staging"].Summary(), f.writes.Load())
	}
}

// TestReadOnlyCredentialsCompareLocally: credentials that may only read
// (plan --live's) cannot send a dry run (the API server authorizes it as
// a patch). The pass then compares locally, says so on the object, sends
// the refused dry run once, not once per object, and reports no error.
func TestReadOnlyCredentialsCompareLocally(t *testing.T) {
	f := newFixture(t)
	f.withOverlayObjects("dev")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	patch := []byte(`{"spec":{"hard":{"requests.cpu":"2"}}}`)
	if _, err := f.dyn.Resource(quotaGVR).Namespace(f.ns("dev")).Patch(ctx, "flink-quota", types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	reader, err := New(f.userWith("reader", rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}))
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = reader
	r := f.pass(ctx, Options{Mode: ModeObserve})["dev"]
	if len(r.Errors) != 0 || r.DryRuns != 1 {
		t.Fatalf("a refused dry run is no error and is sent once: %d dry runs, errors %v", r.DryRuns, r.Errors)
	}
	found := false
	for _, d := range r.Drift {
		found = found || (d.Name == "flink-quota" && d.Field == `spec.hard["requests.cpu"]` && d.Live == "2")
	}
	if !found {
		t.Errorf("the live edit is still drift: %+v", r.Drift)
	}
	for _, c := range notUnchanged(r) {
		if !strings.Contains(c.Message, "compared locally") {
			t.Errorf("%s: the message must say the comparison was local: %q", c.ID(), c.Message)
		}
	}
}

func notUnchanged(r *Result) []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Action != Unchanged {
			out = append(out, c)
		}
	}
	return out
}
