// Package render turns the effective applications of an environment and
// their sizing into the Kubernetes objects the Flink operators consume:
// FKO FlinkDeployments (with the JobManager's ServiceAccount and namespaced
// RBAC) or CFK FlinkEnvironment/FlinkApplication objects. It then applies the
// environment's optional kustomize overlay in memory.
//
// Output is deterministic: the same inputs give the same bytes. Render reads
// the model and sizing results; it knows nothing of policy, the cluster or Git.
package render

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/flinkconf"
	"github.com/flinksync/flinksync/internal/model"
)

// RENDER001 is the rule of an environment that cannot be rendered: an app
// or statement that cannot be built (at its document's line) or a
// kustomize overlay that fails (at the overlay's line that causes it).
var RENDER001 = diag.NewRule("RENDER-001", diag.Error, "an environment cannot be rendered (kustomize overlay)")

// Labels and annotations flinksync puts on every object it renders.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "flinksync"
	LabelName        = "app.kubernetes.io/name"
	LabelEnvironment = "flinksync.dev/environment"
	AnnRevision      = "flinksync.dev/revision"
	// AnnStateSize is the workload's declared stateSize, on the objects
	// that run an app's or a statement's job, so that sync knows what a
	// change or a prune of the live object throws away (internal/state).
	AnnStateSize = "flinksync.dev/state-size"
)

// Flink configuration keys that sizing owns.
const (
	KeySlots              = flinkconf.Slots
	KeyCheckpointInterval = flinkconf.CheckpointInterval
)

// Group versions of the rendered kinds.
var (
	FlinkDeploymentGVK  = schema.GroupVersionKind{Group: "flink.apache.org", Version: "v1beta1", Kind: "FlinkDeployment"}
	FlinkSessionJobGVK  = schema.GroupVersionKind{Group: "flink.apache.org", Version: "v1beta1", Kind: "FlinkSessionJob"}
	FlinkEnvironmentGVK = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkEnvironment"}
	FlinkApplicationGVK = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkApplication"}
	CMFRestClassGVK     = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "CMFRestClass"}
	// The CFK kinds of Flink SQL.
	FlinkComputePoolGVK              = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkComputePool"}
	FlinkStatementGVK                = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkStatement"}
	FlinkKafkaCatalogGVK             = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkKafkaCatalog"}
	FlinkKafkaDatabaseGVK            = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkKafkaDatabase"}
	FlinkSecretGVK                   = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkSecret"}
	FlinkEnvironmentSecretMappingGVK = schema.GroupVersionKind{Group: "platform.confluent.io", Version: "v1beta1", Kind: "FlinkEnvironmentSecretMapping"}
)

// Resources is what sizing decided for one application in one environment.
type Resources struct {
	TaskManagers      int
	Slots             int
	TaskManagerCPU    float64 // cores
	TaskManagerMemory int64   // bytes
	JobManagerCPU     float64 // cores
	JobManagerMemory  int64   // bytes
	// CheckpointInterval goes into execution.checkpointing.interval unless
	// the environment, pool or app configuration sets that key.
	CheckpointInterval time.Duration
}

// Parallelism is TaskManagers × slots, which FKO uses when replicas are set.
func (r Resources) Parallelism() int { return r.TaskManagers * r.Slots }

// SizeFunc returns the resources of app in environment env. It returns
// ErrSkip to leave an app out (one whose problems are reported elsewhere).
type SizeFunc func(env, app string) (Resources, error)

// ErrSkip makes Render leave an application out.
var ErrSkip = errors.New("skip this application")

// Options control rendering.
type Options struct {
	// Revision, when set, is written to the flinksync.dev/revision annotation.
	Revision string
	// Source is the repository, from which overlays/<env>/ is read; nil
	// means no overlays.
	Source fs.FS
}

// Object is one rendered object and where it comes from.
type Object struct {
	*unstructured.Unstructured
	// App is the application the object belongs to, when there is one.
	App string
	// File and Line locate the source: the app's or the environment's file,
	// or the overlay's kustomization for objects an overlay added.
	File string
	Line int
	// FromOverlay is true for objects the overlay added.
	FromOverlay bool
	// Ignore are the app's or statement's own ignore rules (spec.ignore),
	// for the object's drift; the environment's apply to every object.
	Ignore []model.IgnoreRule
}

// ID is "Kind/namespace/name", how findings and diffs name an object.
func (o *Object) ID() string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// Environment is the rendered output of one environment.
type Environment struct {
	Name      string
	Namespace string
	Objects   []*Object
	// Overlay is the overlay's kustomization file, when there is one.
	Overlay string
}

// Input is what one environment renders from.
type Input struct {
	Env        *model.Environment
	Apps       []*model.EffectiveApp
	Statements []*model.EffectiveStatement
	Catalogs   []*model.EffectiveCatalog
	// Size gives the resources of an app or a DML statement by name.
	Size SizeFunc
}

// InputOf is the input of environment env of repo.
func InputOf(repo *model.Repository, env *model.Environment, size SizeFunc) Input {
	name := env.Metadata.Name
	return Input{Env: env, Apps: repo.EffectiveApps(name), Statements: repo.EffectiveStatements(name),
		Catalogs: repo.EffectiveCatalogs(name), Size: size}
}

// SourceError is a problem rendering one app or statement, placed at the
// line of its document that caused it.
type SourceError struct {
	File string
	Line int
	// What names the app or statement: "app orders", "statement views".
	What string
	Err  error
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.What, e.Err)
}

// Unwrap returns the underlying error.
func (e *SourceError) Unwrap() error { return e.Err }

// renderError is why an environment could not be rendered: one
// SourceError per app or statement.
type renderError struct {
	errors []*SourceError
}

func (e *renderError) Error() string {
	msgs := make([]string, len(e.errors))
	for i, se := range e.errors {
		msgs[i] = se.Error()
	}
	return "cannot render:\n  " + strings.Join(msgs, "\n  ")
}

// Render renders one environment: its apps, its SQL statements and
// catalogs, then its overlay.
//
// Whatever keeps the environment from rendering is a RENDER-001 finding,
// placed: an app's or statement's at the line of its document that causes
// it, an overlay's at the kustomization entry or file at fault, anything
// else at the environment's file. With findings there is no Environment:
// nothing of it may be applied. The error means Render could not run (an
// input without an environment or a size function).
func Render(in Input, opts Options) (*Environment, []*diag.Finding, error) {
	if in.Env == nil || in.Size == nil {
		return nil, nil, errors.New("render: the input has no environment or no size function")
	}
	out, err := render(in, opts)
	if err != nil {
		return nil, findings(in.Env, err), nil
	}
	return out, nil, nil
}

// findings places a render error of env as RENDER-001 findings.
func findings(env *model.Environment, err error) []*diag.Finding {
	name := env.Metadata.Name
	if oe, ok := errors.AsType[*OverlayError](err); ok {
		return []*diag.Finding{RENDER001.At(oe.File, max(oe.Line, 1), oe.Err.Error()).For(name, "")}
	}
	if re, ok := errors.AsType[*renderError](err); ok {
		out := make([]*diag.Finding, 0, len(re.errors))
		for _, se := range re.errors {
			_, app, _ := strings.Cut(se.What, " ")
			out = append(out, RENDER001.Atf(se.File, max(se.Line, 1), "cannot render %s: %v", se.What, se.Err).For(name, app))
		}
		return out
	}
	return []*diag.Finding{RENDER001.At(env.Origin.File, 1, err.Error()).For(name, "")}
}

// render is Render with its problems as one error, which findings places.
func render(in Input, opts Options) (*Environment, error) {
	env, apps, size := in.Env, in.Apps, in.Size
	out := &Environment{Name: env.Metadata.Name, Namespace: env.Spec.Namespace}
	b := &builder{env: env, opts: opts}
	var errs []*SourceError
	if targetCMF(env) {
		// CMF creates the Flink clusters; the namespace's service account
		// and RBAC are the platform's (docs/cmf.md).
		out.Objects = append(out.Objects, b.cmfEnvironment())
	} else {
		out.Objects = append(out.Objects, b.rbac()...)
	}
	if env.Spec.Target == model.TargetCFK {
		if env.Spec.CFK.CMFRest != nil {
			out.Objects = append(out.Objects, b.cmfRestClass())
		}
		out.Objects = append(out.Objects, b.flinkEnvironment())
	}
	for _, app := range apps {
		res, err := size(env.Metadata.Name, app.Name)
		if errors.Is(err, ErrSkip) {
			continue
		}
		if err != nil {
			errs = append(errs, &SourceError{File: app.Origin.File, Line: app.Origin.Line, What: "app " + app.Name, Err: err})
			continue
		}
		o := b.app(app, res)
		if targetCMF(env) {
			o = b.cmfApplication(o)
		}
		out.Objects = append(out.Objects, o)
	}
	sql, sqlErrs := b.sql(in)
	out.Objects = append(out.Objects, sql...)
	errs = append(errs, sqlErrs...)
	if len(errs) > 0 {
		return nil, &renderError{errors: errs}
	}
	annotateStateSize(in, out.Objects)
	if opts.Source != nil {
		ov, err := applyOverlay(opts, env.Metadata.Name, out.Objects)
		if err != nil {
			return nil, err
		}
		if ov != nil {
			out.Objects, out.Overlay = ov.objects, ov.file
		}
	}
	Sort(out.Objects)
	return out, nil
}

// stateKinds are the kinds that run a job whose state a change can lose.
var stateKinds = map[string]bool{"FlinkDeployment": true, "FlinkApplication": true, "FlinkStatement": true, CMFStatementKind: true}

// annotateStateSize stamps AnnStateSize on the job objects of apps and
// statements that declare a stateSize.
func annotateStateSize(in Input, objs []*Object) {
	sizes := map[string]string{}
	for _, a := range in.Apps {
		if q := a.Spec.Workload.StateSize; q.Set && q.Sign() > 0 {
			sizes[a.Name] = q.String()
		}
	}
	for _, s := range in.Statements {
		if q := s.Spec.Workload.StateSize; q.Set && q.Sign() > 0 {
			sizes[s.Name] = q.String()
		}
	}
	for _, o := range objs {
		size := sizes[o.GetLabels()[LabelName]]
		if size == "" || !stateKinds[o.GetKind()] {
			continue
		}
		meta := o.Object["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
			meta["annotations"] = ann
		}
		ann[AnnStateSize] = size
	}
}

// applyRank orders kinds for apply: what others depend on first.
var applyRank = map[string]int{
	"Namespace": 0, "CustomResourceDefinition": 1, "ClusterRole": 2, "ClusterRoleBinding": 3,
	"ServiceAccount": 10, "Role": 11, "RoleBinding": 12, "Secret": 13, "ConfigMap": 14,
	"Service": 15, "CMFRestClass": 20, "FlinkEnvironment": 21,
	// CMF needs a secret mapped before a catalog uses it, a catalog before
	// its databases, a pool before its statements.
	"FlinkSecret": 22, "FlinkEnvironmentSecretMapping": 23, "FlinkKafkaCatalog": 24, "FlinkKafkaDatabase": 25,
	"FlinkComputePool": 26, "FlinkStatement": 27,
	// The CMF resources of target cmf, in the same order.
	CMFEnvironmentKind: 21, CMFSecretMappingKind: 23, CMFKafkaCatalogKind: 24, CMFKafkaDatabaseKind: 25,
	CMFComputePoolKind: 26, CMFStatementKind: 27,
	"FlinkDeployment": 30, "FlinkApplication": 31, "FlinkSessionJob": 40,
}

// LabelSQLKind marks a rendered statement (a CFK FlinkStatement, or the
// FlinkDeployment and ConfigMap of an FKO SQL runner) ddl or dml.
const LabelSQLKind = "flinksync.dev/sql-kind"

// ObjectRank is an object's place in apply order: its kind's Rank, and
// DML statements one after DDL ones, so tables exist before the queries
// that use them are submitted.
func ObjectRank(u *unstructured.Unstructured) int {
	r := Rank(u.GetKind())
	// The label is read in place: GetLabels copies the whole map, and Sort
	// ranks every object once per sort.
	meta, _ := u.Object["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if kind, _ := labels[LabelSQLKind].(string); kind == string(model.SQLDML) {
		r++
	}
	return r
}

// Rank is a kind's place in apply order; unknown kinds come after the known ones.
func Rank(kind string) int {
	if r, ok := applyRank[kind]; ok {
		return r
	}
	return 50
}

// Sort orders objects for apply: by kind rank, then kind, namespace and name.
// Objects equal in all four keep their order.
func Sort(objs []*Object) {
	// Each object's keys are read once, not on every comparison.
	type sortKey struct {
		rank           int
		kind, ns, name string
		obj            *Object
	}
	keys := make([]sortKey, len(objs))
	for i, o := range objs {
		keys[i] = sortKey{ObjectRank(o.Unstructured), o.GetKind(), o.GetNamespace(), o.GetName(), o}
	}
	slices.SortStableFunc(keys, func(a, b sortKey) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for i, k := range keys {
		objs[i] = k.obj
	}
}
