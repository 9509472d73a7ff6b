package cmfsync

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/sync"
)

// The state guard on CMF, as sync's on a cluster (docs/state.md): before
// any write, the pass says what it does to each job's state (Result.State)
// and the environment's guard (sync.Options.Guard) turns a loss of
// declared state no acknowledgement covers into STATE-001, which under
// enforce blocks the whole pass. internal/state judges CMF's jobs as it
// judges CFK's: a CMF application's spec is the FKO deployment spec CFK's
// FlinkApplication carries, a statement's the CFK FlinkStatement's.

// asJob is a CMF application or statement as internal/state reads it: the
// same object under the CFK kind that carries the same spec.
func asJob(o cmf.Object, kind cmf.Kind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: normalized(o)}
	switch kind {
	case cmf.KindStatement:
		u.SetKind(render.FlinkStatementGVK.Kind)
	case cmf.KindApplication:
		u.SetKind(render.FlinkApplicationGVK.Kind)
	}
	return u
}

func jobKind(k cmf.Kind) bool { return k == cmf.KindApplication || k == cmf.KindStatement }

// stateImpacts says what the pass is about to do to each job's state,
// judged against what CMF holds: the jobs it changes (CMF's spec against
// Git's), the statements it will replace (a running statement's SQL, which
// CMF does not change in place), and those it prunes. A pruned statement
// whose repository name the pass creates again (another SQL hash) is that
// statement's replacement. The declared state size is Git's
// (render.AnnStateSize) for a change, CMF's copy of it for a prune.
func (s *Syncer) stateImpacts(p *pass, prune bool) []state.Impact {
	var out []state.Impact
	created := map[string]bool{}
	for _, it := range p.items {
		if !jobKind(it.ref.Kind) {
			continue
		}
		desired := asJob(it.body, it.ref.Kind)
		switch it.action {
		case sync.Created:
			if it.ref.Kind == cmf.KindStatement {
				created[state.JobName(desired)] = true
			}
		case sync.Configured:
			size := state.SizeOf(desired)
			if replacesStatement(it) {
				out = append(out, state.Replaced(state.JobName(desired), size, desired.GetLabels()[render.LabelSQLKind] == "ddl",
					"its SQL changed in CMF, which CMF does not change on a running statement", "deleted and created again, it starts from empty state"))
				continue
			}
			out = append(out, state.ChangedSpec(asJob(it.live, it.ref.Kind), desired, size, specChanges(it.diffs)))
		}
	}
	if prune {
		for _, st := range p.stale {
			if !jobKind(st.ref.Kind) {
				continue
			}
			live := asJob(st.live, st.ref.Kind)
			size, job := state.SizeOf(live), state.JobName(live)
			if st.ref.Kind == cmf.KindStatement && created[job] {
				ddl := live.GetLabels()[render.LabelSQLKind] == "ddl"
				out = append(out, state.Replaced(job, size, ddl, "its SQL, pool or catalog changed", "the new statement starts without the old one's state"))
				continue
			}
			out = append(out, state.DeletedJob(live, size))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}

// replacesStatement reports whether writing it will replace a statement:
// its SQL differs from a running one's, which CMF refuses to change in
// place (write deletes it and creates it again).
func replacesStatement(it *item) bool {
	if it.ref.Kind != cmf.KindStatement || it.live == nil {
		return false
	}
	stopped, _, _ := unstructured.NestedBool(it.live, "spec", "stopped")
	if stopped {
		return false
	}
	for _, d := range it.diffs {
		if d.Field == "spec.statement" {
			return true
		}
	}
	return false
}

// specChanges reports whether any diff is under spec: CMF redeploys a job
// for a spec change, not for labels or annotations.
func specChanges(diffs []sync.FieldDiff) bool {
	for _, d := range diffs {
		if d.Field == "spec" || strings.HasPrefix(d.Field, "spec.") || strings.HasPrefix(d.Field, "spec[") {
			return true
		}
	}
	return false
}
