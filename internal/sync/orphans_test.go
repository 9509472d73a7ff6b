package sync

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

// envsOf maps the repository's environments to their namespaces, as the
// CLI and the daemon pass them to Orphans.
func envsOf(res *pipeline.Result) map[string]string {
	out := map[string]string{}
	for _, e := range res.Repo.Environments {
		out[e.Metadata.Name] = e.Spec.Namespace
	}
	return out
}

// orphansIn is what Orphans reports in one namespace (the control plane is
// shared with the other tests of the package).
func orphansIn(t *testing.T, f *fixture, envs map[string]string, ns string) []Orphan {
	t.Helper()
	all, err := f.syncer.Orphans(context.Background(), envs)
	if err != nil {
		t.Fatal(err)
	}
	var out []Orphan
	for _, o := range all {
		if o.Namespace == ns {
			out = append(out, o)
		}
	}
	return out
}

// An environment that moves to another namespace leaves its objects
// running in the old one: Orphans says so, names them, and deletes nothing.
func TestOrphanWhenAnEnvironmentMovesNamespace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.ns("dev")
	mustOK(t, map[string]*Result{"dev": f.syncEnv(ctx, "dev", Options{})})
	if got := orphansIn(t, f, envsOf(f.run()), old); len(got) != 0 {
		t.Fatalf("no orphan before the move: %+v", got)
	}

	moved := "flink-dev-moved" + f.suffix
	testenv.CreateNamespace(t, f.cfg, moved)
	f.edit("environments/dev.yaml", "namespace: "+old, "namespace: "+moved)
	mustOK(t, map[string]*Result{"dev": f.syncEnv(ctx, "dev", Options{})})
	got := orphansIn(t, f, envsOf(f.run()), old)
	if len(got) != 1 {
		t.Fatalf("want one orphan in %s: %+v", old, got)
	}
	o := got[0]
	if o.Environment != "dev" || o.MovedTo != moved || o.Successor != "" {
		t.Errorf("orphan %+v", o)
	}
	for _, want := range []string{"environment dev moved from namespace " + old + " to " + moved, "FlinkDeployment " + old + "/", "no longer managed", "delete them"} {
		if !strings.Contains(o.Message, want) {
			t.Errorf("the warning must say %q: %s", want, o.Message)
		}
	}
	if !slices.Contains(o.Objects, "FlinkDeployment "+old+"/orders-enrich") {
		t.Errorf("the orphan lists its objects: %v", o.Objects)
	}
	if f.get(fdGVR, old, "orders-enrich") == nil {
		t.Errorf("an orphan's objects are never deleted on their own")
	}
}

// A renamed environment (same namespace) does not take over what the old
// name applied until the inventory is annotated; an environment that left
// the repository is an orphan too.
func TestOrphanWhenAnEnvironmentIsRenamedOrRemoved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns("staging")
	mustOK(t, map[string]*Result{"staging": f.syncEnv(ctx, "staging", Options{})})

	// staging is renamed qa: the same objects, labelled qa.
	res := f.run()
	qa := *res.Repo.Environment("staging")
	qa.Metadata.Name = "qa"
	out := *res.Rendered["staging"]
	out.Name = "qa"
	out.Objects = nil
	for _, o := range res.Rendered["staging"].Objects {
		c := *o
		c.Unstructured = o.DeepCopy()
		l := c.GetLabels()
		l[render.LabelEnvironment] = "qa"
		c.SetLabels(l)
		out.Objects = append(out.Objects, &c)
	}
	envs := envsOf(res)
	delete(envs, "staging")
	envs["qa"] = ns

	got := orphansIn(t, f, envs, ns)
	if len(got) != 1 || got[0].Environment != "staging" || got[0].Successor != "qa" || got[0].MovedTo != "" {
		t.Fatalf("want staging as an orphan succeeded by qa: %+v", got)
	}
	if !strings.Contains(got[0].Message, "no longer in the repository and environment qa now uses its namespace") ||
		!strings.Contains(got[0].Message, AnnAdopt+"=qa") {
		t.Errorf("the warning must say what happened and how to hand over: %s", got[0].Message)
	}

	f.writes.Store(0)
	r := f.syncer.Sync(ctx, &qa, &out, Options{})
	if r.OK() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], `holds the inventory of flinksync environment "staging"`) {
		t.Fatalf("qa must not take over staging's objects unannounced: %s %v", r.Summary(), r.Errors)
	}
	if n := f.writes.Load(); n != 0 {
		t.Errorf("the refused pass made %d writes", n)
	}

	// The hand-over: the inventory is annotated for qa.
	f.annotate(cmGVR, ns, InventoryName, AnnAdopt, "qa")
	r = f.syncer.Sync(ctx, &qa, &out, Options{})
	mustOK(t, map[string]*Result{"qa": r})
	if got := f.get(fdGVR, ns, "orders-enrich").GetLabels()[render.LabelEnvironment]; got != "qa" {
		t.Errorf("after the hand-over the objects are qa's: %s", got)
	}
	if got := orphansIn(t, f, envs, ns); len(got) != 0 {
		t.Errorf("no orphan after the hand-over: %+v", got)
	}

	// prod leaves the repository.
	prodNS := f.ns("prod")
	r = f.syncEnv(ctx, "prod", Options{})
	mustOK(t, map[string]*Result{"prod": r})
	delete(envs, "prod")
	got = orphansIn(t, f, envs, prodNS)
	if len(got) != 1 || got[0].Environment != "prod" || got[0].Successor != "" || got[0].MovedTo != "" ||
		!strings.Contains(got[0].Message, "environment prod (namespace "+prodNS+") is no longer in the repository") {
		t.Fatalf("want prod as an orphan: %+v", got)
	}
}
