package plan

import (
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
)

// stateFindings lists the plan's STATE-… findings in env as
// "rule severity app [waived]".
func stateFindings(r *Result, env string) []string {
	var out []string
	for _, e := range r.Environments {
		if e.Name != env {
			continue
		}
		for _, f := range e.Findings {
			if strings.HasPrefix(f.Rule, "STATE-") {
				s := f.Rule + " " + string(f.Severity) + " " + f.App
				if f.Waived {
					s += " waived"
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func blockedOnHead(r *Result, env string) bool {
	for _, e := range r.Environments {
		if e.Name == env {
			return len(e.HeadBlocked) > 0
		}
	}
	return false
}

// The guard turns a state-losing change into an error in an enforcing
// environment until Git acknowledges it; an expired acknowledgement does
// not count; a state-keeping change is no finding at all.
func TestStateGuardUntilAcknowledged(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("apps/orders-enrich.yaml", "upgradeMode: savepoint", "upgradeMode: stateless")
	g.commit("orders-enrich goes stateless")
	r := g.plan("main~1", "main", Options{})
	if got := stateFindings(r, "prod"); strings.Join(got, ",") != "STATE-001 error orders-enrich" || !blockedOnHead(r, "prod") {
		t.Fatalf("unacknowledged: findings %v, blocked %v; want one STATE-001 error and prod blocked", got, blockedOnHead(r, "prod"))
	}
	if r.AtLeast(diag.Error) == 0 {
		t.Errorf("the plan must count the STATE-001 error (it fails the check)")
	}

	// fixedNow is 2026-11-21: acknowledged until 2026-11-28.
	ack := "  stateGuard:\n    mode: enforce\n    acknowledge:\n      - {app: orders-enrich, reason: replays from Kafka, expires: %s}\n"
	env := g.read("environments/prod.yaml")
	withAck := func(expires string) string {
		return strings.Replace(env, "  stateGuard:\n    mode: enforce\n", strings.Replace(ack, "%s", expires, 1), 1)
	}
	g.write("environments/prod.yaml", withAck("2026-11-28"))
	g.commit("acknowledge the loss")
	r = g.plan("main~2", "main", Options{})
	if got := stateFindings(r, "prod"); strings.Join(got, ",") != "STATE-001 error orders-enrich waived" || blockedOnHead(r, "prod") {
		t.Errorf("acknowledged: findings %v, blocked %v; want the STATE-001 waived and prod not blocked", got, blockedOnHead(r, "prod"))
	}

	g.write("environments/prod.yaml", withAck("2026-11-20"))
	g.commit("the acknowledgement expired")
	r = g.plan("main~3", "main", Options{})
	if got := stateFindings(r, "prod"); strings.Join(got, ",") != "STATE-002 warning orders-enrich,STATE-001 error orders-enrich" || !blockedOnHead(r, "prod") {
		t.Errorf("expired: findings %v, blocked %v; want STATE-002 and an unwaived STATE-001", got, blockedOnHead(r, "prod"))
	}

	// A rescale that keeps state (upgradeMode savepoint) is no finding.
	g.write("environments/prod.yaml", env)
	g.edit("apps/orders-enrich.yaml", "upgradeMode: stateless", "upgradeMode: savepoint")
	g.commit("back to savepoint")
	g.edit("apps/orders-enrich.yaml", "recordsPerSecond: 50000", "recordsPerSecond: 80000")
	g.commit("rescale")
	r = g.plan("main~1", "main", Options{})
	if got := stateFindings(r, "prod"); len(got) != 0 || blockedOnHead(r, "prod") {
		t.Errorf("state-keeping rescale: findings %v, blocked %v; want none", got, blockedOnHead(r, "prod"))
	}
}
