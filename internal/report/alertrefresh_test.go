package report

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	gosync "sync"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/sync"
)

// TestAlerterRefreshesFiringAlertsForAlertmanager: with a TTL, an alert
// that still fires is re-sent to Alertmanager on every pass with endsAt a
// TTL ahead (Alertmanager resolves an alert nobody re-sends after its
// resolve_timeout), while chat and JSON targets hear of it once.
func TestAlerterRefreshesFiringAlertsForAlertmanager(t *testing.T) {
	var mu gosync.Mutex
	bodies := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[r.URL.Path] = append(bodies[r.URL.Path], string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	a := &Alerter{
		Targets: []AlertTarget{{URL: srv.URL + "/am", Format: FormatAlertmanager}, {URL: srv.URL + "/json", Format: FormatJSON}},
		TTL:     20 * time.Minute,
		Now:     func() time.Time { return now },
	}
	drifted := &sync.Result{Environment: "prod", Drift: []sync.Drift{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "a"}, Field: "spec.x"}}}
	for i := 0; i < 3; i++ {
		a.Observe(context.Background(), drifted)
		now = now.Add(5 * time.Minute)
	}
	a.Observe(context.Background(), &sync.Result{Environment: "prod"})

	if n := len(bodies["/json"]); n != 2 {
		t.Errorf("the JSON target must hear of the problem once and of its end once, got %d: %v", n, bodies["/json"])
	}
	am := bodies["/am"]
	if len(am) != 4 {
		t.Fatalf("Alertmanager must get the alert on each of 3 passes and the resolution, got %d: %v", len(am), am)
	}
	for i, want := range []string{"2026-11-30T10:20:00Z", "2026-11-30T10:25:00Z", "2026-11-30T10:30:00Z", "2026-11-30T10:15:00Z"} {
		var alerts []struct {
			StartsAt string `json:"startsAt"`
			EndsAt   string `json:"endsAt"`
		}
		if err := json.Unmarshal([]byte(am[i]), &alerts); err != nil || len(alerts) != 1 {
			t.Fatalf("body %d: %s (%v)", i, am[i], err)
		}
		if alerts[0].StartsAt != "2026-11-30T10:00:00Z" || alerts[0].EndsAt != want {
			t.Errorf("body %d: startsAt %s endsAt %s, want the first start and endsAt %s", i, alerts[0].StartsAt, alerts[0].EndsAt, want)
		}
	}
}
