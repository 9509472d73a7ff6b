package state

import (
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
)

func date(s string) model.Date {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return model.Date{Time: t}
}

// The guard's mode decides the severity; an acknowledgement of the job
// that is current waives the finding, one that expired or runs too far
// ahead does not and says so.
func TestGuardCheck(t *testing.T) {
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	lost := Impact{Job: "orders", Effect: Lost, StateSize: "200Gi", LosesState: true, Message: "stateful: upgrade with upgradeMode stateless, 200Gi of state lost"}
	kept := Impact{Job: "fraud", Effect: Kept, StateSize: "5Gi", Message: "kept"}
	stmt := Impact{Job: "orders", Statement: true, Effect: Lost, StateSize: "1Gi", LosesState: true, Message: "replaced"}
	ack := func(app, stmt, expires string) Acknowledgement {
		return Acknowledgement{StateAcknowledgement: model.StateAcknowledgement{App: app, Statement: stmt, Reason: "replay from Kafka", Expires: date(expires)}, Line: 12}
	}
	cases := []struct {
		name     string
		mode     model.StateGuardMode
		acks     []Acknowledgement
		impacts  []Impact
		rules    string // rule:severity[:waived] of each finding
		blocks   bool
		contains string
	}{
		{"enforce, nothing acknowledged", model.StateGuardEnforce, nil, []Impact{lost, kept}, "STATE-001:error", true, "200Gi of state lost; keep it"},
		{"warn", model.StateGuardWarn, nil, []Impact{lost}, "STATE-001:warning", false, ""},
		{"off", model.StateGuardOff, nil, []Impact{lost}, "", false, ""},
		{"acknowledged", model.StateGuardEnforce, []Acknowledgement{ack("orders", "", "2026-12-07")}, []Impact{lost}, "STATE-001:error:waived", false, "acknowledged until 2026-12-07: replay from Kafka"},
		{"acknowledged on its last day", model.StateGuardEnforce, []Acknowledgement{ack("orders", "", "2026-11-30")}, []Impact{lost}, "STATE-001:error:waived", false, ""},
		{"expired", model.StateGuardEnforce, []Acknowledgement{ack("orders", "", "2026-11-29")}, []Impact{lost}, "STATE-002:warning STATE-001:error", true, "expired on 2026-11-29"},
		{"too far ahead", model.StateGuardEnforce, []Acknowledgement{ack("orders", "", "2027-01-30")}, []Impact{lost}, "STATE-002:warning STATE-001:error", true, "more than 30 days ahead"},
		{"another app's acknowledgement", model.StateGuardEnforce, []Acknowledgement{ack("fraud", "", "2026-12-07")}, []Impact{lost}, "STATE-001:error", true, ""},
		{"an app's acknowledgement does not cover a statement of that name", model.StateGuardEnforce, []Acknowledgement{ack("orders", "", "2026-12-07")}, []Impact{stmt}, "STATE-001:error", true, ""},
		{"a statement's", model.StateGuardEnforce, []Acknowledgement{ack("", "orders", "2026-12-07")}, []Impact{stmt}, "STATE-001:error:waived", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := Guard{Env: "prod", Mode: c.mode, File: "environments/prod.yaml", Line: 9, Acks: c.acks, Now: now}
			got := g.Check(c.impacts)
			var rules []string
			for _, f := range got {
				r := f.Rule + ":" + string(f.Severity)
				if f.Waived {
					r += ":waived"
				}
				rules = append(rules, r)
				if f.File != "environments/prod.yaml" || f.Environment != "prod" || f.App != "orders" {
					t.Errorf("finding placed at %s env %s app %s", f.Location(), f.Environment, f.App)
				}
			}
			if s := strings.Join(rules, " "); s != c.rules {
				t.Errorf("findings %q, want %q", s, c.rules)
			}
			if Blocks(got) != c.blocks {
				t.Errorf("Blocks = %v, want %v", Blocks(got), c.blocks)
			}
			if c.contains != "" && !strings.Contains(text(got), c.contains) {
				t.Errorf("findings do not say %q:\n%s", c.contains, text(got))
			}
		})
	}
}

func text(fs []*diag.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + " " + f.WaivedBy + "\n")
	}
	return b.String()
}

// The default is enforce where the environment requires TLS, warn elsewhere;
// a mode in Git wins.
func TestGuardOfDefault(t *testing.T) {
	env := &model.Environment{Metadata: model.ObjectMeta{Name: "prod"}}
	if g := GuardOf(env, true, time.Time{}); g.Mode != model.StateGuardEnforce {
		t.Errorf("TLS required: mode %s, want enforce", g.Mode)
	}
	if g := GuardOf(env, false, time.Time{}); g.Mode != model.StateGuardWarn {
		t.Errorf("no TLS: mode %s, want warn", g.Mode)
	}
	env.Spec.StateGuard.Mode = model.StateGuardOff
	if g := GuardOf(env, true, time.Time{}); g.Mode != model.StateGuardOff {
		t.Errorf("mode in Git: %s, want off", g.Mode)
	}
}
