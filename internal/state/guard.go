package state

import (
	"fmt"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/policy"
)

// The IDs of the guard's policy rules (listed with the others in
// internal/policy), which findings are made from.
var (
	// RuleStateLoss: a change throws a stateful job's state away and the
	// environment does not acknowledge it.
	RuleStateLoss = policy.STATE001.ID()
	// RuleAcknowledgement: an acknowledgement has expired or runs too far
	// ahead; it does not apply.
	RuleAcknowledgement = policy.STATE002.ID()
)

// MaxAcknowledgement is the longest ahead an acknowledgement may expire:
// it is for one change, not a standing exemption.
const MaxAcknowledgement = 30 * 24 * time.Hour

// Guard is one environment's state guard in force.
type Guard struct {
	Env  string
	Mode model.StateGuardMode
	// File and Line place findings without a line of their own: the
	// environment's spec.stateGuard, or its document.
	File string
	Line int
	Acks []Acknowledgement
	// Now decides which acknowledgements still apply.
	Now time.Time
}

// Acknowledgement is a model.StateAcknowledgement with its line.
type Acknowledgement struct {
	model.StateAcknowledgement
	Line int
}

// GuardOf is env's guard: its spec.stateGuard, and, when it sets no mode,
// enforce where the environment requires TLS (requiresTLS: its own
// tls.required or a Policy's requireTLS, the mark of a production-like
// environment) and warn elsewhere.
func GuardOf(env *model.Environment, requiresTLS bool, now time.Time) Guard {
	sg, o := env.Spec.StateGuard, env.Origin
	g := Guard{Env: env.Metadata.Name, Mode: sg.Mode, File: o.File, Line: o.LineOf("spec.stateGuard"), Now: now}
	if g.Mode == "" {
		g.Mode = model.StateGuardWarn
		if requiresTLS {
			g.Mode = model.StateGuardEnforce
		}
	}
	for i, a := range sg.Acknowledge {
		g.Acks = append(g.Acks, Acknowledgement{StateAcknowledgement: a, Line: o.LineOf(fmt.Sprintf("spec.stateGuard.acknowledge[%d]", i))})
	}
	return g
}

// applies says whether a covers impact i now, and if not, why ("" when
// a names another job).
func (g Guard) applies(a Acknowledgement, i Impact) (bool, string) {
	if a.Job() != i.Job || (a.Statement != "") != i.Statement {
		return false, ""
	}
	today := g.Now.UTC().Truncate(24 * time.Hour)
	switch {
	case today.After(a.Expires.Time):
		return false, fmt.Sprintf("expired on %s", a.Expires)
	case a.Expires.Time.Sub(today) > MaxAcknowledgement:
		return false, fmt.Sprintf("expires on %s, more than %d days ahead; an acknowledgement is for one change: let it expire within %d days",
			a.Expires, int(MaxAcknowledgement.Hours()/24), int(MaxAcknowledgement.Hours()/24))
	}
	return true, ""
}

// Check turns each impact that loses declared state into a STATE-001
// finding: an error under enforce, a warning under warn, none when the
// guard is off. An acknowledgement that covers the job waives it (the
// finding stays, marked waived); one that names the job but has expired or
// runs too far ahead does not, and is reported as STATE-002.
func (g Guard) Check(impacts []Impact) []*diag.Finding {
	if g.Mode == model.StateGuardOff {
		return nil
	}
	sev := diag.Error
	if g.Mode == model.StateGuardWarn {
		sev = diag.Warning
	}
	var out []*diag.Finding
	for _, i := range impacts {
		if !i.LosesState {
			continue
		}
		f := policy.STATE001.Atf(g.File, g.Line, "%s; keep it (upgradeMode savepoint or last-state, or suspend the job first), or acknowledge the loss in spec.stateGuard.acknowledge (%s: %s, a reason, expires within %d days)",
			i, kindOf(i), i.Job, int(MaxAcknowledgement.Hours()/24)).For(g.Env, i.Job)
		f.Severity = sev
		for _, a := range g.Acks {
			ok, why := g.applies(a, i)
			switch {
			case ok:
				f.Waived, f.WaivedBy = true, fmt.Sprintf("%s:%d acknowledged until %s: %s", g.File, a.Line, a.Expires, a.Reason)
			case why != "":
				out = append(out, policy.STATE002.Atf(g.File, a.Line, "the acknowledgement of %s %s does not apply: it %s", kindOf(i), i.Job, why).For(g.Env, i.Job))
			}
			if f.Waived {
				break
			}
		}
		out = append(out, f)
	}
	return out
}

// Blocks reports whether findings hold an error no acknowledgement waived:
// then nothing of the environment may be written.
func Blocks(findings []*diag.Finding) bool {
	for _, f := range findings {
		if f.Severity == diag.Error && !f.Waived {
			return true
		}
	}
	return false
}

func kindOf(i Impact) string {
	if i.Statement {
		return "statement"
	}
	return "app"
}
