package render

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/flinksync/flinksync/internal/model"
)

// cfkSQL renders, for target cfk, a FlinkComputePool per pool the
// environment's statements use, a FlinkStatement per statement, and per
// catalog a FlinkKafkaCatalog, its FlinkKafkaDatabases, a FlinkSecret per
// credentials Secret and the FlinkEnvironmentSecretMapping CMF needs.
// Statements whose pool did not resolve are left out: their load findings
// block the environment already.
func (b *builder) cfkSQL(in Input) ([]*Object, []*SourceError) {
	var out []*Object
	var errs []*SourceError
	pools := map[string]*model.EffectiveStatement{} // a statement on each pool, for its image
	for _, st := range in.Statements {
		if st.Pool == nil {
			continue
		}
		if _, ok := pools[st.Pool.Metadata.Name]; !ok {
			pools[st.Pool.Metadata.Name] = st
		}
		o, err := b.cfkStatement(st, in.Size)
		switch {
		case errors.Is(err, ErrSkip):
		case err != nil:
			errs = append(errs, &SourceError{File: st.Origin.File, Line: st.Origin.Line, What: "statement " + st.Name, Err: err})
		default:
			out = append(out, o)
		}
	}
	names := make([]string, 0, len(pools))
	for n := range pools {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, b.computePool(pools[n]))
	}
	return append(out, b.catalogs(in.Catalogs)...), errs
}

// cmfRestClassRef is the reference to the environment's CMFRestClass that
// every CFK object carries.
func (b *builder) cmfRestClassRef() map[string]any {
	if b.env.Spec.CFK == nil {
		return nil // target cmf: cmfSQL drops the reference
	}
	ref := b.env.Spec.CFK.CMFRestClassRef
	return map[string]any{"name": ref.Name, "namespace": ref.Namespace}
}

// cfkStatement renders one statement as a FlinkStatement named
// StatementName(st). A DML statement gets its sized parallelism (or its
// explicit one) and, unless a layer sets it, the sized checkpoint interval;
// a DDL statement runs once and gets neither.
func (b *builder) cfkStatement(st *model.EffectiveStatement, size SizeFunc) (*Object, error) {
	s := st.Spec
	props := StatementProperties(st)
	u := b.meta(FlinkStatementGVK.Kind, FlinkStatementGVK.GroupVersion().String(), statementName(st, props), st.Name, statementLabels(st))
	spec := map[string]any{
		"flinkEnvironment": b.shared().envName,
		"computePoolName":  s.Pool,
		"statement":        trimSQL(s.SQL),
		"cmfRestClassRef":  b.cmfRestClassRef(),
	}
	if len(props) > 0 {
		spec["properties"] = stringMap(props, 0)
	}
	conf := stringMap(s.FlinkConfiguration, 1)
	if st.Kind == model.SQLDML {
		res, err := size(b.env.Metadata.Name, st.Name)
		if err != nil {
			return nil, err
		}
		if !statementSets(st, KeyCheckpointInterval) && res.CheckpointInterval > 0 {
			conf[KeyCheckpointInterval] = FlinkDuration(res.CheckpointInterval)
		}
		p := s.Parallelism
		if p == 0 {
			p = res.Parallelism()
		}
		spec["parallelism"] = int64(p)
	}
	if len(conf) > 0 {
		spec["flinkConfiguration"] = conf
	}
	if s.Stopped {
		spec["stopped"] = true
	}
	u.Object["spec"] = spec
	return &Object{Unstructured: u, App: st.Name, File: st.Origin.File, Line: st.Origin.Line, Ignore: st.Spec.Ignore}, nil
}

// statementSets reports whether the statement, its pool or its
// environment's defaults set the Flink key.
func statementSets(st *model.EffectiveStatement, key string) bool {
	for _, conf := range []model.FlinkConfiguration{
		st.Spec.FlinkConfiguration, st.Pool.Spec.FlinkConfiguration, st.Environment.Spec.Defaults.FlinkConfiguration,
	} {
		if _, ok := conf[key]; ok {
			return true
		}
	}
	return false
}

// computePool renders the FlinkComputePool of st's pool: a DEDICATED or
// SHARED pool whose clusterSpec is the FlinkDeployment template CMF starts
// the statements with. The spec carries the pool's shape as written (policy
// checks it against the nodes and maxTaskManagerCPU), the image st runs
// with, the environment's and the pool's Flink configuration, the slots and
// the environment's TLS settings. It leaves out what CMF manages itself
// (serviceAccount, job) and spec.state, which CMF defaults to RUNNING for
// SHARED pools and refuses for DEDICATED ones.
func (b *builder) computePool(st *model.EffectiveStatement) *Object {
	p := st.Pool
	u := b.meta(FlinkComputePoolGVK.Kind, FlinkComputePoolGVK.GroupVersion().String(), p.Metadata.Name, "", nil)
	conf := stringMap(b.env.Spec.Defaults.FlinkConfiguration, len(p.Spec.FlinkConfiguration)+len(b.shared().tlsDefaults)+2)
	for k, v := range p.Spec.FlinkConfiguration {
		conf[k] = v
	}
	conf[KeySlots] = strconv.Itoa(max(1, p.Spec.TaskManager.Slots))
	b.tls(conf)
	image := st.Image()
	tm, jm := p.Spec.TaskManager, p.Spec.JobManager
	cluster := map[string]any{
		"image":              image,
		"flinkConfiguration": conf,
		// clusterSpec reaches CMF as it is, as a FlinkDeployment spec:
		// FKO's number of cores, as in Confluent's own pool examples, not
		// the FlinkApplication's quantity strings ("500m").
		"jobManager":  map[string]any{"resource": resource(cores(jm.CPU), jm.Memory.Value())},
		"taskManager": map[string]any{"resource": resource(cores(tm.CPU), tm.Memory.Value())},
	}
	if v := b.env.Spec.Defaults.FlinkVersion; v != "" {
		cluster["flinkVersion"] = v
	}
	if tlsPasswordsDelivered(b.env) {
		for _, part := range []string{"jobManager", "taskManager"} {
			cluster[part].(map[string]any)["podTemplate"] = podTemplateMap(b.tlsPodTemplate(image, ""))
		}
	}
	u.Object["spec"] = map[string]any{
		"type":             CFKPoolType(p.Spec.Type),
		"flinkEnvironment": b.env.Metadata.Name,
		"clusterSpec":      cluster,
		"cmfRestClassRef":  b.cmfRestClassRef(),
	}
	return &Object{Unstructured: u, File: p.Origin.File, Line: p.Origin.Line}
}

// CFKPoolType is a pool's spec.type as CFK spells it: DEDICATED (the
// default) or SHARED.
func CFKPoolType(t model.PoolType) string {
	if t == "" {
		t = model.PoolDedicated
	}
	return strings.ToUpper(string(t))
}

// cores is a CPU quantity in cores, rounded up to a milli-core as
// Kubernetes does.
func cores(q model.Quantity) float64 { return float64(q.MilliValue()) / 1000 }

// catalogs renders each catalog of the environment: a FlinkKafkaCatalog, a
// FlinkKafkaDatabase per database, and for each Kubernetes Secret they use
// one FlinkSecret and one FlinkEnvironmentSecretMapping, both named after
// the Secret, however many catalogs and databases use it: the mapping's
// name is the connectionSecretId CMF resolves.
func (b *builder) catalogs(cats []*model.EffectiveCatalog) []*Object {
	cats = append([]*model.EffectiveCatalog(nil), cats...)
	sort.Slice(cats, func(i, j int) bool { return cats[i].Name < cats[j].Name })
	var out []*Object
	secrets := map[string]bool{}
	for _, c := range cats {
		out = append(out, b.kafkaCatalog(c))
		for i := range c.Spec.Databases {
			out = append(out, b.kafkaDatabase(c, i))
		}
		for _, name := range c.Secrets() {
			if !secrets[name] {
				secrets[name] = true
				out = append(out, b.flinkSecret(c, name)...)
			}
		}
	}
	return out
}

// kafkaCatalog renders the FlinkKafkaCatalog of c: its Schema Registry and,
// when set, the secret CMF authenticates to it with.
func (b *builder) kafkaCatalog(c *model.EffectiveCatalog) *Object {
	sr := c.Spec.SchemaRegistry
	u := b.meta(FlinkKafkaCatalogGVK.Kind, FlinkKafkaCatalogGVK.GroupVersion().String(), c.Name, "", nil)
	inst := map[string]any{"connectionConfig": map[string]any{"schema.registry.url": sr.URL}}
	if sr.Secret != "" {
		inst["connectionSecretId"] = sr.Secret
	}
	u.Object["spec"] = map[string]any{
		"flinkEnvironment": b.env.Metadata.Name,
		"srInstance":       inst,
		"cmfRestClassRef":  b.cmfRestClassRef(),
	}
	return &Object{Unstructured: u, File: c.Origin.File, Line: c.Origin.LineOf("metadata.name")}
}

// kafkaDatabase renders database i of c as a FlinkKafkaDatabase. CMF lets
// only the environments in ddlEnvironments run DDL on it: the database's
// own list, or, when it gives none, every environment of the catalog (the
// repository format's default).
func (b *builder) kafkaDatabase(c *model.EffectiveCatalog, i int) *Object {
	d := c.Spec.Databases[i]
	u := b.meta(FlinkKafkaDatabaseGVK.Kind, FlinkKafkaDatabaseGVK.GroupVersion().String(), d.Name, "", nil)
	ddl := d.DDLEnvironments
	if len(ddl) == 0 {
		ddl = c.Catalog.Spec.Environments
	}
	spec := map[string]any{
		"flinkEnvironment": b.env.Metadata.Name,
		"catalogRef":       map[string]any{"name": c.Name},
		"kafkaCluster":     map[string]any{"connectionConfig": map[string]any{"bootstrap.servers": d.BootstrapServers}},
		"ddlEnvironments":  strs(ddl),
		"cmfRestClassRef":  b.cmfRestClassRef(),
	}
	if d.Secret != "" {
		spec["connectionSecretRef"] = map[string]any{"name": d.Secret}
	}
	u.Object["spec"] = spec
	return &Object{Unstructured: u, File: c.Origin.File, Line: c.Origin.LineOf(fmt.Sprintf("spec.databases[%d]", i))}
}

// flinkSecret renders the FlinkSecret that syncs the Kubernetes Secret
// called name into CMF, and the FlinkEnvironmentSecretMapping of the same
// name that exposes it to the environment. Both point at the line of c
// that names the Secret. flinksync reads neither the Secret nor its keys.
func (b *builder) flinkSecret(c *model.EffectiveCatalog, name string) []*Object {
	line := c.Origin.LineOf("spec.schemaRegistry.secret")
	if c.Spec.SchemaRegistry.Secret != name {
		for i, d := range c.Spec.Databases {
			if d.Secret == name {
				line = c.Origin.LineOf(fmt.Sprintf("spec.databases[%d].secret", i))
				break
			}
		}
	}
	secret := b.meta(FlinkSecretGVK.Kind, FlinkSecretGVK.GroupVersion().String(), name, "", nil)
	secret.Object["spec"] = map[string]any{"secretRef": name, "cmfRestClassRef": b.cmfRestClassRef()}
	mapping := b.meta(FlinkEnvironmentSecretMappingGVK.Kind, FlinkEnvironmentSecretMappingGVK.GroupVersion().String(), name, "", nil)
	mapping.Object["spec"] = map[string]any{
		"flinkEnvironment": b.env.Metadata.Name,
		"secretRef":        map[string]any{"name": name},
		"cmfRestClassRef":  b.cmfRestClassRef(),
	}
	return []*Object{
		{Unstructured: secret, File: c.Origin.File, Line: line},
		{Unstructured: mapping, File: c.Origin.File, Line: line},
	}
}
