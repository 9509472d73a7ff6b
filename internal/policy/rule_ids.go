package policy

import "github.com/flinksync/flinksync/internal/diag"

// The policy rules, each with its fixed ID, the severity of its findings
// and a summary; docs/policy.md explains each. Findings are made from them
// (Rule.At), never from an ID string, so a rule cannot be used that has no
// severity and summary.
var (
	RBAC001   = diag.NewRule("RBAC-001", diag.Error, "rendered output holds cluster-scoped objects (ClusterRole, ClusterRoleBinding, CRD, Namespace, webhook configurations)")
	RBAC002   = diag.NewRule("RBAC-002", diag.Error, "a Role grants wildcards, access to secrets, or more than the FKO flink role needs")
	RBAC003   = diag.NewRule("RBAC-003", diag.Error, "Flink pods would run as the default service account or with none")
	RBAC004   = diag.NewRule("RBAC-004", diag.Error, "an object lands outside its environment's namespace, or two environments share a namespace")
	RBAC005   = diag.NewRule("RBAC-005", diag.Error, "a RoleBinding refers to a ClusterRole or binds subjects from another namespace")
	RBAC006   = diag.NewRule("RBAC-006", diag.Warning, "native mode in an environment that requires TLS: the JobManager can create pods")
	TLS001    = diag.NewRule("TLS-001", diag.Error, "TLS is required but Flink internal or REST TLS is off")
	TLS002    = diag.NewRule("TLS-002", diag.Error, "TLS is on but the keystore, truststore or certificate secret is not configured")
	TLS003    = diag.NewRule("TLS-003", diag.Error, "a secret is written inline in Flink configuration or job arguments")
	TLS004    = diag.NewRule("TLS-004", diag.Error, "a weak TLS protocol (SSLv3, TLSv1, TLSv1.1) is configured")
	TLS005    = diag.NewRule("TLS-005", diag.Error, "a Kafka client uses PLAINTEXT or SASL_PLAINTEXT where TLS is required")
	TLS006    = diag.NewRule("TLS-006", diag.Error, "CMF over http:// (CFK's CMF REST class, or a cmf environment's endpoint or token URL), or a CMF REST class with neither mtls nor oauth")
	TLS007    = diag.NewRule("TLS-007", diag.Warning, "the certificate secret is expired or expires within 30 days")
	TLS008    = diag.NewRule("TLS-008", diag.Error, "a Schema Registry (a KafkaCatalog's, or a SQL format's) is reached over http:// where TLS is required")
	CPU001    = diag.NewRule("CPU-001", diag.Error, "TaskManager CPU above the node's CPU or above maxTaskManagerCPU")
	CPU002    = diag.NewRule("CPU-002", diag.Error, "JobManager CPU above the node's CPU")
	CPU003    = diag.NewRule("CPU-003", diag.Error, "an application or SQL statement needs more TaskManagers than its pool's maxTaskManagers")
	CPU004    = diag.NewRule("CPU-004", diag.Error, "the environment's total requested CPU exceeds its nodes (warning above 80%)")
	CPU005    = diag.NewRule("CPU-005", diag.Warning, "fewer than 3 nodes")
	CPU006    = diag.NewRule("CPU-006", diag.Error, "a pod's memory is above the node's memory")
	WAIVER001 = diag.NewRule("WAIVER-001", diag.Warning, "a waiver has expired; the finding it covered counts again")
	WAIVER002 = diag.NewRule("WAIVER-002", diag.Warning, "a waiver names a rule the daemon's policy marks unwaivable; it does not apply")
	// The state guard's (internal/state): checked on a change, by plan
	// between two revisions and by sync between the cluster and Git.
	STATE001 = diag.NewRule("STATE-001", diag.Error, "a change throws a stateful job's state away and spec.stateGuard does not acknowledge it (a warning where the guard is warn)")
	STATE002 = diag.NewRule("STATE-002", diag.Warning, "a state-loss acknowledgement has expired or expires more than 30 days ahead; it does not apply")
)

// Rules lists every rule flinksync enforces, by ID.
var Rules = diag.Infos(
	RBAC001, RBAC002, RBAC003, RBAC004, RBAC005, RBAC006,
	TLS001, TLS002, TLS003, TLS004, TLS005, TLS006,
	TLS007, TLS008, CPU001, CPU002, CPU003, CPU004,
	CPU005, CPU006, WAIVER001, WAIVER002, STATE001, STATE002,
)
