package statuspage

import (
	"fmt"
	"time"
)

// sampleNow is the fixed clock of the sample views.
var sampleNow = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

// sampleView is a view of the shape the daemon makes: a blocked
// environment, a drifted one, a healthy one; apps per environment as
// given.
func sampleView(appsPerEnv int) View {
	head := "0123456789abcdef0123456789abcdef01234567"
	v := View{Generated: sampleNow, Leader: true, Head: head,
		Source: Source{URL: "https://github.com/acme/flink-gitops.git", Ref: "main", OK: true, LastPoll: sampleNow.Add(-20 * time.Second)}}
	for i, name := range []string{"dev", "prod", "prod-eu", "staging"} {
		e := Environment{Name: name, Cluster: "default", Target: "fko", Namespace: "flink-" + name, DriftMode: "correct",
			Applied: head, Head: head, LastPass: sampleNow.Add(-time.Duration(i+1) * time.Minute), Duration: 1200 * time.Millisecond,
			Result: "success", Summary: "0 created, 0 configured, 9 unchanged", InRepository: true,
			Capacity: Capacity{Known: true, CPU: 40.5, CapacityCPU: 256, Memory: 90 << 30, CapacityMem: 1024 << 30, Nodes: 32, NodesNeeded: 7}}
		for j := 0; j < appsPerEnv; j++ {
			a := App{Name: fmt.Sprintf("app-%04d", j), Pool: "medium", File: fmt.Sprintf("apps/app-%04d.yaml", j), Line: 4, Health: Healthy,
				Message: "lifecycle STABLE, job RUNNING, jobManager READY", Sized: true, TaskManagers: 3, Slots: 2, Parallelism: 6,
				CPU: 7, CheckpointInterval: time.Minute}
			switch {
			case j%50 == 7:
				a.Health, a.Message = Degraded, "lifecycle FAILED, job FAILED, jobManager ERROR: java.lang.OutOfMemoryError"
			case j%25 == 3:
				a.Health = Progressing
			case j%40 == 9:
				a.Statement, a.Health = true, Suspended
			}
			if j%100 == 11 {
				a.Drift = []Drift{{Object: "FlinkDeployment/flink-" + name + "/" + a.Name, Field: "spec.taskManager.replicas", Git: "3", Live: "7"}}
			}
			if j%60 == 5 {
				a.StateImpact, a.LosesState = "stateful: upgrade with upgradeMode stateless, 200Gi of state lost", true
			}
			e.Apps = append(e.Apps, a)
		}
		e.Pools = []Pool{{Name: "medium", TaskManagerCPU: 2, Apps: appsPerEnv, TaskManagers: 3 * appsPerEnv, CPU: 7 * float64(appsPerEnv)}}
		switch name {
		case "prod":
			e.Result, e.Applied = "blocked", "fedcba9876543210fedcba9876543210fedcba98"
			e.Blocked = []string{"policy: 1 error(s)"}
			e.Findings = []Finding{{Rule: "TLS-001", Severity: "error", File: "environments/prod.yaml", Line: 12, Message: "TLS is required: <tls.secretName> is empty", Blocking: true},
				{Rule: "CPU-002", Severity: "warning", File: "apps/app-0001.yaml", Line: 9, Message: "parallelism below the slots"}}
		case "prod-eu":
			e.Target, e.Applied = "cfk", "1111111111111111111111111111111111111111"
		case "staging":
			e.OtherDrift = []Drift{{Object: "Service/flink-staging/rest", Field: "spec.type", Git: "ClusterIP", Live: "NodePort"}}
		}
		v.Environments = append(v.Environments, e)
	}
	v.Alerts = []Alert{{Kind: "PolicyBlocked", Environment: "prod", Summary: "prod is blocked", Since: sampleNow.Add(-5 * time.Minute)}}
	for i := 0; i < 200; i++ {
		v.Events = append(v.Events, Event{Time: sampleNow.Add(-time.Duration(i) * time.Minute), Kind: EventPass, Environment: "dev", Message: "0 created, 9 unchanged"})
	}
	return v
}
