package sync

import (
	"context"
	"sort"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/state"
)

// stateImpacts says what the pass is about to do to each job's state,
// judged against the live job rather than the last commit: the jobs it
// changes (the live spec against Git's), replaces, and prunes. A prune of
// a statement whose new object (another SQL hash, the same statement name)
// the pass creates is that statement's replacement. The declared state
// size comes from the object's render.AnnStateSize: Git's for a change,
// the live object's for a prune (Git no longer has it).
func (s *Syncer) stateImpacts(ctx context.Context, st *passState) []state.Impact {
	var out []state.Impact
	created := map[string]bool{}
	for _, p := range st.objects {
		if p.refused || !state.IsJob(p.obj) {
			continue
		}
		switch p.action {
		case Created:
			if state.IsStatement(p.obj) {
				created[state.JobName(p.obj)] = true
			}
		case Configured:
			out = append(out, state.ChangedSpec(p.live, p.obj, state.SizeOf(p.obj), specChanges(p.diffs)))
		case Replaced:
			out = append(out, replacedJob(p))
		}
	}
	if !st.env.Spec.Sync.PruneEnabled() {
		return sortImpacts(out)
	}
	var stale []Entry
	for k, e := range st.inv {
		if !st.desired[k] && jobKind(e.Kind) {
			stale = append(stale, e)
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].Key() < stale[j].Key() })
	lists := s.listStale(ctx, st, stale)
	for _, e := range stale {
		c := s.inspectFrom(ctx, st, e, lists)
		if c.why != "" || c.live == nil {
			continue // not deleted by this pass, whatever its state
		}
		size, job := state.SizeOf(c.live), state.JobName(c.live)
		if state.IsStatement(c.live) && created[job] {
			ddl := c.live.GetLabels()[render.LabelSQLKind] == "ddl"
			out = append(out, state.Replaced(job, size, ddl, "its SQL, pool or catalog changed", "the new statement starts without the old one's state"))
			continue
		}
		out = append(out, state.DeletedJob(c.live, size))
	}
	return sortImpacts(out)
}

func jobKind(kind string) bool {
	return kind == "FlinkDeployment" || kind == "FlinkApplication" || kind == "FlinkStatement"
}

// specChanges reports whether any diff is under spec: the operator acts on
// a spec change, not on labels or annotations.
func specChanges(diffs []FieldDiff) bool {
	for _, d := range diffs {
		if names := splitPath(d.Field); len(names) > 0 && names[0] == "spec" {
			return true
		}
	}
	return false
}

// replacedJob is the impact of deleting and recreating a job because an
// immutable field changes: the new job starts empty, whatever its
// upgradeMode (a statement's savepoint does not carry over to a new one).
func replacedJob(p *planned) state.Impact {
	size := state.SizeOf(p.obj)
	i := state.Replaced(state.JobName(p.obj), size, p.obj.GetLabels()[render.LabelSQLKind] == "ddl", "an immutable field changes", "deleted and created again, it starts from empty state")
	i.Statement = state.IsStatement(p.obj)
	i.LosesState = i.Effect == state.Lost && size != ""
	return i
}

func sortImpacts(out []state.Impact) []state.Impact {
	sort.SliceStable(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}

// CheckGuard checks a pass's state impacts with the environment's guard
// (nil: none), adds its findings to res, and returns why the pass must not
// write anything: the STATE-001 errors no acknowledgement covers. A
// cluster's pass and a CMF environment's (cmfsync) call it before any
// write.
func CheckGuard(g *state.Guard, impacts []state.Impact, res *Result) []string {
	if g == nil {
		return nil
	}
	fs := g.Check(impacts)
	res.Findings = append(res.Findings, fs...)
	var why []string
	for _, f := range fs {
		if f.Severity == diag.Error && !f.Waived {
			why = append(why, f.Rule+": "+f.Message)
		}
	}
	return why
}
