package model

// APIVersion is the only apiVersion of the repository format.
const APIVersion = "flinksync.dev/v1alpha1"

// The kinds of the repository format.
const (
	KindEnvironment      = "Environment"
	KindComputePool      = "ComputePool"
	KindFlinkApplication = "FlinkApplication"
	KindPolicy           = "Policy"
	KindFlinkStatement   = "FlinkStatement"
	KindKafkaCatalog     = "KafkaCatalog"
)

// ObjectMeta is the metadata every document carries.
type ObjectMeta struct {
	Name        string            `yaml:"name" model:"required"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Origin says where a document was read from, and where each of its fields
// sits, so later stages can point users at the exact line.
type Origin struct {
	// File is the path relative to the repository root, with forward slashes.
	File string
	// Line is the line of the document's first key.
	Line  int
	lines map[string]int
	// under holds the lines of the document an override was merged over:
	// a field the override does not set is at its line there.
	under map[string]int
	// failed holds the paths whose values could not be decoded, so later
	// checks do not report them twice.
	failed map[string]bool
}

// has reports whether the field at path was written and decoded.
func (o Origin) has(path string) bool {
	_, ok := o.line(path)
	return ok && !o.failed[path]
}

// line is the line of the field at path, if it was written.
func (o Origin) line(path string) (int, bool) {
	if l, ok := o.lines[path]; ok {
		return l, true
	}
	l, ok := o.under[path]
	return l, ok
}

// LineOf returns the line of the field at path ("spec.pool",
// "spec.workload.latency", "spec.waivers[0].rule"), or of its nearest
// enclosing field that is present, or of the document.
func (o Origin) LineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := o.line(p); ok {
			return l
		}
	}
	return o.Line
}

// Environment is where applications run: a namespace of a cluster, served
// by one Flink operator (target).
type Environment struct {
	Metadata ObjectMeta      `yaml:"metadata" model:"required"`
	Spec     EnvironmentSpec `yaml:"spec" model:"required"`
	Origin   Origin          `yaml:"-"`
}

// Target is the Flink operator an environment is rendered for.
type Target string

const (
	// TargetFKO renders FlinkDeployment objects for the Apache Flink Kubernetes Operator.
	TargetFKO Target = "fko"
	// TargetCFK renders FlinkEnvironment/FlinkApplication objects for Confluent for Kubernetes.
	TargetCFK Target = "cfk"
	// TargetCMF syncs environments, applications, compute pools,
	// statements and catalogs straight through CMF's REST API (docs/cmf.md).
	TargetCMF Target = "cmf"
)

// ViaCMF reports whether the target's Flink resources live in CMF (cfk
// through CFK's objects, cmf directly): CMF compute pools, statements,
// catalogs and CMF's naming rules apply.
func (t Target) ViaCMF() bool { return t == TargetCFK || t == TargetCMF }

// EnvironmentSpec is the body of an Environment.
type EnvironmentSpec struct {
	Target    Target `yaml:"target" model:"required" enum:"fko,cfk,cmf"`
	Namespace string `yaml:"namespace" model:"required"`
	// Cluster names the Kubernetes cluster the environment lives in, one
	// flinksync is given credentials for outside the repository
	// (--cluster NAME=KUBECONFIG, the daemon's clusters directory); ""
	// is the default cluster.
	Cluster        string      `yaml:"cluster"`
	Nodes          Nodes       `yaml:"nodes" model:"required"`
	ServiceAccount string      `yaml:"serviceAccount"`
	Defaults       AppDefaults `yaml:"defaults"`
	TLS            *TLS        `yaml:"tls"`
	CFK            *CFK        `yaml:"cfk"`
	// CMF is how a target: cmf environment reaches CMF.
	CMF *CMF `yaml:"cmf"`
	// SQLRunner runs FlinkStatements in a target: fko environment.
	SQLRunner *SQLRunner `yaml:"sqlRunner"`
	Sync      Sync       `yaml:"sync"`
	// StateGuard decides whether a change that loses a stateful job's
	// state blocks the environment (policy STATE-001).
	StateGuard StateGuard `yaml:"stateGuard"`
}

// StateGuardMode is what a state-losing change is: an error that keeps
// the environment untouched, a warning, or nothing.
type StateGuardMode string

// The state guard's modes.
const (
	StateGuardEnforce StateGuardMode = "enforce"
	StateGuardWarn    StateGuardMode = "warn"
	StateGuardOff     StateGuardMode = "off"
)

// StateGuard is an environment's guard against changes that throw a
// stateful job's state away (see docs/state.md).
type StateGuard struct {
	// Mode is enforce, warn or off. Absent, it is enforce where the
	// environment requires TLS (tls.required, or a Policy's requireTLS)
	// and warn elsewhere.
	Mode StateGuardMode `yaml:"mode" enum:"enforce,warn,off"`
	// Acknowledge lists the jobs whose state may be lost until a date.
	Acknowledge []StateAcknowledgement `yaml:"acknowledge"`
}

// StateAcknowledgement lets one job (an app or a statement) lose its
// state until Expires, at most MaxAcknowledgement ahead.
type StateAcknowledgement struct {
	App       string `yaml:"app"`
	Statement string `yaml:"statement"`
	Reason    string `yaml:"reason" model:"required"`
	Expires   Date   `yaml:"expires" model:"required"`
}

// Job is the acknowledged app's or statement's name.
func (a StateAcknowledgement) Job() string { return a.App + a.Statement }

// SQLRunner is the job that runs a FlinkStatement's script on FKO, the
// pattern of FKO's flink-sql-runner example: a jar that reads a SQL file
// and submits it.
type SQLRunner struct {
	// Image holds the runner jar (and any connector jars the SQL needs).
	Image string `yaml:"image" model:"required"`
	// JarURI is the runner jar (default DefaultSQLRunnerJarURI).
	JarURI string `yaml:"jarURI"`
	// EntryClass is the runner's main class, when the jar's manifest names none.
	EntryClass string `yaml:"entryClass"`
}

// Nodes is the shape and number of the worker nodes Flink pods land on.
type Nodes struct {
	CPU    Quantity `yaml:"cpu" model:"required"`
	Memory Quantity `yaml:"memory" model:"required"`
	Count  int      `yaml:"count" model:"required"`
}

// AppDefaults are shared by every application of an environment.
type AppDefaults struct {
	Image           string `yaml:"image"`
	ImagePullPolicy string `yaml:"imagePullPolicy" enum:"Always,IfNotPresent,Never"`
	FlinkVersion    string `yaml:"flinkVersion"`
	// Mode is the deployment mode of apps that set none (default native).
	Mode               Mode               `yaml:"mode" enum:"native,standalone"`
	FlinkConfiguration FlinkConfiguration `yaml:"flinkConfiguration"`
}

// TLS describes the certificates of an environment.
type TLS struct {
	// Required makes Flink internal and REST TLS mandatory (policy TLS-001).
	Required bool `yaml:"required"`
	// SecretName is a kubernetes.io/tls secret mounted into the Flink pods.
	SecretName string `yaml:"secretName"`
	// MountPath is where the secret is mounted (default /opt/flink/tls).
	MountPath string `yaml:"mountPath"`
}

// CFK holds the settings of a target: cfk environment.
type CFK struct {
	CMFRestClassRef ObjectRef `yaml:"cmfRestClassRef" model:"required"`
	// CMFRest, when set, makes flinksync render the CMFRestClass named by
	// CMFRestClassRef (in the environment's namespace) instead of only
	// referring to one the platform installed.
	CMFRest *CMFRest `yaml:"cmfRest"`
}

// CMFRest is how CFK reaches Confluent Manager for Apache Flink.
type CMFRest struct {
	Endpoint       string `yaml:"endpoint" model:"required"`
	Authentication string `yaml:"authentication" model:"required" enum:"mtls,oauth,basic"`
	// TLSSecretRef names a secret with fullchain.pem, privkey.pem and cacerts.pem.
	TLSSecretRef string `yaml:"tlsSecretRef"`
}

// CMF holds the settings of a target: cmf environment: where CMF is and
// how flinksync authenticates to it. The repository holds no credential,
// only the names of Kubernetes Secrets (read from the default cluster, in
// the environment's namespace) or of files the daemon is given.
type CMF struct {
	// Endpoint is CMF's base URL (https://cmf.example:8080); the API is
	// under /cmf/api/v1. Policy CMF-001 refuses http://.
	Endpoint string `yaml:"endpoint" model:"required"`
	// CAFile and CASecretRef give the CA that signed CMF's (and the token
	// endpoint's) certificate; absent, the system roots and the mTLS
	// secret's ca.crt.
	CAFile      string        `yaml:"caFile"`
	CASecretRef *SecretKeyRef `yaml:"caSecretRef"`
	Auth        CMFAuth       `yaml:"auth" model:"required"`
}

// CMFAuth is how flinksync authenticates to CMF: exactly one of mTLS or
// OAuth client credentials.
type CMFAuth struct {
	MTLS  *CMFMTLS  `yaml:"mtls"`
	OAuth *CMFOAuth `yaml:"oauth"`
}

// CMFMTLS is a client certificate: a Secret with tls.crt, tls.key and
// (optionally) ca.crt, the keys of a kubernetes.io/tls Secret cert-manager
// writes, or three files.
type CMFMTLS struct {
	SecretRef string `yaml:"secretRef"`
	CertFile  string `yaml:"certFile"`
	KeyFile   string `yaml:"keyFile"`
	CAFile    string `yaml:"caFile"`
}

// CMFOAuth is the OAuth 2.0 client-credentials grant (RFC 6749 4.4).
type CMFOAuth struct {
	TokenURL string `yaml:"tokenURL" model:"required"`
	ClientID string `yaml:"clientID" model:"required"`
	// ClientSecretRef (default key client-secret) or ClientSecretFile
	// holds the client secret.
	ClientSecretRef  *SecretKeyRef `yaml:"clientSecretRef"`
	ClientSecretFile string        `yaml:"clientSecretFile"`
	// Scopes are sent as the scope parameter; Audience, when set, as the
	// audience parameter some identity providers want.
	Scopes   []string `yaml:"scopes"`
	Audience string   `yaml:"audience"`
}

// SecretKeyRef is one key of a Kubernetes Secret.
type SecretKeyRef struct {
	Name string `yaml:"name" model:"required"`
	Key  string `yaml:"key"`
}

// ObjectRef names a namespaced object.
type ObjectRef struct {
	Name      string `yaml:"name" model:"required"`
	Namespace string `yaml:"namespace"`
}

// DriftMode says what happens when the live cluster differs from Git.
type DriftMode string

const (
	// DriftCorrect re-applies the desired state over drift.
	DriftCorrect DriftMode = "correct"
	// DriftWarn only detects and reports drift.
	DriftWarn DriftMode = "warn"
)

// Sync holds how an environment is synced.
type Sync struct {
	// Prune deletes objects removed from Git (default true).
	Prune *bool `yaml:"prune"`
	// Drift is correct (default) or warn.
	Drift DriftMode `yaml:"drift" enum:"correct,warn"`
	// Force takes over fields another field manager owns (default false).
	Force bool `yaml:"force"`
	// Ignore lists differences that are not drift in this environment.
	Ignore []IgnoreRule `yaml:"ignore"`
	// Presets names built-in ignore rules for the Flink operators' own
	// fields; absent means all of them (see docs/drift.md), [] means none.
	Presets []string `yaml:"presets"`
}

// IgnoreRule says which differences between Git and the cluster are not
// drift: fields at Paths, or fields that one of Managers set, of the
// objects the rule selects (by Kind and Name; empty selects all). drift,
// diff, plan --live and drift: correct all honour it.
type IgnoreRule struct {
	// Kind and Name select the objects; empty means any. In an app's or a
	// statement's spec.ignore, only that app's or statement's objects.
	Kind string `yaml:"kind"`
	Name string `yaml:"name"`
	// Paths are JSON pointers (RFC 6901) into the object, e.g.
	// /spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides;
	// everything under a path is ignored.
	Paths []string `yaml:"paths"`
	// Managers are field managers (metadata.managedFields[].manager) whose
	// fields are not drift.
	Managers []string `yaml:"managers"`
}

// PruneEnabled reports whether pruning is on (the default).
func (s Sync) PruneEnabled() bool { return s.Prune == nil || *s.Prune }

// ComputePool is the shape of the TaskManagers and JobManager that the
// applications of the pool run with.
type ComputePool struct {
	Metadata ObjectMeta      `yaml:"metadata" model:"required"`
	Spec     ComputePoolSpec `yaml:"spec" model:"required"`
	Origin   Origin          `yaml:"-"`
}

// ComputePoolSpec is the body of a ComputePool.
type ComputePoolSpec struct {
	TaskManager     TaskManagerShape `yaml:"taskManager" model:"required"`
	JobManager      JobManagerShape  `yaml:"jobManager"`
	MaxTaskManagers int              `yaml:"maxTaskManagers"`
	// FlinkConfiguration is merged over the environment defaults and under the app's keys.
	FlinkConfiguration FlinkConfiguration `yaml:"flinkConfiguration"`
	// Environments allowed to use the pool; empty means all.
	Environments []string `yaml:"environments"`
	// Type is the kind of CMF compute pool rendered for FlinkStatements in
	// cfk environments (default dedicated).
	Type PoolType `yaml:"type" enum:"dedicated,shared"`
	// Image is the image SQL statements on this pool run with (default: the
	// environment's defaults.image).
	Image string `yaml:"image"`
}

// PoolType is the type of a CMF compute pool.
type PoolType string

// The pool types.
const (
	PoolDedicated PoolType = "dedicated"
	PoolShared    PoolType = "shared"
)

// AllowedIn reports whether the pool may be used in environment env.
func (p *ComputePool) AllowedIn(env string) bool {
	if len(p.Spec.Environments) == 0 {
		return true
	}
	for _, e := range p.Spec.Environments {
		if e == env {
			return true
		}
	}
	return false
}

// TaskManagerShape is the resources of one TaskManager.
type TaskManagerShape struct {
	CPU    Quantity `yaml:"cpu" model:"required"`
	Memory Quantity `yaml:"memory" model:"required"`
	Slots  int      `yaml:"slots"`
	// LocalDisk is the local disk for RocksDB state per TaskManager.
	LocalDisk Quantity `yaml:"localDisk"`
}

// JobManagerShape is the resources of the JobManager.
type JobManagerShape struct {
	CPU    Quantity `yaml:"cpu"`
	Memory Quantity `yaml:"memory"`
}

// FlinkApplication is one Flink job and the environments it runs in.
type FlinkApplication struct {
	Metadata ObjectMeta `yaml:"metadata" model:"required"`
	Spec     AppSpec    `yaml:"spec" model:"required"`
	Origin   Origin     `yaml:"-"`
}

// AppSpec is the body of a FlinkApplication. Overrides hold, per
// environment, a partial AppSpec merged over this one.
type AppSpec struct {
	Environments       []string           `yaml:"environments"`
	Pool               string             `yaml:"pool"`
	Image              string             `yaml:"image"`
	ImagePullPolicy    string             `yaml:"imagePullPolicy" enum:"Always,IfNotPresent,Never"`
	FlinkVersion       string             `yaml:"flinkVersion"`
	Mode               Mode               `yaml:"mode" enum:"native,standalone"`
	Job                Job                `yaml:"job" model:"required"`
	Workload           Workload           `yaml:"workload"`
	TaskManagers       int                `yaml:"taskManagers"`
	FlinkConfiguration FlinkConfiguration `yaml:"flinkConfiguration"`
	// Ignore lists differences of the app's own objects that are not drift.
	Ignore    []IgnoreRule        `yaml:"ignore"`
	Overrides map[string]Override `yaml:"overrides"`
}

// Override is the per-environment part of an application: any AppSpec field
// but environments and overrides. It is kept as YAML and merged field by
// field over the spec (maps merge key by key, lists and values replace); the
// result is the application's EffectiveApp in that environment.
type Override struct{ node *yamlNode }

func (o *Override) decodeNode(n *yamlNode) *fieldError {
	if n.Kind != yamlMapping {
		return &fieldError{RuleWrongType, "expected a map of spec fields to override, got " + describe(n)}
	}
	o.node = n
	return nil
}

// Mode is the FKO deployment mode.
type Mode string

const (
	// ModeNative lets the JobManager create TaskManager pods (FKO default).
	ModeNative Mode = "native"
	// ModeStandalone runs TaskManagers as a Deployment; the JobManager needs no API access.
	ModeStandalone Mode = "standalone"
)

// Job is the Flink job an application runs.
type Job struct {
	JarURI                string      `yaml:"jarURI" model:"required"`
	EntryClass            string      `yaml:"entryClass"`
	Args                  []string    `yaml:"args"`
	UpgradeMode           UpgradeMode `yaml:"upgradeMode" enum:"stateless,savepoint,last-state"`
	State                 JobState    `yaml:"state" enum:"running,suspended"`
	InitialSavepointPath  string      `yaml:"initialSavepointPath"`
	AllowNonRestoredState *bool       `yaml:"allowNonRestoredState"`
}

// UpgradeMode is how FKO upgrades a running job.
type UpgradeMode string

// JobState is the desired state of a job.
type JobState string

// Complexity is how much work a record costs.
type Complexity string

// The complexity classes.
const (
	ComplexitySimple  Complexity = "simple"
	ComplexityMedium  Complexity = "medium"
	ComplexityComplex Complexity = "complex"
)

// Skew is how unevenly keys spread over subtasks.
type Skew string

// The skew classes.
const (
	SkewLow    Skew = "low"
	SkewMedium Skew = "medium"
	SkewHigh   Skew = "high"
)

// Workload is what sizing turns into resources.
type Workload struct {
	RecordsPerSecond int64      `yaml:"recordsPerSecond"`
	AvgRecordBytes   int64      `yaml:"avgRecordBytes"`
	DistinctKeys     int64      `yaml:"distinctKeys"`
	StateSize        Quantity   `yaml:"stateSize"`
	Complexity       Complexity `yaml:"complexity" enum:"simple,medium,complex"`
	Latency          Duration   `yaml:"latency"`
	Skew             Skew       `yaml:"skew" enum:"low,medium,high"`
	// RecoveryTarget is how long a restore after failure may take.
	RecoveryTarget Duration `yaml:"recoveryTarget"`
}

// Policy is the repository's own policy: it can only tighten the daemon's.
type Policy struct {
	Metadata ObjectMeta `yaml:"metadata" model:"required"`
	Spec     PolicySpec `yaml:"spec" model:"required"`
	Origin   Origin     `yaml:"-"`
}

// PolicySpec is the body of a Policy.
type PolicySpec struct {
	MaxTaskManagerCPU Quantity `yaml:"maxTaskManagerCPU"`
	RequireTLS        []string `yaml:"requireTLS"`
	// Unwaivable lists rule IDs no waiver may suppress (meaningful in the daemon's policy).
	Unwaivable []string `yaml:"unwaivable"`
	Waivers    []Waiver `yaml:"waivers"`
}

// Waiver suppresses one rule for an environment (and application) until it expires.
type Waiver struct {
	Rule        string `yaml:"rule" model:"required"`
	Environment string `yaml:"environment"`
	App         string `yaml:"app"`
	Reason      string `yaml:"reason" model:"required"`
	Expires     Date   `yaml:"expires" model:"required"`
}
