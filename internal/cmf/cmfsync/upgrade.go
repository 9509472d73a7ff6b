package cmfsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// Upgrades on CMF, followed to the end as sync follows them on a cluster
// (docs/state.md). CMF reports no generation of an application; what
// stands for one is its instances: CMF starts a new instance
// (/applications/{app}/instances, named by a UUID, with its own
// status.jobStatus.state) for each spec it deploys. So a pass that writes
// a new spec to an application (creates it, or changes its spec) notes
// the newest instance before the write, and settles the upgrade from what
// CMF shows after it: in progress until CMF shows a newer instance, then
// succeeded when that instance's job runs (or finished) and the
// application is Healthy, failed (rolled back when FKO rolled it back)
// when either failed, timed out after sync.UpgradeTimeout. An upgrade CMF
// settles before the pass ends is reported at once and recorded nowhere;
// one still in progress is recorded on the application, in the annotation
// AnnUpgrade (when, whether a first deploy, the instance before), by a
// write of its metadata that leaves its spec as CMF holds it, and later
// passes settle it and remove the annotation the same way, so that it is
// reported once; the record survives a restart of the daemon. An
// upgrade's generation is its instance's number among the application's
// instances. Statements are not followed: CMF keeps no instances of a
// statement, so its status cannot tell the statement before a change from
// the one after.

// AnnUpgrade records, on an application in CMF, the upgrade in progress.
const AnnUpgrade = "flinksync.dev/upgrade"

// upgradeMark is the value of AnnUpgrade.
type upgradeMark struct {
	Started     string `json:"started"`
	FirstDeploy bool   `json:"firstDeploy,omitempty"`
	// After is the newest instance before the write ("" when none): the
	// upgrade's instance is a newer one.
	After string `json:"after,omitempty"`
	// Generation is the number the new instance will have.
	Generation int64 `json:"generation"`
}

func (m upgradeMark) started() time.Time {
	t, _ := time.Parse(time.RFC3339, m.Started)
	return t
}

// markOf is the upgrade recorded on a live application, if any.
func markOf(live cmf.Object) (upgradeMark, bool) {
	var m upgradeMark
	v, _ := annotationsOf(live)[AnnUpgrade].(string)
	if v == "" || json.Unmarshal([]byte(v), &m) != nil || m.Started == "" {
		return upgradeMark{}, false
	}
	return m, true
}

// startsUpgrade reports whether writing it deploys a new spec of an
// application.
func startsUpgrade(it *item) bool {
	return it.ref.Kind == cmf.KindApplication && (it.action == sync.Created || (it.action == sync.Configured && specChanges(it.diffs)))
}

// prepareUpgrade notes, before it is written, the upgrade the write
// starts: the newest instance of the application so far.
func (s *Syncer) prepareUpgrade(ctx context.Context, it *item) {
	m := upgradeMark{Started: s.now().UTC().Format(time.RFC3339), FirstDeploy: it.action == sync.Created, Generation: 1}
	if it.action != sync.Created {
		inst, err := s.instances(ctx, it.ref)
		if err != nil {
			it.message = "not followed as an upgrade: " + err.Error()
			return
		}
		if n := len(inst); n > 0 {
			m.After, m.Generation = nameOf(inst[n-1]), int64(n+1)
		}
	}
	it.mark = &m
}

// instances are the application's instances, oldest first (by CMF's
// creationTimestamp, as CMF's clock wrote them).
func (s *Syncer) instances(ctx context.Context, app cmf.Ref) ([]cmf.Object, error) {
	list, err := s.Client.List(ctx, cmf.Ref{Kind: cmf.KindInstance, Environment: app.Environment, Application: app.Name})
	if err != nil {
		return nil, err
	}
	created := func(o cmf.Object) time.Time {
		at, _, _ := unstructured.NestedString(o, "metadata", "creationTimestamp")
		t, _ := time.Parse(time.RFC3339Nano, at)
		return t
	}
	sort.SliceStable(list, func(i, j int) bool { return created(list[i]).Before(created(list[j])) })
	return list, nil
}

// upgrades reports the upgrades the pass started and settles those
// earlier passes started, clearing the marks of those that ended (an
// applying pass only).
func (s *Syncer) upgrades(ctx context.Context, p *pass, res *sync.Result) {
	health := map[string]sync.AppHealth{}
	for _, h := range res.Health {
		health[h.App] = h
	}
	now := s.now()
	for _, it := range p.items {
		if it.ref.Kind != cmf.KindApplication {
			continue
		}
		base := sync.Upgrade{ObjectID: idOf(it.ref), Job: it.obj.GetName()}
		prev, pending := markOf(it.live)
		started := it.mark != nil
		if it.action == sync.Failed || (!started && !pending) {
			continue
		}
		m := prev
		if started {
			m = *it.mark
		}
		live := it.live
		if it.action != sync.Unchanged && it.action != sync.Drifted {
			live, _ = s.Client.Get(ctx, it.ref) // written since it was read
		}
		inst, err := s.instances(ctx, it.ref)
		if live == nil || err != nil {
			u := base
			u.Generation, u.FirstDeploy, u.Started, u.State = m.Generation, m.FirstDeploy, m.started(), sync.UpgradeInProgress
			u.Message = fmt.Sprintf("not followed: reading the application and its instances failed: %v", err)
			res.Upgrades = append(res.Upgrades, u)
			continue
		}
		h, ok := health[it.obj.GetName()]
		if !ok {
			h = appHealth(live, cmf.KindApplication)
		}
		u := settle(base, m, h, live, inst, now)
		switch {
		case u.State.Settled() && (started || pending) && hasMark(live):
			if err := s.setMark(ctx, it.ref, live, nil); err != nil {
				u.Message += "; " + err.Error()
			}
		case !u.State.Settled() && started:
			u.State = sync.UpgradeStarted
			if pending {
				u.Message = fmt.Sprintf("supersedes the upgrade started %s, still in progress", prev.Started)
			}
			if err := s.setMark(ctx, it.ref, live, &m); err != nil {
				u.Message = strings.TrimPrefix(u.Message+"; not followed after this pass: "+err.Error(), "; ")
			}
		}
		res.Upgrades = append(res.Upgrades, u)
	}
	sort.SliceStable(res.Upgrades, func(i, j int) bool { return res.Upgrades[i].Job < res.Upgrades[j].Job })
}

// settle says where upgrade m of an application stands: in progress until
// CMF shows an instance newer than m.After, then as the application's
// health (h) and the new instance's job say; timed out when still in
// progress sync.UpgradeTimeout after the write.
func settle(u sync.Upgrade, m upgradeMark, h sync.AppHealth, live cmf.Object, inst []cmf.Object, now time.Time) sync.Upgrade {
	u.Generation, u.FirstDeploy, u.Started = m.Generation, m.FirstDeploy, m.started()
	u.Duration = now.Sub(u.Started).Truncate(time.Second)
	u.State, u.Message = sync.UpgradeInProgress, h.Message
	var newest cmf.Object
	if n := len(inst); n > 0 {
		newest = inst[n-1]
		u.Generation = int64(n)
	}
	job, _, _ := unstructured.NestedString(newest, "status", "jobStatus", "state")
	switch {
	case newest == nil || nameOf(newest) == m.After:
		u.Generation = m.Generation
		u.Message = fmt.Sprintf("CMF has not yet started an instance of the new spec (%s)", h.Message)
	case h.Health == sync.Degraded && rolledBack(live):
		u.State = sync.UpgradeRolledBack
	case h.Health == sync.Degraded || job == "FAILED":
		u.State = sync.UpgradeFailed
		if h.Health != sync.Degraded {
			u.Message = fmt.Sprintf("instance %s: job %s (%s)", nameOf(newest), job, h.Message)
		}
	case h.Health == sync.Healthy && (job == "RUNNING" || job == "FINISHED"):
		u.State = sync.UpgradeSucceeded
	case h.Health == sync.Healthy:
		u.Message = fmt.Sprintf("instance %s: job %s (%s)", nameOf(newest), orNone(job), h.Message)
	}
	if !u.State.Settled() && u.Duration >= sync.UpgradeTimeout {
		u.State, u.Message = sync.UpgradeTimedOut, fmt.Sprintf("did not become healthy in %s: %s", sync.UpgradeTimeout, u.Message)
	}
	u.Message = redact.Text(u.Message) // the operator's error may quote a credential
	return u
}

// rolledBack reports whether FKO rolled the application back, or is
// rolling it back, to its last stable spec, as CMF reports its status.
func rolledBack(live cmf.Object) bool {
	for _, path := range [][]string{{"status", "lifecycleState"}, {"status", "reconciliationStatus", "state"}} {
		if s, _, _ := unstructured.NestedString(live, path...); s == "ROLLED_BACK" || s == "ROLLING_BACK" {
			return true
		}
	}
	return false
}

func hasMark(live cmf.Object) bool {
	_, ok := annotationsOf(live)[AnnUpgrade]
	return ok
}

// setMark records upgrade m on the application (nil: removes the record):
// a write of what CMF holds, its spec unchanged, with the annotation.
func (s *Syncer) setMark(ctx context.Context, ref cmf.Ref, live cmf.Object, m *upgradeMark) error {
	body := cmf.Object{"apiVersion": cmf.APIVersion, "kind": string(cmf.KindApplication)}
	meta := map[string]any{}
	if m, ok := normalized(live)["metadata"].(map[string]any); ok {
		for _, k := range []string{"name", "labels", "annotations"} {
			if v, ok := m[k]; ok {
				meta[k] = v
			}
		}
	}
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	delete(ann, AnnUpgrade)
	if m != nil {
		b, _ := json.Marshal(m)
		ann[AnnUpgrade] = string(b)
	}
	meta["name"] = ref.Name
	body["metadata"] = meta
	body["spec"] = normalized(live)["spec"]
	if err := s.Client.Update(ctx, ref, body); err != nil {
		return fmt.Errorf("recording the upgrade on the application: %w", err)
	}
	return nil
}

// appHealth is the health CMF reports for a resource: its statuses are
// the ones CFK copies into its objects.
func appHealth(live cmf.Object, kind cmf.Kind) sync.AppHealth {
	cfkKind := map[cmf.Kind]string{cmf.KindApplication: render.FlinkApplicationGVK.Kind,
		cmf.KindStatement: render.FlinkStatementGVK.Kind, cmf.KindComputePool: render.FlinkComputePoolGVK.Kind}[kind]
	u := (&unstructured.Unstructured{Object: live}).DeepCopy()
	u.SetKind(cfkKind)
	return sync.HealthOf(u)
}

// WaitUpgrades is apply --wait on CMF (sync.Syncer.WaitUpgrades on a
// cluster): it follows the upgrades in r that are not settled by reading
// their applications and instances every poll (sync.FollowUpgrades),
// until each settles or ctx ends; done is told of each as it settles, and
// its mark is cleared. An error reading CMF becomes the upgrade's message,
// redacted.
func (s *Syncer) WaitUpgrades(ctx context.Context, r *sync.Result, poll time.Duration, done func(sync.Upgrade)) []sync.Upgrade {
	follow := func(ctx context.Context, u sync.Upgrade) (sync.Upgrade, error) {
		v, err := s.followUpgrade(ctx, u)
		if err != nil {
			return v, errors.New(redact.Text(err.Error()))
		}
		return v, nil
	}
	return sync.FollowUpgrades(ctx, r, poll, follow, done)
}

// followUpgrade reads u's application and settles u against it; a settled
// upgrade's mark is cleared, even when ctx ends meanwhile.
func (s *Syncer) followUpgrade(ctx context.Context, u sync.Upgrade) (sync.Upgrade, error) {
	ref := cmf.Ref{Kind: cmf.KindApplication, Environment: u.Namespace, Name: u.Name}
	live, err := s.Client.Get(ctx, ref)
	if err != nil {
		return u, err
	}
	m, ok := markOf(live)
	if !ok {
		// Settled meanwhile by another pass (the daemon's): its outcome is
		// that pass's to report; here it is what the status says now.
		m = upgradeMark{Started: u.Started.UTC().Format(time.RFC3339), FirstDeploy: u.FirstDeploy, Generation: u.Generation}
	}
	inst, err := s.instances(ctx, ref)
	if err != nil {
		return u, err
	}
	v := settle(u, m, appHealth(live, cmf.KindApplication), live, inst, s.now())
	if v.State.Settled() && ok {
		if err := s.setMark(context.WithoutCancel(ctx), ref, live, nil); err != nil {
			v.Message += "; " + err.Error()
		}
	}
	return v, nil
}
