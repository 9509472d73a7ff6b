package policy

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// capacityWarning is the share of an environment's CPU above which CPU-004
// warns: headroom for rolling upgrades (FKO starts new pods before the old
// ones go in savepoint upgrades) and node loss.
const capacityWarning = 0.8

// poolShapes checks the pools the environment's apps and statements use
// against its nodes.
func (c *checker) poolShapes(env *model.Environment) {
	name, nodes := env.Metadata.Name, env.Spec.Nodes
	used := map[*model.ComputePool][]string{}
	for _, a := range c.in.Repo.EffectiveApps(name) {
		if a.Pool != nil {
			used[a.Pool] = append(used[a.Pool], "app "+a.Name)
		}
	}
	for _, st := range c.in.Repo.EffectiveStatements(name) {
		if st.Pool != nil {
			used[st.Pool] = append(used[st.Pool], "statement "+st.Name)
		}
	}
	pools := make([]*model.ComputePool, 0, len(used))
	for p := range used {
		pools = append(pools, p)
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].Metadata.Name < pools[j].Metadata.Name })
	limit := c.eff.MaxTaskManagerCPU
	for _, p := range pools {
		s, o, users := p.Spec, p.Origin, strings.Join(used[p], ", ")
		if nodes.CPU.Set && s.TaskManager.CPU.Cmp(nodes.CPU.Quantity) > 0 {
			c.add(CPU001, name, "", o.File, o.LineOf("spec.taskManager.cpu"), "",
				"pool %q has %s CPU per TaskManager but %s's nodes have %s: no node can schedule it (used by %s); lower spec.taskManager.cpu",
				p.Metadata.Name, s.TaskManager.CPU.String(), name, nodes.CPU.String(), users)
		} else if s.TaskManager.CPU.Cmp(limit) > 0 {
			c.add(CPU001, name, "", o.File, o.LineOf("spec.taskManager.cpu"), "",
				"pool %q has %s CPU per TaskManager, above the policy's maxTaskManagerCPU %s (used by %s); lower spec.taskManager.cpu",
				p.Metadata.Name, s.TaskManager.CPU.String(), limit.String(), users)
		}
		if nodes.CPU.Set && s.JobManager.CPU.Cmp(nodes.CPU.Quantity) > 0 {
			c.add(CPU002, name, "", o.File, o.LineOf("spec.jobManager.cpu"), "",
				"pool %q has %s CPU per JobManager but %s's nodes have %s (used by %s); lower spec.jobManager.cpu",
				p.Metadata.Name, s.JobManager.CPU.String(), name, nodes.CPU.String(), users)
		}
		for _, m := range []struct {
			what, path string
			q          model.Quantity
		}{{"TaskManager", "spec.taskManager.memory", s.TaskManager.Memory}, {"JobManager", "spec.jobManager.memory", s.JobManager.Memory}} {
			if nodes.Memory.Set && m.q.Cmp(nodes.Memory.Quantity) > 0 {
				c.add(CPU006, name, "", o.File, o.LineOf(m.path), "",
					"pool %q gives each %s %s of memory but %s's nodes have %s (used by %s); lower %s",
					p.Metadata.Name, m.what, m.q.String(), name, nodes.Memory.String(), users, m.path)
			}
		}
	}
}

// capacity checks the rendered Flink objects: per-pod CPU and memory
// (after overlays), TaskManager counts against the pool, and the
// environment's total against its nodes. A CFK FlinkComputePool (or a
// CMF ComputePool) is a template: its pods are counted per statement that
// runs on it.
func (c *checker) capacity(env *model.Environment, objs []*object) {
	name, nodes := env.Metadata.Name, env.Spec.Nodes
	pools := map[string]*render.Object{}
	for _, o := range objs {
		if o.shape == render.FlinkComputePoolGVK.Kind {
			pools[o.name] = o.Object
		}
	}
	var total float64
	for _, v := range objs {
		switch o, shape := v.Object, v.shape; shape {
		case "FlinkDeployment", render.FlinkApplicationGVK.Kind:
			w := c.ownerOf(env, v)
			tmCPU, jmCPU := c.podShapes(env, o, shape, w)
			replicas, ok := number(o, "spec", "taskManager", "replicas")
			if !ok {
				replicas = 1
			}
			jmReplicas, ok := number(o, "spec", "jobManager", "replicas")
			if !ok {
				jmReplicas = 1
			}
			total += tmCPU*replicas + jmCPU*jmReplicas
			c.maxTaskManagers(name, w, int(replicas), o)
		case render.FlinkComputePoolGVK.Kind:
			c.podShapes(env, o, shape, c.ownerOf(env, v))
		case render.FlinkStatementGVK.Kind:
			total += c.statementCPU(env, v, pools)
		}
	}
	capacity := nodes.CPU.AsApproximateFloat64() * float64(nodes.Count)
	if capacity <= 0 {
		return
	}
	share := total / capacity
	msg := fmt.Sprintf("environment %s requests %.1f CPU in all (TaskManagers and JobManagers) of %.0f (%d nodes × %g), %.0f%%",
		name, total, capacity, nodes.Count, nodes.CPU.AsApproximateFloat64(), share*100)
	switch {
	case share > 1:
		c.add(CPU004, name, "", env.Origin.File, env.Origin.LineOf("spec.nodes.count"), "",
			"%s: more than the nodes hold; add nodes (spec.nodes.count) or shrink the apps", msg)
	case share > capacityWarning:
		f := c.add(CPU004, name, "", env.Origin.File, env.Origin.LineOf("spec.nodes.count"), "",
			"%s: above %.0f%%, little headroom for upgrades and node loss", msg, capacityWarning*100)
		f.Severity = "warning"
	}
}

// podShapes checks the TaskManager and JobManager pods of a rendered Flink
// cluster (CPU-001, CPU-002, CPU-006) and returns their CPU. A size that
// is the owner's pool's own is reported at the pool (poolShapes); another
// one was set by an overlay and is reported there. shape is the object's
// (object.shape).
func (c *checker) podShapes(env *model.Environment, o *render.Object, shape string, w *owner) (tmCPU, jmCPU float64) {
	name, nodes, cluster := env.Metadata.Name, env.Spec.Nodes, clusterSpec(shape)
	nodeCPU, nodeMem := nodes.CPU.AsApproximateFloat64(), nodes.Memory.Value()
	limit := c.eff.MaxTaskManagerCPU.AsApproximateFloat64()
	var pool *model.ComputePoolSpec
	if w != nil && w.pool != nil {
		pool = &w.pool.Spec
	}
	tmCPU, _ = toNumber(field(o.Object, cluster, "taskManager", "resource", "cpu"))
	jmCPU, _ = toNumber(field(o.Object, cluster, "jobManager", "resource", "cpu"))
	if (pool == nil || pool.TaskManager.CPU.AsApproximateFloat64() != tmCPU) && (tmCPU > nodeCPU || tmCPU > limit) {
		c.addAt(CPU001, name, o, "%s %q asks %g CPU per TaskManager; the nodes have %g and the policy allows %g",
			o.GetKind(), o.GetName(), tmCPU, nodeCPU, limit)
	}
	if (pool == nil || pool.JobManager.CPU.AsApproximateFloat64() != jmCPU) && jmCPU > nodeCPU {
		c.addAt(CPU002, name, o, "%s %q asks %g CPU for the JobManager; the nodes have %g", o.GetKind(), o.GetName(), jmCPU, nodeCPU)
	}
	for _, part := range []string{"taskManager", "jobManager"} {
		raw, _ := field(o.Object, cluster, part, "resource", "memory").(string)
		mem, ok := parseFlinkMemory(raw)
		fromPool := pool != nil && ((part == "taskManager" && pool.TaskManager.Memory.Value() == mem) ||
			(part == "jobManager" && pool.JobManager.Memory.Value() == mem))
		if ok && !fromPool && nodeMem > 0 && mem > nodeMem {
			c.addAt(CPU006, name, o, "%s %q asks %s of %s memory; the nodes have %s", o.GetKind(), o.GetName(),
				raw, part, nodes.Memory.String())
		}
	}
	return tmCPU, jmCPU
}

// statementCPU is the CPU a CFK FlinkStatement's (or CMF Statement's)
// cluster requests: CMF runs a streaming statement on a cluster of its
// pool's shape with enough TaskManagers for its parallelism (as sizing
// counts it). It checks the count against the pool's maxTaskManagers
// (CPU-003). A DDL statement runs once and is not counted.
func (c *checker) statementCPU(env *model.Environment, v *object, pools map[string]*render.Object) float64 {
	o, w := v.Object, c.ownerOf(env, v)
	if w == nil || w.st == nil || w.pool == nil || w.st.Kind != model.SQLDML {
		return 0
	}
	parallelism, ok := number(o, "spec", "parallelism")
	if !ok || parallelism < 1 {
		return 0
	}
	slots := float64(slots(w.pool))
	tms := math.Ceil(parallelism / slots)
	c.maxTaskManagers(env.Metadata.Name, w, int(tms), o)
	tmCPU, jmCPU := w.pool.Spec.TaskManager.CPU.AsApproximateFloat64(), w.pool.Spec.JobManager.CPU.AsApproximateFloat64()
	if p := pools[nestedString(o, "spec", "computePoolName")]; p != nil {
		if v, ok := number(p, "spec", "clusterSpec", "taskManager", "resource", "cpu"); ok {
			tmCPU = v
		}
		if v, ok := number(p, "spec", "clusterSpec", "jobManager", "resource", "cpu"); ok {
			jmCPU = v
		}
	}
	return tms*tmCPU + jmCPU
}

// maxTaskManagers reports an app or statement that needs more TaskManagers
// than its pool's maxTaskManagers (CPU-003), at the field that sets the count.
func (c *checker) maxTaskManagers(env string, w *owner, tms int, o *render.Object) {
	if w == nil || w.pool == nil || w.pool.Spec.MaxTaskManagers <= 0 || tms <= w.pool.Spec.MaxTaskManagers {
		return
	}
	path, what := w.taskManagers(tms)
	lower := "lower the workload"
	if path == "spec.parallelism" {
		lower = "lower spec.parallelism"
	}
	c.add(CPU003, env, w.name(), w.origin().File, w.origin().LineOf(path), o.ID(),
		"%s %s but pool %q allows at most %d; use a larger pool, raise its maxTaskManagers, or %s",
		w.what(), what, w.pool.Metadata.Name, w.pool.Spec.MaxTaskManagers, lower)
}
