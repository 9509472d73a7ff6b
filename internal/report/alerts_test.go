package report

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/sync"
)

func TestAlertFormats(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	al := Alert{Kind: AlertDrift, Status: "firing", Environment: "prod", Summary: "1 object drifted",
		Details: []string{"FlinkDeployment/flink-prod/a spec.taskManager.replicas: Git 3, live 9"}, Revision: "abc", StartsAt: at}

	b, err := Encode(FormatAlertmanager, al)
	if err != nil {
		t.Fatal(err)
	}
	var am []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    string            `json:"startsAt"`
		EndsAt      string            `json:"endsAt"`
	}
	if err := json.Unmarshal(b, &am); err != nil || len(am) != 1 {
		t.Fatalf("alertmanager body must be a list of one alert: %s (%v)", b, err)
	}
	if am[0].Labels["alertname"] != "FlinksyncDriftDetected" || am[0].Labels["environment"] != "prod" ||
		am[0].StartsAt != "2026-11-21T10:00:00Z" || am[0].EndsAt != "" || !strings.Contains(am[0].Annotations["description"], "replicas") {
		t.Errorf("alertmanager alert: %+v", am[0])
	}
	al.Status, al.EndsAt = "resolved", at.Add(time.Minute)
	b, _ = Encode(FormatAlertmanager, al)
	if !strings.Contains(string(b), `"endsAt":"2026-11-21T10:01:00Z"`) {
		t.Errorf("a resolved alert carries endsAt: %s", b)
	}

	b, _ = Encode(FormatSlack, al)
	var slack map[string]string
	if err := json.Unmarshal(b, &slack); err != nil || !strings.Contains(slack["text"], "resolved") || !strings.Contains(slack["text"], "• FlinkDeployment") {
		t.Errorf("slack message: %s", b)
	}
	if _, err := Encode("pager", al); err == nil {
		t.Errorf("an unknown format must be refused")
	}
}

func TestAlerterSendsOncePerProblemAndResolves(t *testing.T) {
	var mu gosync.Mutex
	var got []Alert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a Alert
		_ = json.NewDecoder(r.Body).Decode(&a)
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer srv.Close()
	a := &Alerter{Targets: []AlertTarget{{URL: srv.URL, Format: FormatJSON}}}
	drifted := &sync.Result{Environment: "prod", Drift: []sync.Drift{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "a"}, Field: "spec.x"}},
		Health: []sync.AppHealth{{App: "a", Health: sync.Degraded, Message: "FAILED"}}}
	for i := 0; i < 3; i++ {
		a.Observe(context.Background(), drifted)
	}
	if len(got) != 2 || got[0].Kind != AlertAppDegraded || got[1].Kind != AlertDrift {
		t.Fatalf("three passes with the same problems must send each once: %+v", got)
	}
	// Another environment's pass does not resolve prod's alerts.
	a.Observe(context.Background(), &sync.Result{Environment: "dev"})
	if len(got) != 2 || len(a.Active()) != 2 {
		t.Fatalf("dev's clean pass must not touch prod's alerts: %+v", got)
	}
	a.Observe(context.Background(), &sync.Result{Environment: "prod"})
	if len(got) != 4 || got[2].Status != "resolved" || got[3].Status != "resolved" || len(a.Active()) != 0 {
		t.Fatalf("a clean pass resolves both: %+v", got)
	}
	a.Observe(context.Background(), &sync.Result{Environment: "prod", Blocked: []string{"x.yaml:1 TLS-001: off"}})
	if len(got) != 5 || got[4].Kind != AlertBlocked {
		t.Fatalf("a blocked pass alerts: %+v", got)
	}
}

// An application alert fires once when the application turns Degraded,
// stays firing (one page) while FKO redeploys it or its status is gone,
// and resolves once it is Healthy again; a pass that could not read the
// cluster (blocked, or failed early) resolves neither it nor drift. An
// application removed from Git resolves its alert.
func TestAppDegradedFiresOnceAndResolvesWhenHealthy(t *testing.T) {
	a := &Alerter{}
	pass := func(r *sync.Result) []Alert {
		r.Environment = "prod"
		return a.Observe(context.Background(), r)
	}
	health := func(h sync.Health, msg string) []sync.AppHealth {
		return []sync.AppHealth{{App: "orders", Health: h, Message: msg}, {App: "ledger", Health: sync.Healthy}}
	}
	kinds := func(sent []Alert) string {
		var out []string
		for _, al := range sent {
			out = append(out, al.Kind+"/"+al.App+" "+al.Status)
		}
		return strings.Join(out, ", ")
	}
	steps := []struct {
		name string
		r    *sync.Result
		want string // the alerts sent by this pass
	}{
		{"healthy", &sync.Result{Health: health(sync.Healthy, "STABLE")}, ""},
		{"the job fails", &sync.Result{Health: health(sync.Degraded, "job FAILED: OutOfMemoryError"),
			Drift: []sync.Drift{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "orders"}, Field: "spec.x"}}}, "AppDegraded/orders firing, DriftDetected/ firing"},
		{"still failed", &sync.Result{Health: health(sync.Degraded, "job FAILED: OutOfMemoryError"),
			Drift: []sync.Drift{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "orders"}, Field: "spec.x"}}}, ""},
		{"a fix pushed: the operator redeploys", &sync.Result{Health: health(sync.Progressing, "not yet acted on generation 5"),
			Drift: []sync.Drift{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "orders"}, Field: "spec.x"}}}, ""},
		{"no status for a moment", &sync.Result{Health: health(sync.Unknown, "no status yet"),
			Drift: []sync.Drift{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "orders"}, Field: "spec.x"}}}, ""},
		{"the environment blocked: nothing known", &sync.Result{Blocked: []string{"x.yaml:1 TLS-001: off"}}, "PolicyBlocked/ firing"},
		{"the API server down: nothing known", &sync.Result{Errors: []string{"listing flinkdeployments: connection refused"}}, "PolicyBlocked/ resolved, SyncFailed/ firing"},
		{"healthy again, drift put back", &sync.Result{Health: health(sync.Healthy, "STABLE")}, "AppDegraded/orders resolved, DriftDetected/ resolved, SyncFailed/ resolved"},
		{"fails again", &sync.Result{Health: health(sync.Degraded, "job FAILED")}, "AppDegraded/orders firing"},
		{"removed from Git", &sync.Result{Health: []sync.AppHealth{{App: "ledger", Health: sync.Healthy}}}, "AppDegraded/orders resolved"},
	}
	for _, s := range steps {
		if got := kinds(pass(s.r)); got != s.want {
			t.Errorf("%s: sent %q, want %q", s.name, got, s.want)
		}
	}
}
