package sync

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// healthKinds are the kinds whose status health reads: applications,
// SQL statements (CFK FlinkStatement; an FKO SQL runner is a
// FlinkDeployment) and CFK compute pools.
var healthKinds = map[string]bool{"FlinkDeployment": true, "FlinkApplication": true, "FlinkStatement": true, "FlinkComputePool": true}

// health reads each application's, statement's and pool's status as its
// operator wrote it.
func (s *Syncer) health(st *passState, res *Result) {
	for _, p := range st.objects {
		if !healthKinds[p.obj.GetKind()] {
			continue
		}
		h := AppHealth{Health: Unknown, Message: "no status yet"}
		switch {
		case p.refused:
			h.Message = "the live object of that name is not flinksync's (see the conflict)"
		case p.live != nil:
			h = HealthOf(p.live)
		}
		h.App, h.Kind = healthName(p.obj)
		res.Health = append(res.Health, h)
	}
}

// The kinds of AppHealth.Kind besides applications.
const (
	HealthStatement = "statement"
	HealthPool      = "pool"
)

// healthName is how health names an object: a statement by its own name
// (its objects' names carry a hash of its SQL), a pool as "pool/<name>"
// (pool names may equal app names), an application by its name.
func healthName(u *unstructured.Unstructured) (name, kind string) {
	switch l := u.GetLabels(); {
	case u.GetKind() == "FlinkComputePool":
		return HealthPool + "/" + u.GetName(), HealthPool
	case l[render.LabelSQLKind] != "" && l[render.LabelName] != "":
		return l[render.LabelName], HealthStatement
	case l[render.LabelSQLKind] != "":
		return u.GetName(), HealthStatement
	}
	return u.GetName(), ""
}

// HealthOf maps an object's status to a health. A FlinkDeployment's or
// FlinkApplication's: FKO's lifecycleState, jobStatus.state and
// jobManagerDeploymentStatus, and for CFK also cmfSync.status. A CFK
// FlinkStatement's or FlinkComputePool's: status.phase and cmfSync.status.
func HealthOf(u *unstructured.Unstructured) AppHealth {
	switch u.GetKind() {
	case "FlinkStatement":
		return statementHealth(u)
	case "FlinkComputePool":
		return poolHealth(u)
	}
	str := statusOf(u)
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

// statusOf reads string fields under status, upper-cased.
func statusOf(u *unstructured.Unstructured) func(path ...string) string {
	return func(path ...string) string {
		v, _, _ := unstructured.NestedString(u.Object, append([]string{"status"}, path...)...)
		return strings.ToUpper(v)
	}
}

// cmfHealth is what a CFK SQL object's phase and cmfSync say in common:
// Degraded when CFK could not sync it to CMF or its phase is FAILED or
// FAILING, Unknown without status, and the message either way. ok is false
// when the phase alone decides.
func cmfHealth(u *unstructured.Unstructured, detail string) (h AppHealth, phase string, ok bool) {
	str := statusOf(u)
	phase, cmf := str("phase"), str("cmfSync", "status")
	msg := "phase " + orDash(phase)
	if cmf != "" {
		msg += ", cmfSync " + cmf
	}
	text, _, _ := unstructured.NestedString(u.Object, "status", detail)
	switch {
	case cmf == "FAILED":
		m, _, _ := unstructured.NestedString(u.Object, "status", "cmfSync", "errorMessage")
		return AppHealth{Health: Degraded, Message: strings.TrimSpace(msg + ": " + m)}, phase, true
	case phase == "FAILED" || phase == "FAILING":
		if text != "" {
			msg += ": " + text
		}
		return AppHealth{Health: Degraded, Message: msg}, phase, true
	case phase == "" && cmf == "":
		return AppHealth{Health: Unknown, Message: "no status yet: is Confluent for Kubernetes running?"}, phase, true
	}
	return AppHealth{Message: msg}, phase, false
}

// statementHealth maps a FlinkStatement's status (CMF's statement phases:
// PENDING, RUNNING, COMPLETED, DELETING, FAILING, FAILED, STOPPED).
// A statement stopped on purpose (spec.stopped) is healthy; so is a
// completed DDL statement, or a completed DML statement unless CMF says it
// was unbounded (a streaming job that ended).
func statementHealth(u *unstructured.Unstructured) AppHealth {
	h, phase, done := cmfHealth(u, "detail")
	if done {
		return h
	}
	stopped, _, _ := unstructured.NestedBool(u.Object, "spec", "stopped")
	bounded, known, _ := unstructured.NestedBool(u.Object, "status", "traits", "isBounded")
	ddl := u.GetLabels()[render.LabelSQLKind] == string(model.SQLDDL)
	switch {
	case phase == "STOPPED" && stopped:
		h.Health = Healthy
	case phase == "STOPPED":
		h.Health, h.Message = Progressing, h.Message+": stopped, and spec.stopped is false (resuming?)"
	case phase == "RUNNING" && stopped:
		h.Health, h.Message = Progressing, h.Message+": stopping"
	case phase == "RUNNING":
		h.Health = Healthy
	case phase == "COMPLETED" && !ddl && known && !bounded:
		h.Health, h.Message = Degraded, h.Message+": a streaming statement completed and no longer runs"
	case phase == "COMPLETED":
		h.Health = Healthy
	default: // PENDING, DELETING
		h.Health = Progressing
	}
	return h
}

// poolHealth maps a FlinkComputePool's status (CMF's pool phases:
// DEDICATED, PENDING, RUNNING, DELETING, FAILING, FAILED, SUSPENDED). A
// dedicated pool is a template for its statements' clusters: its phase is
// DEDICATED. A SUSPENDED shared pool is healthy when spec.state says so.
func poolHealth(u *unstructured.Unstructured) AppHealth {
	h, phase, done := cmfHealth(u, "message")
	if done {
		return h
	}
	state, _, _ := unstructured.NestedString(u.Object, "spec", "state")
	switch {
	case phase == "RUNNING" || phase == "DEDICATED":
		h.Health = Healthy
	case phase == "SUSPENDED" && strings.EqualFold(state, "SUSPENDED"):
		h.Health = Healthy
	default: // PENDING, DELETING, SUSPENDED while meant to run
		h.Health = Progressing
	}
	return h
}
