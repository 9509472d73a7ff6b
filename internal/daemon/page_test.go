package daemon

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/statuspage"
	"github.com/flinksync/flinksync/internal/sync"
)

// pageDaemon is a daemon that never reaches a cluster: enough for the
// page's routes and events.
func pageDaemon(t *testing.T, sp StatusPage) *Daemon {
	t.Helper()
	d, err := New(Config{RestConfig: &rest.Config{Host: "http://127.0.0.1:1"}, Logger: discardLogger(), StatusPage: sp})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPageRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		sp   StatusPage
		auth string
		want int
	}{
		{"on", StatusPage{}, "", http.StatusOK},
		{"off", StatusPage{Disabled: true}, "", http.StatusNotFound},
		{"token missing", StatusPage{Token: []byte("t0k")}, "", http.StatusUnauthorized},
		{"token wrong", StatusPage{Token: []byte("t0k")}, "Bearer nope", http.StatusUnauthorized},
		{"token", StatusPage{Token: []byte("t0k")}, "Bearer t0k", http.StatusOK},
	} {
		h := pageDaemon(t, tc.sp).Handler()
		for _, path := range []string{"/", "/events"} {
			req := newGet(path)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := newRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%s: GET %s: %d, want %d", tc.name, path, rec.Code, tc.want)
			}
		}
		// The JSON API and the probes are not the page's to guard.
		for _, path := range []string{"/api/v1/status", "/healthz"} {
			rec := newRecorder()
			h.ServeHTTP(rec, newGet(path))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: GET %s: %d", tc.name, path, rec.Code)
			}
		}
	}
}

func TestPageHealthInArgoWords(t *testing.T) {
	for _, tc := range []struct {
		in   sync.AppHealth
		want statuspage.Health
	}{
		{sync.AppHealth{Health: sync.Healthy, Message: "lifecycle STABLE, job RUNNING, jobManager READY"}, statuspage.Healthy},
		{sync.AppHealth{Health: sync.Healthy, Message: "lifecycle SUSPENDED, job SUSPENDED, jobManager -: suspended, as Git says"}, statuspage.Suspended},
		{sync.AppHealth{Health: sync.Healthy, Message: "phase STOPPED"}, statuspage.Suspended},
		{sync.AppHealth{Health: sync.Healthy, Message: "phase SUSPENDED", Kind: sync.HealthPool}, statuspage.Suspended},
		{sync.AppHealth{Health: sync.Progressing, Message: "lifecycle SUSPENDED, job -, jobManager -: suspended, and Git says running (resuming?)"}, statuspage.Progressing},
		{sync.AppHealth{Health: sync.Degraded, Message: "lifecycle FAILED"}, statuspage.Degraded},
		{sync.AppHealth{Health: sync.Unknown, Message: "no status yet"}, statuspage.Missing},
		{sync.AppHealth{Health: sync.Unknown, Message: "no status yet: is the operator running?"}, statuspage.Unknown},
		{sync.AppHealth{Health: "Weird"}, statuspage.Unknown},
	} {
		if got := pageHealth(tc.in); got != tc.want {
			t.Errorf("pageHealth(%+v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// The view of an environment puts each drifted field on its app's row
// (others apart), each state impact on its job, pools with their apps,
// and says why an app has no health.
func TestPageEnvironment(t *testing.T) {
	e := &EnvironmentStatus{Name: "dev", Cluster: "default", AppliedRevision: "abc", LastPass: time.Now(), Result: "success",
		Sizing: []*sizing.Result{
			{App: "orders", Pool: "small", TaskManagers: 2, SlotsPerTaskManager: 2, Parallelism: 4, TotalCPU: 3.5, CheckpointInterval: 30},
			{App: "ledger", Pool: "small", TaskManagers: 1, SlotsPerTaskManager: 1, Parallelism: 1, TotalCPU: 1.5},
		},
		Health: []sync.AppHealth{
			{App: "orders", Health: sync.Degraded, Message: "lifecycle FAILED"},
			{App: "ddl", Kind: sync.HealthStatement, Health: sync.Healthy, Message: "phase COMPLETED"},
			{App: "pool/small", Kind: sync.HealthPool, Health: sync.Healthy, Message: "phase RUNNING"},
		},
		Drift: []sync.Drift{
			{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Namespace: "ns", Name: "orders"}, Field: "spec.taskManager.replicas", Desired: "2", Live: "5"},
			{ObjectID: sync.ObjectID{Kind: "Service", Namespace: "ns", Name: "rest"}, Field: "spec.type", Desired: "ClusterIP", Live: "NodePort"},
		},
	}
	impacts := []state.Impact{{Job: "orders", Message: "stateful: upgrade with upgradeMode stateless, 2Gi of state lost", LosesState: true}}
	v := pageEnvironment(e, "abc", nil, time.Second, impacts)
	byName := map[string]statuspage.App{}
	for _, a := range v.Apps {
		byName[a.Name] = a
	}
	o := byName["orders"]
	if o.Health != statuspage.Degraded || o.TaskManagers != 2 || o.Slots != 2 || o.CPU != 3.5 || o.CheckpointInterval != 30*time.Second {
		t.Errorf("orders: %+v", o)
	}
	if len(o.Drift) != 1 || o.Drift[0].Field != "spec.taskManager.replicas" || o.Drift[0].Live != "5" {
		t.Errorf("orders' drift: %+v", o.Drift)
	}
	if !o.LosesState || !strings.Contains(o.StateImpact, "2Gi of state lost") {
		t.Errorf("orders' state impact: %q", o.StateImpact)
	}
	if l := byName["ledger"]; l.Health != statuspage.Unknown || !strings.Contains(l.Message, "not checked") {
		t.Errorf("ledger, which the pass did not check: %+v", l)
	}
	if d := byName["ddl"]; !d.Statement || d.Sized || d.Health != statuspage.Healthy {
		t.Errorf("a statement only the health has: %+v", d)
	}
	if len(v.OtherDrift) != 1 || v.OtherDrift[0].Object != "Service/ns/rest" {
		t.Errorf("drift of other objects: %+v", v.OtherDrift)
	}
	if len(v.Pools) != 1 || v.Pools[0].Apps != 2 || v.Pools[0].TaskManagers != 3 || v.Pools[0].Health != statuspage.Healthy {
		t.Errorf("pools: %+v", v.Pools)
	}
}

func TestEventRing(t *testing.T) {
	d := pageDaemon(t, StatusPage{})
	for i := range MaxEvents + 7 {
		d.record(statuspage.Event{Kind: statuspage.EventPass, Message: itoa(i)})
	}
	ev := d.recent()
	if len(ev) != MaxEvents || ev[0].Message != itoa(MaxEvents+6) || ev[len(ev)-1].Message != itoa(7) {
		t.Errorf("want the last %d events newest first, got %d from %s to %s", MaxEvents, len(ev), ev[0].Message, ev[len(ev)-1].Message)
	}
	d.record(statuspage.Event{Message: "https://user:hunter2@git.example.com/repo.git failed"})
	if m := d.recent()[0].Message; strings.Contains(m, "hunter2") {
		t.Errorf("an event keeps a credential: %s", m)
	}
}

// A pass is an event; its applies, prunes and new drift are events of
// their own, drift seen before is not again.
func TestNotePass(t *testing.T) {
	d := pageDaemon(t, StatusPage{})
	fd := func(name string) sync.ObjectID {
		return sync.ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: "ns", Name: name}
	}
	r := &sync.Result{Environment: "dev", Revision: "0123456789", Changes: []sync.Change{
		{ObjectID: fd("a"), Action: sync.Created}, {ObjectID: fd("b"), Action: sync.Configured}, {ObjectID: fd("old"), Action: sync.Pruned},
		{ObjectID: fd("c"), Action: sync.Drifted},
	}, Savepoints: []sync.Savepoint{{ObjectID: fd("old"), Path: "s3://sp/old-1", State: "COMPLETED"}},
		Drift: []sync.Drift{{Environment: "dev", ObjectID: fd("c"), Field: "spec.job.parallelism", Desired: "2", Live: "4"}},
		State: []state.Impact{{Job: "b", Message: "stateless upgrade"}}}
	d.notePass(r, "revision")
	d.notePass(&sync.Result{Environment: "dev", Revision: "0123456789", Drift: r.Drift, Changes: []sync.Change{{ObjectID: fd("c"), Action: sync.Drifted}}}, "drift")
	kinds := map[statuspage.EventKind][]string{}
	for _, e := range d.recent() {
		kinds[e.Kind] = append(kinds[e.Kind], e.Message)
	}
	if len(kinds[statuspage.EventPass]) != 2 || !strings.HasPrefix(kinds[statuspage.EventPass][1], "revision pass at 0123456") {
		t.Errorf("passes: %q", kinds[statuspage.EventPass])
	}
	if a := kinds[statuspage.EventApply]; len(a) != 1 || !strings.Contains(a[0], "1 created, 1 configured") {
		t.Errorf("applies: %q", a)
	}
	if p := kinds[statuspage.EventPrune]; len(p) != 1 || p[0] != "pruned FlinkDeployment/ns/old after savepoint s3://sp/old-1" {
		t.Errorf("prunes: %q", p)
	}
	if dr := kinds[statuspage.EventDrift]; len(dr) != 1 || !strings.Contains(dr[0], "spec.job.parallelism (Git 2, live 4)") || !strings.Contains(dr[0], "drift: warn") {
		t.Errorf("drift must be an event once, when first seen: %q", dr)
	}
	if im := d.page.impacts["dev"]; len(im) != 1 || im[0].Job != "b" {
		t.Errorf("the last apply's state impacts must stay after a pass without any: %+v", im)
	}
}
