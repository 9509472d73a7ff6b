package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/state"
)

// An upgrade is what follows a pass's write of a new spec to a job (a
// FlinkDeployment, CFK FlinkApplication or FlinkStatement): the operator
// takes it up, and the job ends healthy on the new spec, or fails, or FKO
// rolls it back to the last stable spec. A pass does not wait for that
// (the daemon never blocks on one job): it records the upgrade in the
// job's inventory entry (the generation it wrote and when), and each later
// pass settles it from the operator's status, as Argo CD's health and
// Flux's kstatus wait do, until it succeeds, fails or times out. The
// record survives a restart of the daemon; `flinksync apply --wait`
// follows the upgrades of its pass to the end (WaitUpgrades).

// UpgradeTimeout is how long an upgrade may stay in progress before it
// counts as failed: twice FKO's own deployment readiness timeout
// (kubernetes.operator.deployment.readiness.timeout, 5 minutes), after
// which FKO rolls a failing upgrade back when rollbacks are enabled, so a
// rollback is seen as such rather than as a timeout.
const UpgradeTimeout = 10 * time.Minute

// UpgradeState is where an upgrade stands after a pass. The values are
// the result label of flinksync_upgrades_total.
type UpgradeState string

// The upgrade states.
const (
	// UpgradeStarted: this pass wrote the new spec.
	UpgradeStarted UpgradeState = "started"
	// UpgradeInProgress: an earlier pass wrote it; the operator has not
	// yet brought the job to health on it, nor failed it.
	UpgradeInProgress UpgradeState = "in_progress"
	// UpgradeSucceeded: the operator reports the job healthy on the
	// generation written (status.observedGeneration at least that one).
	UpgradeSucceeded UpgradeState = "succeeded"
	// UpgradeFailed: the operator reports the job degraded on it.
	UpgradeFailed UpgradeState = "failed"
	// UpgradeRolledBack: the upgrade failed and FKO rolled the job back,
	// or is rolling it back, to its last stable spec (lifecycleState or
	// reconciliationStatus ROLLED_BACK or ROLLING_BACK).
	UpgradeRolledBack UpgradeState = "rolled_back"
	// UpgradeTimedOut: the job did not become healthy within
	// UpgradeTimeout of the write.
	UpgradeTimedOut UpgradeState = "timed_out"
)

// Settled reports whether the upgrade has ended, well or badly.
func (s UpgradeState) Settled() bool { return s != UpgradeStarted && s != UpgradeInProgress }

// Failed reports whether the upgrade ended badly: failed, rolled back or
// timed out.
func (s UpgradeState) Failed() bool {
	return s == UpgradeFailed || s == UpgradeRolledBack || s == UpgradeTimedOut
}

// Upgrade is one job's upgrade as a pass saw it.
type Upgrade struct {
	ObjectID
	// Job is the application or statement (state.JobName).
	Job       string `json:"job"`
	Statement bool   `json:"statement,omitempty"`
	// Generation is the metadata.generation the write produced; the
	// operator's status.observedGeneration must reach it.
	Generation int64        `json:"generation"`
	State      UpgradeState `json:"state"`
	// FirstDeploy is true when the write created the job.
	FirstDeploy bool      `json:"firstDeploy,omitempty"`
	Started     time.Time `json:"started"`
	// Duration is from the write to the pass that settled the upgrade, or
	// to this pass while it is in progress.
	Duration time.Duration `json:"duration"`
	// Message is the operator's account (the health message), secrets
	// masked.
	Message string `json:"message,omitempty"`
}

// String is a line for people: "app orders-enrich (FlinkDeployment
// generation 3): rolled back after 2m10s: ...".
func (u Upgrade) String() string {
	what, verb := "app", string(u.State)
	if u.Statement {
		what = "statement"
	}
	switch u.State {
	case UpgradeStarted:
		verb = "upgrade started"
		if u.FirstDeploy {
			verb = "first deploy started"
		}
	case UpgradeInProgress:
		verb = "upgrade in progress for " + u.Duration.String()
	case UpgradeSucceeded:
		verb = "upgrade succeeded in " + u.Duration.String()
	case UpgradeFailed:
		verb = "upgrade failed after " + u.Duration.String()
	case UpgradeRolledBack:
		verb = "upgrade failed and was rolled back after " + u.Duration.String()
	case UpgradeTimedOut:
		verb = "upgrade timed out"
	}
	s := fmt.Sprintf("%s %s (%s generation %d): %s", what, u.Job, u.Kind, u.Generation, verb)
	if u.Message != "" {
		s += ": " + u.Message
	}
	return s
}

// UpgradeMark is an upgrade in progress as the inventory records it: the
// generation written and when (RFC 3339, UTC). Its zero value is "none".
// It is a comparable value, as Inventory.equal needs.
type UpgradeMark struct {
	Generation int64  `json:"generation"`
	Started    string `json:"started"`
	// FirstDeploy is true when the write created the job.
	FirstDeploy bool `json:"firstDeploy,omitempty"`
}

// pending reports whether m records an upgrade.
func (m UpgradeMark) pending() bool { return m.Generation > 0 }

func (m UpgradeMark) started() time.Time {
	t, _ := time.Parse(time.RFC3339, m.Started)
	return t
}

// startsUpgrade reports whether the pass's write of p is an upgrade: a
// job created (its first deploy), or changed in its spec (a metadata-only
// change, such as a label, leaves the job alone).
func startsUpgrade(p *planned) bool {
	if !p.written || p.refused || !state.IsJob(p.obj) {
		return false
	}
	return p.action == Created || ((p.action == Configured || p.action == Replaced) && specChanges(p.diffs))
}

// upgrades starts an upgrade for each job the pass wrote a new spec to,
// settles those earlier passes started (from the live objects' status as
// the pass read it), reports both in res.Upgrades, and records in the
// inventory what is still in progress. It runs after the pass's own
// inventory writes, which carry no marks (Inventory.equal ignores them,
// so a pending upgrade alone never rewrites the inventory), and sets the
// marks on what the pass left there (the new inventory, or only the union
// when a write failed): one read while an upgrade is pending, one write
// when a mark changes. A dry run starts and records nothing.
func (s *Syncer) upgrades(st *passState, mode Mode, res *Result) map[string]UpgradeMark {
	if mode != ModeApply {
		return nil
	}
	now := s.Now()
	health := map[string]AppHealth{}
	for _, h := range res.Health {
		health[h.App] = h
	}
	// marks are what the inventory must record after the pass, by entry
	// key: the new upgrades, those still in progress, and a zero mark for
	// those settled.
	marks := map[string]UpgradeMark{}
	for _, p := range st.objects {
		if p.refused || !state.IsJob(p.obj) {
			continue
		}
		key, prev := p.entry.Key(), st.inv[p.entry.Key()].Upgrade
		starts := startsUpgrade(p)
		if !starts && (!prev.pending() || p.live == nil) {
			continue // most jobs of most passes
		}
		base := Upgrade{ObjectID: p.entry.ObjectID, Job: state.JobName(p.obj), Statement: state.IsStatement(p.obj)}
		if starts {
			m := UpgradeMark{Generation: p.live.GetGeneration(), Started: now.UTC().Format(time.RFC3339), FirstDeploy: p.action == Created}
			u := base
			u.Generation, u.State, u.FirstDeploy, u.Started = m.Generation, UpgradeStarted, m.FirstDeploy, now
			if prev.pending() {
				// The earlier upgrade ended as the status read before this
				// write says (the status is of the generations before it),
				// or is superseded.
				before := p.live.DeepCopy()
				before.SetGeneration(prev.Generation)
				if v := settle(base, prev, before, p.obj, now); v.State.Settled() {
					res.Upgrades = append(res.Upgrades, v)
				} else {
					u.Message = fmt.Sprintf("supersedes the upgrade to generation %d, still in progress", prev.Generation)
				}
			}
			res.Upgrades = append(res.Upgrades, u)
			marks[key] = m
			continue
		}
		h, known := health[healthNameOf(p)]
		u := settle(base, prev, p.live, p.obj, now)
		if u.State == UpgradeTimedOut && known {
			u.Message = fmt.Sprintf("did not become healthy in %s: %s", UpgradeTimeout, redact.Text(h.Message))
		}
		res.Upgrades = append(res.Upgrades, u)
		marks[key] = prev
		if u.State.Settled() {
			marks[key] = UpgradeMark{}
		}
	}
	sort.SliceStable(res.Upgrades, func(i, j int) bool { return res.Upgrades[i].Job < res.Upgrades[j].Job })
	return marks
}

// withMarks gives every entry of inv its upgrade mark: the pass's (marks)
// where it has one, else the one the inventory held (was). It reports
// whether any mark differs from was, that is whether the inventory must
// be written for them.
func withMarks(inv, was Inventory, marks map[string]UpgradeMark) bool {
	changed := false
	for k, e := range inv {
		m, ok := marks[k]
		if !ok {
			m = was[k].Upgrade
		}
		e.Upgrade = m
		inv[k] = e
		changed = changed || m != was[k].Upgrade
	}
	return changed
}

// healthNameOf is the name res.Health gives p.
func healthNameOf(p *planned) string {
	name, _ := healthName(p.obj)
	return name
}

// recordUpgrades sets the upgrade marks of the inventory of env in ns and
// writes it back when one changed: next gives an entry's mark from its key
// and its mark now (false: leave it). An entry the inventory no longer
// lists is left out.
func (s *Syncer) recordUpgrades(ctx context.Context, env, ns string, next func(key string, now UpgradeMark) (UpgradeMark, bool)) error {
	inv, err := s.readInventory(ctx, ns)
	if err != nil {
		return fmt.Errorf("recording upgrades: %w", err)
	}
	changed := false
	for k, e := range inv {
		if m, ok := next(k, e.Upgrade); ok && m != e.Upgrade {
			e.Upgrade = m
			inv[k], changed = e, true
		}
	}
	if !changed {
		return nil
	}
	if err := s.writeInventory(ctx, env, ns, inv); err != nil {
		return fmt.Errorf("recording upgrades: %w", err)
	}
	return nil
}

// settle says where the upgrade m of a job stands, from the live object's
// status (desired is the object as Git declares it, for a job meant to be
// suspended):
//
//   - in progress while the operator's status is of an older generation
//     than the one written (status.observedGeneration; FKO's
//     lastReconciledSpec where that is missing), or neither healthy nor
//     degraded;
//   - succeeded when Healthy, failed when Degraded, rolled back when FKO
//     rolled back or is rolling back;
//   - timed out when still in progress UpgradeTimeout after the write.
//
// An operator that writes no generation at all is taken at its word.
func settle(u Upgrade, m UpgradeMark, live, desired *unstructured.Unstructured, now time.Time) Upgrade {
	u.Generation, u.FirstDeploy, u.Started = m.Generation, m.FirstDeploy, m.started()
	u.Duration = now.Sub(u.Started).Truncate(time.Second)
	h := healthOf(live, desired)
	u.State, u.Message = UpgradeInProgress, h.Message
	seen := statusGeneration(live)
	switch {
	case seen > 0 && seen < m.Generation:
		u.Message = fmt.Sprintf("the operator has not yet acted on generation %d (its status is of generation %d: %s)", m.Generation, seen, h.Message)
	case h.Health == Healthy:
		u.State = UpgradeSucceeded
	case h.Health == Degraded && rolledBack(live):
		u.State = UpgradeRolledBack
	case h.Health == Degraded:
		u.State = UpgradeFailed
	}
	if !u.State.Settled() && u.Duration >= UpgradeTimeout {
		u.State, u.Message = UpgradeTimedOut, fmt.Sprintf("did not become healthy in %s: %s", UpgradeTimeout, u.Message)
	}
	u.Message = redact.Text(u.Message) // the operator's error may quote a credential
	return u
}

// rolledBack reports whether FKO rolled the job back, or is rolling it
// back, to its last stable spec.
func rolledBack(live *unstructured.Unstructured) bool {
	str := statusOf(live)
	for _, s := range []string{str("lifecycleState"), str("reconciliationStatus", "state")} {
		if s == "ROLLED_BACK" || s == "ROLLING_BACK" {
			return true
		}
	}
	return false
}

// statusGeneration is the generation the operator's status speaks of:
// status.observedGeneration (FKO 1.15, CFK), else the generation FKO
// stamps in status.reconciliationStatus.lastReconciledSpec (a JSON
// string whose resource_metadata.metadata.generation is the generation of
// the spec reconciled last); 0 when neither says.
func statusGeneration(live *unstructured.Unstructured) int64 {
	if n := observedGeneration(live); n > 0 {
		return n
	}
	raw, _, _ := unstructured.NestedString(live.Object, "status", "reconciliationStatus", "lastReconciledSpec")
	var spec struct {
		Meta struct {
			Metadata struct {
				Generation int64 `json:"generation"`
			} `json:"metadata"`
		} `json:"resource_metadata"`
	}
	if raw == "" || json.Unmarshal([]byte(raw), &spec) != nil {
		return 0
	}
	return spec.Meta.Metadata.Generation
}

// WaitUpgrades follows the upgrades in r that are not settled (started or
// in progress) by reading their objects every poll, until each settles or
// ctx ends; done is told of each as it settles. It returns r's upgrades
// with those it saw settle updated; the ones still in progress when ctx
// ends keep their last state and message. The upgrades it saw end leave
// the inventory, so that the next pass does not report them again.
func (s *Syncer) WaitUpgrades(ctx context.Context, r *Result, poll time.Duration, done func(Upgrade)) []Upgrade {
	settled := map[string]int64{} // the generations seen to end, by entry key
	out := FollowUpgrades(ctx, r, poll, s.followUpgrade, func(u Upgrade) {
		settled[Entry{ObjectID: u.ObjectID}.Key()] = u.Generation
		if done != nil {
			done(u)
		}
	})
	if len(settled) > 0 {
		// Not cut short by ctx: the outcome is known, and a pass would
		// otherwise report it a second time. A newer upgrade recorded
		// since keeps its mark.
		err := s.recordUpgrades(context.WithoutCancel(ctx), r.Environment, r.Namespace, func(k string, now UpgradeMark) (UpgradeMark, bool) {
			gen, ended := settled[k]
			return UpgradeMark{}, ended && now.Generation == gen
		})
		if err != nil {
			for i := range out {
				if out[i].State.Settled() {
					out[i].Message = strings.TrimPrefix(out[i].Message+"; "+err.Error(), "; ")
				}
			}
		}
	}
	return out
}

// FollowUpgrades is apply --wait's loop, on a cluster (WaitUpgrades) and
// on CMF (cmfsync): every poll it calls follow on each upgrade in r that
// is not settled, in r's order, until each settles or ctx ends; done (if
// any) is told of each as it settles. An error of follow becomes the
// upgrade's message, and it is followed again at the next poll. It returns
// r's upgrades, those it followed as follow last returned them.
func FollowUpgrades(ctx context.Context, r *Result, poll time.Duration, follow func(context.Context, Upgrade) (Upgrade, error), done func(Upgrade)) []Upgrade {
	out := append([]Upgrade(nil), r.Upgrades...)
	open := map[int]bool{}
	for i, u := range out {
		if !u.State.Settled() {
			open[i] = true
		}
	}
	for len(open) > 0 {
		for i := range out {
			if !open[i] {
				continue
			}
			u, err := follow(ctx, out[i])
			if err != nil {
				if ctx.Err() != nil {
					return out
				}
				out[i].Message = err.Error()
				continue
			}
			out[i] = u
			if u.State.Settled() {
				delete(open, i)
				if done != nil {
					done(u)
				}
			}
		}
		if len(open) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(poll):
		}
	}
	return out
}

// followUpgrade reads the live object of u and settles u against it.
func (s *Syncer) followUpgrade(ctx context.Context, u Upgrade) (Upgrade, error) {
	gk := schema.GroupKind{Group: u.Group, Kind: u.Kind}
	m, err := s.mapper.RESTMapping(gk)
	if err != nil {
		return u, fmt.Errorf("%s: the cluster does not serve %s: %v", u.ID(), gk, err)
	}
	live, err := s.dyn.Resource(m.Resource).Namespace(u.Namespace).Get(ctx, u.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		u.State, u.Message = UpgradeFailed, "the object was deleted before its upgrade settled"
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("reading %s: %w", u.ID(), err)
	}
	mark := UpgradeMark{Generation: u.Generation, Started: u.Started.UTC().Format(time.RFC3339), FirstDeploy: u.FirstDeploy}
	return settle(u, mark, live, live, s.Now()), nil
}
