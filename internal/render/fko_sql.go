package render

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
)

// How a statement runs on target fko (docs/sql.md): as a job of the
// environment's SQL runner, the pattern of FKO's flink-sql-runner example.
// The runner's jar takes one argument, the path of a SQL script, and runs
// the script's statements in one TableEnvironment. flinksync writes the
// script into a ConfigMap and mounts it into the JobManager, which runs the
// jar's main() in application mode.
const (
	// SQLScriptDir is where the script's ConfigMap is mounted: the folder
	// in which the example's image keeps its scripts.
	SQLScriptDir = "/opt/flink/usrlib/sql-scripts"
	// SQLScriptKey is the script's key in the ConfigMap, and so its file
	// name in SQLScriptDir.
	SQLScriptKey = "statement.sql"
	// SQLScriptVolume is the pod volume of the script's ConfigMap.
	SQLScriptVolume = "flinksync-sql-script"
	// SQLRunnerUpgradeMode is the runner job's upgradeMode. A new script is
	// a new job (replace on change), so the mode only decides what happens
	// to the state on an upgrade in place (a resize, new configuration, a
	// new runner image) and on stopped: true. savepoint stops the job with
	// a savepoint and resumes from it, which is what stopped promises,
	// without needing Kubernetes HA as last-state does.
	SQLRunnerUpgradeMode = "savepoint"
	// KeySQLParallelism is the default parallelism of the operators the
	// SQL planner builds. FKO ignores job.parallelism when
	// taskManager.replicas is set and runs replicas × slots; an explicit
	// spec.parallelism reaches the SQL operators through this key.
	KeySQLParallelism = "table.exec.resource.default-parallelism"
	// maxScriptBytes is Kubernetes' limit on a ConfigMap's data (1 MiB),
	// less room for its metadata.
	maxScriptBytes = 1<<20 - 16<<10
)

// fkoSQL renders, for target fko, each DML statement as a SQL-runner job:
// a ConfigMap with its script and a FlinkDeployment whose jar runs it. DDL
// statements are no job of their own: there is no shared catalog on fko,
// so every script starts with the environment's DDL statements it uses
// (ddlIndex), which define the
// tables in the job's own in-memory catalog.
func (b *builder) fkoSQL(in Input) ([]*Object, []*SourceError) {
	var ddl, dml []*model.EffectiveStatement
	for _, st := range in.Statements {
		if st.Kind == model.SQLDDL {
			ddl = append(ddl, st)
		} else {
			dml = append(dml, st)
		}
	}
	byName := func(s []*model.EffectiveStatement) {
		sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	}
	byName(ddl)
	byName(dml)
	deps := newDDLIndex(ddl)
	var out []*Object
	var errs []*SourceError
	for _, st := range dml {
		objs, err := b.sqlRunnerJob(st, deps, in.Size)
		if errors.Is(err, ErrSkip) {
			continue
		}
		if err != nil {
			line := st.Origin.Line
			var fe *fieldError
			if errors.As(err, &fe) {
				line = st.Origin.LineOf(fe.path)
			}
			errs = append(errs, &SourceError{File: st.Origin.File, Line: line, What: "statement " + st.Name, Err: err})
			continue
		}
		out = append(out, objs...)
	}
	return out, errs
}

// fieldError is a problem with one field of a statement's document.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return e.path + ": " + e.err.Error() }

// sqlRunnerJob renders one DML statement: the ConfigMap holding its script
// (with the DDL statements of deps it uses) and the FlinkDeployment that
// runs it, both named after the script.
func (b *builder) sqlRunnerJob(st *model.EffectiveStatement, deps *ddlIndex, size SizeFunc) ([]*Object, error) {
	runner := b.env.Spec.SQLRunner
	if st.Pool == nil {
		return nil, ErrSkip // the broken reference is a load finding
	}
	if runner == nil {
		return nil, fmt.Errorf("environment %s has no spec.sqlRunner to run it (%s)", b.env.Metadata.Name, b.env.Origin.File)
	}
	if b.env.Spec.Defaults.FlinkVersion == "" {
		return nil, fmt.Errorf("no flinkVersion for its runner job: set spec.defaults.flinkVersion in %s", b.env.Origin.File)
	}
	// The script is written into a buffer the builder keeps from one
	// statement to the next, hashed there and copied out once.
	buf, err := sqlScript(b.scriptBuf[:0], st, deps)
	b.scriptBuf = buf
	if err != nil {
		return nil, err
	}
	res, err := size(b.env.Metadata.Name, st.Name)
	if err != nil {
		return nil, err
	}
	script, name := string(buf), hashedName(st.Name, sha256.Sum256(buf))
	labels := statementLabels(st)

	cm := toUnstructured(b.configMap(name, st.Name, labels, map[string]string{SQLScriptKey: script}))

	fd := b.meta(FlinkDeploymentGVK.Kind, FlinkDeploymentGVK.GroupVersion().String(), name, st.Name, labels)
	fd.Object["spec"] = b.sqlRunnerSpec(st, runner, res, name)

	object := func(u *unstructured.Unstructured) *Object {
		return &Object{Unstructured: u, App: st.Name, File: st.Origin.File, Line: st.Origin.Line, Ignore: st.Spec.Ignore}
	}
	return []*Object{object(cm), object(fd)}, nil
}

// sqlRunnerSpec is the spec of a statement's runner FlinkDeployment; its
// script is in ConfigMap configMap.
func (b *builder) sqlRunnerSpec(st *model.EffectiveStatement, runner *model.SQLRunner, res Resources, configMap string) map[string]any {
	defaults := b.env.Spec.Defaults
	image := st.Image()
	mode := defaults.Mode
	if mode == "" {
		mode = model.ModeNative
	}
	jobManager := map[string]any{"resource": resource(res.JobManagerCPU, res.JobManagerMemory)}
	taskManager := map[string]any{
		"resource": resource(res.TaskManagerCPU, res.TaskManagerMemory),
		"replicas": int64(res.TaskManagers),
	}
	// The JobManager reads the script; with TLS both components get the
	// password wiring, as applications do, and the JobManager's template
	// holds both volumes.
	jmTemplate := &corev1.PodTemplateSpec{}
	if tlsPasswordsDelivered(b.env) {
		jmTemplate = b.tlsPodTemplate(image, defaults.ImagePullPolicy)
		taskManager["podTemplate"] = podTemplateMap(b.tlsPodTemplate(image, defaults.ImagePullPolicy))
	}
	jobManager["podTemplate"] = podTemplateMap(withScriptVolume(jmTemplate, configMap))
	spec := map[string]any{
		"image":              image,
		"flinkVersion":       defaults.FlinkVersion,
		"serviceAccount":     b.env.Spec.ServiceAccount,
		"mode":               string(mode),
		"flinkConfiguration": b.sqlRunnerConfiguration(st, res),
		"jobManager":         jobManager,
		"taskManager":        taskManager,
		"job":                sqlRunnerJobSpec(st, runner, res),
	}
	if defaults.ImagePullPolicy != "" {
		spec["imagePullPolicy"] = defaults.ImagePullPolicy
	}
	return spec
}

// sqlRunnerConfiguration is the runner job's Flink configuration: the
// environment's, the pool's and the statement's keys with sizing's, as an
// application of the pool gets them, and the explicit parallelism.
func (b *builder) sqlRunnerConfiguration(st *model.EffectiveStatement, res Resources) map[string]any {
	conf := b.flinkConfiguration(st.Pool, st.Spec.FlinkConfiguration, res, 1)
	if p := st.Spec.Parallelism; p > 0 {
		if _, set := conf[KeySQLParallelism]; !set {
			conf[KeySQLParallelism] = strconv.Itoa(p)
		}
	}
	return conf
}

// sqlRunnerJobSpec is the runner job: its jar with the script's path as
// the one argument.
func sqlRunnerJobSpec(st *model.EffectiveStatement, runner *model.SQLRunner, res Resources) map[string]any {
	parallelism := res.Parallelism()
	if st.Spec.Parallelism > 0 {
		parallelism = st.Spec.Parallelism
	}
	state := "running"
	if st.Spec.Stopped {
		state = "suspended"
	}
	job := map[string]any{
		"jarURI":      runner.JarURI,
		"args":        strs([]string{SQLScriptDir + "/" + SQLScriptKey}),
		"parallelism": int64(parallelism),
		"upgradeMode": SQLRunnerUpgradeMode,
		"state":       state,
	}
	if runner.EntryClass != "" {
		job["entryClass"] = runner.EntryClass
	}
	return job
}

// withScriptVolume adds the script's ConfigMap, as a volume mounted
// read-only at SQLScriptDir in Flink's main container, to a pod template
// (empty, or the TLS one).
func withScriptVolume(pt *corev1.PodTemplateSpec, configMap string) *corev1.PodTemplateSpec {
	spec := &pt.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{
		Name:         SQLScriptVolume,
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}},
	})
	mount := corev1.VolumeMount{Name: SQLScriptVolume, MountPath: SQLScriptDir, ReadOnly: true}
	for i := range spec.Containers {
		if c := &spec.Containers[i]; c.Name == MainContainer {
			c.VolumeMounts = append(c.VolumeMounts, mount)
			return pt
		}
	}
	spec.Containers = append(spec.Containers, corev1.Container{Name: MainContainer, VolumeMounts: []corev1.VolumeMount{mount}})
	return pt
}

// sqlScript appends to buf the script a DML statement's runner job runs:
// its SQL session properties as SET lines, the DDL statements of deps it
// uses by name, then the statement. Each statement ends with ';', which
// the runner splits the script at.
func sqlScript(buf []byte, st *model.EffectiveStatement, deps *ddlIndex) ([]byte, error) {
	buf = append(buf, "-- flinksync: statement "...)
	buf = append(buf, st.Name...)
	buf = append(buf, " in environment "...)
	buf = append(buf, st.Environment.Metadata.Name...)
	buf = append(buf, ", after the DDL statements it uses.\n"...)
	props := StatementProperties(st)
	for _, k := range sortedKeys(props) {
		line, err := setStatement(k, props[k])
		if err != nil {
			return buf, &fieldError{path: propertyPath(st, k), err: err}
		}
		buf = append(buf, line...)
	}
	for _, i := range deps.need(st.Spec.SQL) {
		buf = append(buf, deps.part[i]...)
	}
	buf = appendScriptPart(buf, st)
	if len(buf) > maxScriptBytes {
		return buf, fmt.Errorf("its script (the DDL statements it uses and its own SQL) is %d bytes; a ConfigMap holds at most %d",
			len(buf), maxScriptBytes)
	}
	return buf, nil
}

// appendScriptPart appends a statement's part of a script to buf: a
// comment line with its name, then its SQL, terminated.
func appendScriptPart(buf []byte, st *model.EffectiveStatement) []byte {
	buf = append(buf, "\n-- "...)
	buf = append(buf, st.Name...)
	buf = append(buf, '\n')
	return append(buf, terminated(st.Spec.SQL)...)
}

// setStatement is the SQL line that sets a session property, key and
// value quoted as SQL string literals (a ' doubled). A line break cannot
// be written: the runner reads a SET statement from one line.
func setStatement(key, value string) (string, error) {
	if strings.ContainsAny(key+value, "\r\n") {
		return "", fmt.Errorf("property %q: a line break in a key or value cannot be written into the script's SET line", key)
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return "SET " + quote(key) + " = " + quote(value) + ";\n", nil
}

// propertyPath is the field of st's document that SQL session property key
// comes from: spec.catalog and spec.database for the two StatementProperties
// adds, else the key under spec.properties.
func propertyPath(st *model.EffectiveStatement, key string) string {
	switch {
	case key == "sql.current-catalog" && st.Spec.Catalog != "":
		return "spec.catalog"
	case key == "sql.current-database" && st.Spec.Database != "":
		return "spec.database"
	}
	return model.KeyPath("spec.properties", key)
}

// terminated is sql without surrounding blank space, ending with ';' so
// that the runner ends the statement there: a ';' on a line of its own is
// added when the last line that is not a "--" comment does not end with one.
func terminated(sql string) string {
	sql = strings.TrimSpace(sql)
	// The lines from the last one up, without splitting sql.
	for rest := sql; rest != ""; {
		i := strings.LastIndexByte(rest, '\n')
		l := strings.TrimSpace(rest[i+1:])
		rest = rest[:max(i, 0)]
		if l == "" || strings.HasPrefix(l, "--") {
			continue
		}
		if strings.HasSuffix(l, ";") {
			return sql + "\n"
		}
		break
	}
	return sql + "\n;\n"
}

// ScriptName is the name of a DML statement's runner job and ConfigMap on
// target fko: its name and a short hash of its whole script, so that a
// change of its SQL, its properties or any DDL statement the script holds
// is a new job (replace on change) and the old one is pruned.
func ScriptName(st *model.EffectiveStatement, script string) string {
	return hashedName(st.Name, sha256.Sum256([]byte(script)))
}
