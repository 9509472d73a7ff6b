package sync

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// health reads each application's status as its operator wrote it.
func (s *Syncer) health(st *passState, res *Result) {
	for _, p := range st.objects {
		kind := p.obj.GetKind()
		if kind != "FlinkDeployment" && kind != "FlinkApplication" {
			continue
		}
		h := AppHealth{App: p.obj.GetName(), Health: Unknown, Message: "no status yet"}
		switch {
		case p.refused:
			h.Message = "the live object of that name is not flinksync's (see the conflict)"
		case p.live != nil:
			h = HealthOf(p.live)
			h.App = p.obj.GetName()
		}
		res.Health = append(res.Health, h)
	}
}

// HealthOf maps a FlinkDeployment's or FlinkApplication's status to a
// health: FKO's lifecycleState, jobStatus.state and
// jobManagerDeploymentStatus, and for CFK also cmfSync.status.
func HealthOf(u *unstructured.Unstructured) AppHealth {
	str := func(path ...string) string {
		v, _, _ := unstructured.NestedString(u.Object, append([]string{"status"}, path...)...)
		return strings.ToUpper(v)
	}
	lifecycle, job, jm := str("lifecycleState"), str("jobStatus", "state"), str("jobManagerDeploymentStatus")
	cmf := str("cmfSync", "status")
	errMsg, _, _ := unstructured.NestedString(u.Object, "status", "error")
	desiredState, _, _ := unstructured.NestedString(u.Object, "spec", "job", "state")
	msg := strings.Trim(fmt.Sprintf("lifecycle %s, job %s, jobManager %s", orDash(lifecycle), orDash(job), orDash(jm)), " ")
	if cmf != "" {
		msg += ", cmfSync " + cmf
	}
	switch {
	case cmf == "FAILED" || cmf == "ERROR":
		m, _, _ := unstructured.NestedString(u.Object, "status", "cmfSync", "errorMessage")
		return AppHealth{Health: Degraded, Message: strings.TrimSpace(msg + " " + m)}
	case lifecycle == "FAILED" || job == "FAILED" || jm == "ERROR" || lifecycle == "ROLLED_BACK":
		if errMsg != "" {
			msg += ": " + errMsg
		}
		return AppHealth{Health: Degraded, Message: msg}
	case lifecycle == "SUSPENDED" && strings.EqualFold(desiredState, "suspended"):
		return AppHealth{Health: Healthy, Message: msg}
	case lifecycle == "STABLE" || (lifecycle == "DEPLOYED" && (job == "RUNNING" || job == "")) && jm == "READY":
		return AppHealth{Health: Healthy, Message: msg}
	case lifecycle == "" && job == "" && jm == "" && cmf == "":
		return AppHealth{Health: Unknown, Message: "no status yet: is the operator running?"}
	default:
		return AppHealth{Health: Progressing, Message: msg}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
