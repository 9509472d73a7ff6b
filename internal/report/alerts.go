package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/sync"
)

// Alert kinds.
const (
	AlertDrift       = "DriftDetected"
	AlertSyncFailed  = "SyncFailed"
	AlertBlocked     = "PolicyBlocked"
	AlertAppDegraded = "AppDegraded"
	// AlertSavepointFailed: prune took a savepoint of a running stateful
	// job before deleting it, and the operator failed it; the job is kept.
	AlertSavepointFailed = "SavepointFailed"
)

// Alert formats.
const (
	FormatAlertmanager = "alertmanager"
	FormatSlack        = "slack"
	FormatJSON         = "json"
)

// AlertTarget is a webhook that receives alerts in one format.
type AlertTarget struct {
	URL    string
	Format string
}

// Alert is one problem: it fires once when it appears and sends a
// resolved notice once when it clears.
type Alert struct {
	Kind        string    `json:"alert"`
	Status      string    `json:"status"` // firing or resolved
	Environment string    `json:"environment"`
	Cluster     string    `json:"cluster,omitempty"` // "default" for the default cluster
	App         string    `json:"app,omitempty"`
	Summary     string    `json:"summary"`
	Details     []string  `json:"details,omitempty"`
	Revision    string    `json:"revision,omitempty"`
	StartsAt    time.Time `json:"startsAt"`
	EndsAt      time.Time `json:"endsAt,omitempty"`
	// Refresh marks a re-send of an alert still firing: only Alertmanager
	// targets get it (they expire an alert nobody re-sends), chat and
	// JSON targets heard of it once.
	Refresh bool `json:"-"`
}

func (a Alert) key() string { return a.Kind + "/" + a.Environment + "/" + a.App }

// Alerter turns sync results into alerts: one per new problem, not one per
// pass, and a resolved notice when the problem is gone.
type Alerter struct {
	Targets []AlertTarget
	Client  *http.Client
	Metrics *Metrics
	Now     func() time.Time
	// Queue, when set, delivers in the background with retries (the
	// daemon); without it each notification is tried once, at once.
	Queue *AlertQueue
	// TTL, when set, is how long Alertmanager keeps a firing alert without
	// hearing of it again: every firing alert carries endsAt = now + TTL,
	// and each Observe re-sends the alerts of its environment that still
	// fire. Alertmanager otherwise resolves an alert after its
	// resolve_timeout (5m by default) although the problem persists; and
	// an alert of a daemon that stopped resolves after TTL. Set it to a few
	// times the longest gap between two passes of an environment.
	TTL time.Duration

	mu     gosync.Mutex
	active map[string]Alert // by key
}

// Observe compares the problems of one environment's pass with those it had
// before, and sends what changed. It returns the alerts it sent.
func (a *Alerter) Observe(ctx context.Context, r *sync.Result) []Alert {
	r = sync.Masked(r) // an alert quotes errors and drifted values
	now := a.now()
	current := map[string]Alert{}
	add := func(al Alert) {
		al.Environment, al.Cluster, al.Revision, al.Status, al.StartsAt = r.Environment, clusters.DisplayName(r.Cluster), r.Revision, "firing", now
		current[al.key()] = al
	}
	switch {
	case len(r.Blocked) > 0:
		add(Alert{Kind: AlertBlocked, Summary: fmt.Sprintf("environment %s is blocked: nothing is applied until the repository is fixed", r.Environment), Details: r.Blocked})
	case !r.OK():
		// A job kept because its savepoint failed is alerted below, as
		// SavepointFailed; the pass failed for that alone is not SyncFailed.
		savepoint := map[string]bool{}
		for _, sp := range r.Savepoints {
			if sp.Failed() {
				savepoint[sp.ID()] = true
			}
		}
		var details []string
		details = append(details, r.Errors...)
		for _, c := range r.Changes {
			if (c.Action == sync.Failed && !savepoint[c.ID()]) || c.Action == sync.Conflict {
				msg := c.Message
				for _, d := range c.Diffs {
					msg = strings.TrimSpace(msg + " " + d.Live)
				}
				details = append(details, fmt.Sprintf("%s %s: %s", c.Action, c.ID(), msg))
			}
		}
		if len(details) > 0 || r.Count(sync.Skipped) > 0 || len(savepoint) == 0 {
			add(Alert{Kind: AlertSyncFailed, Summary: fmt.Sprintf("sync of environment %s failed", r.Environment), Details: details})
		}
	}
	for _, sp := range r.Savepoints {
		if sp.Failed() {
			add(Alert{Kind: AlertSavepointFailed, App: sp.ObjectID.Name,
				Summary: fmt.Sprintf("savepoint %s of %s in %s is %s: the job is kept running and not pruned", sp.Ref(), sp.ID(), r.Environment, sp.State),
				Details: []string{sp.Error, sp.Retry()}})
		}
	}
	if len(r.Drift) > 0 {
		var details []string
		objs := map[string]bool{}
		for _, d := range r.Drift {
			objs[d.ID()] = true
			details = append(details, fmt.Sprintf("%s %s: Git %s, live %s", d.ID(), d.Field, d.Desired, d.Live))
		}
		add(Alert{Kind: AlertDrift, Summary: fmt.Sprintf("%d object(s) in environment %s drifted from Git", len(objs), r.Environment), Details: details})
	}
	upgradeAlerts(r, add) // upgrades.go
	health := map[string]sync.Health{}
	for _, h := range r.Health {
		health[h.App] = h.Health
		if h.Health == sync.Degraded {
			add(Alert{Kind: AlertAppDegraded, App: h.App, Summary: fmt.Sprintf("%s in %s is degraded: %s", h.App, r.Environment, h.Message)})
		}
	}

	a.mu.Lock()
	if a.active == nil {
		a.active = map[string]Alert{}
	}
	a.carryOver(r, current, health)
	var send []Alert
	for k, al := range current {
		if a.TTL > 0 {
			al.EndsAt = now.Add(a.TTL)
		}
		prev, was := a.active[k]
		switch {
		case !was:
			a.active[k] = al
			send = append(send, al)
		case a.TTL > 0:
			prev.EndsAt, prev.Refresh, prev.Details, prev.Summary, prev.Revision = al.EndsAt, true, al.Details, al.Summary, al.Revision
			a.active[k] = prev
			send = append(send, prev)
		}
	}
	for k, al := range a.active {
		if al.Environment != r.Environment {
			continue
		}
		if _, still := current[k]; !still {
			delete(a.active, k)
			al.Status, al.EndsAt, al.Refresh = "resolved", now, false
			send = append(send, al)
		}
	}
	a.mu.Unlock()
	sort.Slice(send, func(i, j int) bool { return send[i].key() < send[j].key() })
	for _, al := range send {
		a.send(ctx, al)
	}
	return send
}

// carryOver keeps firing, into current, the drift and application alerts
// of r's environment that this pass cannot clear (an UpgradeFailed alert:
// see keepUpgradeAlert). An application alert
// resolves only once the application is Healthy again or gone from Git:
// a Degraded job that FKO is redeploying (Progressing) or whose status is
// gone (Unknown) is not fixed yet, and resolving it there would page twice
// for one failure. A pass that learnt nothing of the cluster (blocked, or
// failed before it read the objects' status) clears neither drift nor
// health. Called with a.mu held.
func (a *Alerter) carryOver(r *sync.Result, current map[string]Alert, health map[string]sync.Health) {
	blind := len(r.Blocked) > 0 || (len(r.Health) == 0 && len(r.Errors) > 0)
	for k, al := range a.active {
		if al.Environment != r.Environment || (al.Kind != AlertAppDegraded && al.Kind != AlertDrift && al.Kind != AlertSavepointFailed && al.Kind != AlertUpgradeFailed) {
			continue
		}
		if _, again := current[k]; again {
			continue
		}
		h, listed := health[al.App]
		if blind || (al.Kind == AlertAppDegraded && listed && h != sync.Healthy) || (al.Kind == AlertUpgradeFailed && keepUpgradeAlert(r, al.App, h, listed)) {
			current[k] = al
		}
	}
}

// Active lists the problems currently firing.
func (a *Alerter) Active() []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Alert, 0, len(a.active))
	for _, al := range a.active {
		out = append(out, al)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

func (a *Alerter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Alerter) send(ctx context.Context, al Alert) {
	if a.Queue != nil {
		a.Queue.Enqueue(al)
		return
	}
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	for _, t := range a.Targets {
		if al.Refresh && t.Format != FormatAlertmanager {
			continue
		}
		body, err := Encode(t.Format, al)
		if err == nil {
			err = post(ctx, client, t.URL, body)
		}
		if a.Metrics != nil {
			a.Metrics.AlertSent(TargetName(t.URL), al.Kind, err)
		}
	}
}

func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("alert webhook %s: %s", url, resp.Status)
	}
	return nil
}

// Encode writes an alert in one of the formats: an Alertmanager v2 alert
// list, a Slack incoming-webhook message, or flinksync's own JSON.
//
// Every payload is masked (internal/redact): the summary and details go
// through the text masking whatever built the alert, and Slack's control
// characters (&, <, >) are escaped so a repository's strings cannot
// mention @channel or forge a link.
func Encode(format string, al Alert) ([]byte, error) {
	al.Summary = redact.Text(al.Summary)
	details := make([]string, len(al.Details))
	for i, d := range al.Details {
		details[i] = redact.Text(d)
	}
	al.Details = details
	switch format {
	case FormatAlertmanager:
		labels := map[string]string{"alertname": "Flinksync" + al.Kind, "environment": al.Environment, "severity": severity(al.Kind), "source": "flinksync"}
		if al.App != "" {
			labels["app"] = al.App
		}
		if al.Cluster != "" {
			labels["cluster"] = al.Cluster
		}
		am := map[string]any{
			"labels":      labels,
			"annotations": map[string]string{"summary": al.Summary, "description": strings.Join(al.Details, "\n"), "revision": al.Revision},
			"startsAt":    al.StartsAt.UTC().Format(time.RFC3339),
		}
		if !al.EndsAt.IsZero() {
			am["endsAt"] = al.EndsAt.UTC().Format(time.RFC3339)
		}
		return json.Marshal([]any{am})
	case FormatSlack:
		icon := ":rotating_light:"
		text := slackText(al.Summary)
		if al.Status == "resolved" {
			icon, text = ":white_check_mark:", "resolved: "+text
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s *flinksync %s* %s", icon, al.Kind, text)
		for i, d := range al.Details {
			if i == 10 {
				fmt.Fprintf(&b, "\n… and %d more", len(al.Details)-10)
				break
			}
			fmt.Fprintf(&b, "\n• %s", slackText(d))
		}
		return json.Marshal(map[string]string{"text": b.String()})
	case FormatJSON, "":
		return json.Marshal(al)
	}
	return nil, fmt.Errorf("alert format %q: want alertmanager, slack or json", format)
}

// slackText escapes the three characters Slack's message formatting
// gives a meaning (https://api.slack.com/reference/surfaces/formatting).
var slackText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

func severity(kind string) string {
	switch kind {
	case AlertDrift:
		return "warning"
	default:
		return "critical"
	}
}
