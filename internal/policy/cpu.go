package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// capacityWarning is the share of an environment's CPU above which CPU-004
// warns: headroom for rolling upgrades (FKO starts new pods before the old
// ones go in savepoint upgrades) and node loss.
const capacityWarning = 0.8

// poolShapes checks the pools the environment's apps use against its nodes.
func (c *checker) poolShapes(env *model.Environment) {
	name, nodes := env.Metadata.Name, env.Spec.Nodes
	apps := map[*model.ComputePool][]string{}
	for _, a := range c.in.Repo.EffectiveApps(name) {
		if a.Pool != nil {
			apps[a.Pool] = append(apps[a.Pool], a.Name)
		}
	}
	pools := make([]*model.ComputePool, 0, len(apps))
	for p := range apps {
		pools = append(pools, p)
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].Metadata.Name < pools[j].Metadata.Name })
	limit := c.eff.MaxTaskManagerCPU
	for _, p := range pools {
		s, o, users := p.Spec, p.Origin, strings.Join(apps[p], ", ")
		if nodes.CPU.Set && s.TaskManager.CPU.Cmp(nodes.CPU.Quantity) > 0 {
			c.add("CPU-001", name, "", o.File, o.LineOf("spec.taskManager.cpu"), "",
				"pool %q has %s CPU per TaskManager but %s's nodes have %s: no node can schedule it (apps: %s); lower spec.taskManager.cpu",
				p.Metadata.Name, s.TaskManager.CPU.String(), name, nodes.CPU.String(), users)
		} else if s.TaskManager.CPU.Cmp(limit) > 0 {
			c.add("CPU-001", name, "", o.File, o.LineOf("spec.taskManager.cpu"), "",
				"pool %q has %s CPU per TaskManager, above the policy's maxTaskManagerCPU %s (apps: %s); lower spec.taskManager.cpu",
				p.Metadata.Name, s.TaskManager.CPU.String(), limit.String(), users)
		}
		if nodes.CPU.Set && s.JobManager.CPU.Cmp(nodes.CPU.Quantity) > 0 {
			c.add("CPU-002", name, "", o.File, o.LineOf("spec.jobManager.cpu"), "",
				"pool %q has %s CPU per JobManager but %s's nodes have %s (apps: %s); lower spec.jobManager.cpu",
				p.Metadata.Name, s.JobManager.CPU.String(), name, nodes.CPU.String(), users)
		}
		for _, m := range []struct {
			what, path string
			q          model.Quantity
		}{{"TaskManager", "spec.taskManager.memory", s.TaskManager.Memory}, {"JobManager", "spec.jobManager.memory", s.JobManager.Memory}} {
			if nodes.Memory.Set && m.q.Cmp(nodes.Memory.Quantity) > 0 {
				c.add("CPU-006", name, "", o.File, o.LineOf(m.path), "",
					"pool %q gives each %s %s of memory but %s's nodes have %s (apps: %s); lower %s",
					p.Metadata.Name, m.what, m.q.String(), name, nodes.Memory.String(), users, m.path)
			}
		}
	}
}

// capacity checks the rendered Flink objects: per-pod CPU and memory
// (after overlays), TaskManager counts against the pool, and the
// environment's total against its nodes.
func (c *checker) capacity(env *model.Environment, out *render.Environment) {
	name, nodes := env.Metadata.Name, env.Spec.Nodes
	nodeCPU := nodes.CPU.AsApproximateFloat64()
	nodeMem := nodes.Memory.Value()
	limit := c.eff.MaxTaskManagerCPU.AsApproximateFloat64()
	var total float64
	for _, o := range out.Objects {
		if !isFlink(o) || o.GetKind() == "FlinkSessionJob" {
			continue
		}
		app := c.effectiveApp(env, o)
		tmCPU, _ := number(o, "spec", "taskManager", "resource", "cpu")
		jmCPU, _ := number(o, "spec", "jobManager", "resource", "cpu")
		replicas, ok := number(o, "spec", "taskManager", "replicas")
		if !ok {
			replicas = 1
		}
		jmReplicas, ok := number(o, "spec", "jobManager", "replicas")
		if !ok {
			jmReplicas = 1
		}
		total += tmCPU*replicas + jmCPU*jmReplicas
		poolOK := app != nil && app.Pool != nil && app.Pool.Spec.TaskManager.CPU.AsApproximateFloat64() == tmCPU
		if !poolOK && (tmCPU > nodeCPU || tmCPU > limit) {
			c.addAt("CPU-001", name, o, "%s %q asks %g CPU per TaskManager; the nodes have %g and the policy allows %g",
				o.GetKind(), o.GetName(), tmCPU, nodeCPU, limit)
		}
		jmFromPool := app != nil && app.Pool != nil && app.Pool.Spec.JobManager.CPU.AsApproximateFloat64() == jmCPU
		if !jmFromPool && jmCPU > nodeCPU {
			c.addAt("CPU-002", name, o, "%s %q asks %g CPU for the JobManager; the nodes have %g", o.GetKind(), o.GetName(), jmCPU, nodeCPU)
		}
		for _, part := range []string{"taskManager", "jobManager"} {
			mem, ok := parseFlinkMemory(nestedString(o, "spec", part, "resource", "memory"))
			fromPool := app != nil && app.Pool != nil && ((part == "taskManager" && app.Pool.Spec.TaskManager.Memory.Value() == mem) ||
				(part == "jobManager" && app.Pool.Spec.JobManager.Memory.Value() == mem))
			if ok && !fromPool && nodeMem > 0 && mem > nodeMem {
				c.addAt("CPU-006", name, o, "%s %q asks %s of %s memory; the nodes have %s", o.GetKind(), o.GetName(),
					nestedString(o, "spec", part, "resource", "memory"), part, nodes.Memory.String())
			}
		}
		if app != nil && app.Pool != nil && app.Pool.Spec.MaxTaskManagers > 0 && int(replicas) > app.Pool.Spec.MaxTaskManagers {
			path, what := "spec.workload", fmt.Sprintf("needs %d TaskManagers by sizing", int(replicas))
			if app.Spec.TaskManagers > 0 {
				path, what = "spec.taskManagers", fmt.Sprintf("asks for %d TaskManagers", int(replicas))
			}
			c.add("CPU-003", name, app.Name, app.Origin.File, app.Origin.LineOf(path), o.ID(),
				"app %q %s but pool %q allows at most %d; use a larger pool, raise its maxTaskManagers, or lower the workload",
				app.Name, what, app.Pool.Metadata.Name, app.Pool.Spec.MaxTaskManagers)
		}
	}
	capacity := nodeCPU * float64(nodes.Count)
	if capacity <= 0 {
		return
	}
	share := total / capacity
	msg := fmt.Sprintf("environment %s requests %.1f CPU in all (TaskManagers and JobManagers) of %.0f (%d nodes × %g), %.0f%%",
		name, total, capacity, nodes.Count, nodeCPU, share*100)
	switch {
	case share > 1:
		c.add("CPU-004", name, "", env.Origin.File, env.Origin.LineOf("spec.nodes.count"), "",
			"%s: more than the nodes hold; add nodes (spec.nodes.count) or shrink the apps", msg)
	case share > capacityWarning:
		f := c.add("CPU-004", name, "", env.Origin.File, env.Origin.LineOf("spec.nodes.count"), "",
			"%s: above %.0f%%, little headroom for upgrades and node loss", msg, capacityWarning*100)
		f.Severity = "warning"
	}
}
