package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/sync"
)

func metaFor(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.HandleFunc("GET /api/v1/status", d.status)
	hooks := make(limiter, d.cfg.HTTP.withDefaults().MaxConcurrentWebhooks)
	mux.HandleFunc("POST /hooks/github", hooks.wrap(d.hook(verifyGitHub)))
	mux.HandleFunc("POST /hooks/gitlab", hooks.wrap(d.hook(verifyGitLab)))
	mux.HandleFunc("POST /hooks/generic", hooks.wrap(d.hook(verifyGeneric)))
	d.pageRoutes(mux)
	return mux
}

// readyz is ready once the daemon runs, on the leader and on standbys
// alike, so rollouts of several replicas finish; the body says which. The
// leader stops being ready when its passes stop completing (see stalled);
// /healthz only says the process answers.
func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	if !d.started.Load() {
		http.Error(w, "starting\n", http.StatusServiceUnavailable)
		return
	}
	if !d.leader.Load() {
		_, _ = io.WriteString(w, "ok: standby (another replica holds the lease)\n")
		return
	}
	if why := d.stalled(time.Now()); why != "" {
		http.Error(w, "not ready: "+why+"\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok: leader\n")
}

// verifier checks a webhook's authentication against the secret.
type verifier func(r *http.Request, body, secret []byte) bool

// verifyGitHub checks X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the body.
func verifyGitHub(r *http.Request, body, secret []byte) bool {
	return checkHMAC(r.Header.Get("X-Hub-Signature-256"), body, secret)
}

// verifyGitLab checks the X-Gitlab-Token header, which GitLab sends as is.
func verifyGitLab(r *http.Request, _, secret []byte) bool {
	tok := r.Header.Get("X-Gitlab-Token")
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), secret) == 1
}

// verifyGeneric checks X-Signature: "sha256=" + hex HMAC-SHA256 of the body.
func verifyGeneric(r *http.Request, body, secret []byte) bool {
	return checkHMAC(r.Header.Get("X-Signature"), body, secret)
}

func checkHMAC(header string, body, secret []byte) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// hook handles one webhook provider: body limited, signature checked, and
// a pass triggered (bursts coalesce into one pass).
func (d *Daemon) hook(verify verifier) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(d.cfg.WebhookSecret) == 0 {
			http.Error(w, "webhooks are disabled: start flinksync with --webhook-secret-file\n", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "body too large\n", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body\n", http.StatusBadRequest)
			return
		}
		if !verify(r, body, d.cfg.WebhookSecret) {
			d.log.Warn("webhook refused: bad signature", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "bad signature\n", http.StatusUnauthorized)
			return
		}
		if ev := r.Header.Get("X-GitHub-Event"); ev == "ping" {
			_, _ = io.WriteString(w, "pong\n")
			return
		}
		w.WriteHeader(http.StatusAccepted)
		d.noteWebhook(r, d.otherRef(r, body))
		if why := d.otherRef(r, body); why != "" {
			_, _ = io.WriteString(w, "ignored: "+why+"\n")
			return
		}
		if d.shard != nil {
			d.shard.sawWebhook(time.Now()) // the other replicas hear of it through the Leases
		}
		if !d.leader.Load() {
			// A standby does not sync; the leader sees the new head at
			// its next poll.
			_, _ = io.WriteString(w, "accepted by a standby: the leader picks the change up at its next poll\n")
			return
		}
		d.Trigger()
		_, _ = io.WriteString(w, "pass triggered\n")
	}
}

// otherRef says why a GitHub push is not for the followed ref ("" when it
// is, or when the payload names no ref): GitHub sends a push for every
// branch and tag of the repository, and none of the others is worth a pass.
func (d *Daemon) otherRef(r *http.Request, body []byte) string {
	var push struct {
		Ref string `json:"ref"`
	}
	if r.Header.Get("X-GitHub-Event") != "push" || d.cfg.Remote == nil || json.Unmarshal(body, &push) != nil || push.Ref == "" {
		return ""
	}
	followed := d.cfg.Remote.Ref
	if !strings.HasPrefix(followed, "refs/") {
		followed = "refs/heads/" + followed
	}
	if push.Ref == followed {
		return ""
	}
	return "a push of " + push.Ref + "; flinksync follows " + followed
}

// Status is the JSON of GET /api/v1/status.
type Status struct {
	Leader       bool                `json:"leader"`
	Revision     string              `json:"revision"`
	Source       SourceStatus        `json:"source"`
	Environments []EnvironmentStatus `json:"environments"`
	Alerts       []report.Alert      `json:"alerts"`
	Orphans      []OrphanStatus      `json:"orphans"`
	// Clusters are the default cluster and the named ones, each with its
	// reachability (clusters.go).
	Clusters []ClusterStatus `json:"clusters"`
	// ClustersDirErrors are the kubeconfigs of the clusters directory that
	// do not load (masked); their clusters are left out.
	ClustersDirErrors []string `json:"clustersDirErrors,omitempty"`
	// Shard is this replica's identity, the live members and the
	// environments it owns, with sharding (shard.go).
	Shard *ShardStatus `json:"shard,omitempty"`
}

// SourceStatus is the state of the Git remote.
type SourceStatus struct {
	URL      string    `json:"url"`
	Ref      string    `json:"ref"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	LastPoll time.Time `json:"lastPoll"`
}

// EnvironmentStatus is one environment as the daemon last saw it.
type EnvironmentStatus struct {
	Name            string           `json:"name"`
	Cluster         string           `json:"cluster"` // spec.cluster; "default" for the default cluster
	AppliedRevision string           `json:"appliedRevision"`
	LastPass        time.Time        `json:"lastPass"`
	Result          string           `json:"result"`
	Summary         string           `json:"summary"`
	InRepository    bool             `json:"inRepository"`
	Blocked         []string         `json:"blocked,omitempty"`
	Errors          []string         `json:"errors,omitempty"`
	Drift           []sync.Drift     `json:"drift"`
	Findings        []*diag.Finding  `json:"findings"`
	Health          []sync.AppHealth `json:"health"`
	Sizing          []*sizing.Result `json:"sizing"`
	ConsecutiveFail int              `json:"consecutiveFailures"`
}

// Snapshot returns the daemon's status.
func (d *Daemon) Snapshot() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{Leader: d.leader.Load(), Revision: d.revision, Environments: []EnvironmentStatus{}, Alerts: d.alerter.Active()}
	s.Orphans = []OrphanStatus{}
	for _, name := range sortedClusters(d.orphans) {
		for _, o := range d.orphans[name] {
			s.Orphans = append(s.Orphans, OrphanStatus{Cluster: clusters.DisplayName(name), Orphan: o})
		}
	}
	s.Clusters = d.clusterStatus()
	s.ClustersDirErrors = append([]string(nil), d.dirErrs...)
	s.Shard = d.shardStatus()
	if d.cfg.Remote != nil {
		s.Source = SourceStatus{URL: redact.URL(d.cfg.Remote.URL), Ref: d.cfg.Remote.Ref, OK: d.sourceOK, Error: redact.Text(d.srcErr), LastPoll: d.lastPoll}
	}
	for _, st := range d.envs {
		e := EnvironmentStatus{Name: st.name, Cluster: clusters.DisplayName(d.clusterOf(st)), AppliedRevision: st.applied, LastPass: st.lastPass, InRepository: !st.missing,
			Drift: []sync.Drift{}, Findings: sync.MaskedFindings(st.findings), Health: []sync.AppHealth{}, Sizing: st.sizing, ConsecutiveFail: st.failures}
		if e.Findings == nil {
			e.Findings = []*diag.Finding{}
		}
		if r := sync.Masked(st.last); r != nil { // the status API is not authenticated
			e.Summary, e.Blocked, e.Errors, e.Drift, e.Health = r.Summary(), r.Blocked, r.Errors, r.Drift, r.Health
			switch {
			case len(r.Blocked) > 0:
				e.Result = report.ResultBlocked
			case !r.OK():
				e.Result = report.ResultFailed
			default:
				e.Result = report.ResultSuccess
			}
		}
		s.Environments = append(s.Environments, e)
	}
	sort.Slice(s.Environments, func(i, j int) bool { return s.Environments[i].Name < s.Environments[j].Name })
	return s
}

// clusterOf is st's cluster: as the current revision says, else as its
// last pass did. d.mu is held.
func (d *Daemon) clusterOf(st *envState) string {
	if d.current != nil {
		if e := d.current.Repo.Environment(st.name); e != nil {
			return e.Spec.Cluster
		}
	}
	return st.cluster
}

func sortedClusters(m map[string][]sync.Orphan) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (d *Daemon) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(d.Snapshot())
}
