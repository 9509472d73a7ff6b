package model

// FlinkStatement is one Flink SQL statement and the environments it runs in.
type FlinkStatement struct {
	Metadata ObjectMeta    `yaml:"metadata" model:"required"`
	Spec     StatementSpec `yaml:"spec" model:"required"`
	Origin   Origin        `yaml:"-"`
}

// StatementSpec is the body of a FlinkStatement. Overrides hold, per
// environment, a partial StatementSpec merged over this one, as for
// applications.
type StatementSpec struct {
	Environments []string `yaml:"environments"`
	Pool         string   `yaml:"pool"`
	// Catalog and Database name a KafkaCatalog and one of its databases
	// (sql.current-catalog and sql.current-database).
	Catalog  string `yaml:"catalog"`
	Database string `yaml:"database"`
	// SQL is the statement; SQLFile a repository path that holds it. One of
	// the two is required. After loading, an effective statement's SQL holds
	// the text either way.
	SQL     string `yaml:"sql"`
	SQLFile string `yaml:"sqlFile"`
	// Workload is sized to a parallelism; Parallelism, when set, is used as is.
	Workload    Workload `yaml:"workload"`
	Parallelism int      `yaml:"parallelism"`
	// Stopped stops the statement (with a savepoint) without deleting it.
	Stopped bool `yaml:"stopped"`
	// Properties are SQL session properties (sql.* keys and the like).
	Properties         FlinkConfiguration `yaml:"properties"`
	FlinkConfiguration FlinkConfiguration `yaml:"flinkConfiguration"`
	// Ignore lists differences of the statement's own objects that are not drift.
	Ignore    []IgnoreRule        `yaml:"ignore"`
	Overrides map[string]Override `yaml:"overrides"`
}

// SQLKind is what a statement does: define tables (DDL) or move data (DML).
type SQLKind string

// The statement kinds.
const (
	// SQLDDL is CREATE, ALTER or DROP: it runs once and finishes.
	SQLDDL SQLKind = "ddl"
	// SQLDML is INSERT, SELECT, WITH or EXECUTE: a streaming or batch job.
	SQLDML SQLKind = "dml"
)

// EffectiveStatement is a statement as it runs in one environment:
// overrides.<env> merged over its spec, its SQL read, its references
// resolved.
type EffectiveStatement struct {
	Name        string
	Statement   *FlinkStatement
	Environment *Environment
	// Pool is nil when the pool reference is broken (a finding says why).
	Pool *ComputePool
	// Catalog and Database are set when the statement names them and they
	// resolve in this environment.
	Catalog  *EffectiveCatalog
	Database *KafkaDatabase
	// Spec is the merged spec; its Overrides are nil and its SQL holds the
	// statement's text, read from SQLFile when that is set.
	Spec StatementSpec
	// Kind says whether the SQL is DDL or DML.
	Kind   SQLKind
	Origin Origin
}

// KafkaCatalog is a Schema Registry and the Kafka databases SQL statements
// read and write, as CMF catalogs and databases.
type KafkaCatalog struct {
	Metadata ObjectMeta  `yaml:"metadata" model:"required"`
	Spec     CatalogSpec `yaml:"spec" model:"required"`
	Origin   Origin      `yaml:"-"`
}

// CatalogSpec is the body of a KafkaCatalog.
type CatalogSpec struct {
	Environments   []string            `yaml:"environments"`
	SchemaRegistry SchemaRegistry      `yaml:"schemaRegistry" model:"required"`
	Databases      []KafkaDatabase     `yaml:"databases"`
	Overrides      map[string]Override `yaml:"overrides"`
}

// SchemaRegistry is the Schema Registry behind a catalog.
type SchemaRegistry struct {
	URL string `yaml:"url" model:"required"`
	// Secret names an existing Kubernetes Secret with the credentials;
	// flinksync never reads it.
	Secret string `yaml:"secret"`
}

// KafkaDatabase is one SQL database of a catalog: one Kafka cluster.
type KafkaDatabase struct {
	Name             string `yaml:"name" model:"required"`
	BootstrapServers string `yaml:"bootstrapServers" model:"required"`
	// Secret names an existing Kubernetes Secret with the Kafka credentials.
	Secret string `yaml:"secret"`
	// DDLEnvironments may run DDL here; empty means all of the catalog's.
	DDLEnvironments []string `yaml:"ddlEnvironments"`
}

// AllowsDDL reports whether environment env may run DDL in the database.
func (d *KafkaDatabase) AllowsDDL(env string) bool {
	return len(d.DDLEnvironments) == 0 || contains(d.DDLEnvironments, env)
}

// EffectiveCatalog is a catalog as it is in one environment.
type EffectiveCatalog struct {
	Name        string
	Catalog     *KafkaCatalog
	Environment *Environment
	// Spec is the merged spec; its Overrides are nil.
	Spec   CatalogSpec
	Origin Origin
}

// Database returns the database called name, or nil.
func (c *EffectiveCatalog) Database(name string) *KafkaDatabase {
	for i := range c.Spec.Databases {
		if c.Spec.Databases[i].Name == name {
			return &c.Spec.Databases[i]
		}
	}
	return nil
}

// Secrets returns the names of the Kubernetes Secrets the catalog and its
// databases use, sorted and without repeats.
func (c *EffectiveCatalog) Secrets() []string {
	set := map[string]bool{}
	if c.Spec.SchemaRegistry.Secret != "" {
		set[c.Spec.SchemaRegistry.Secret] = true
	}
	for _, d := range c.Spec.Databases {
		if d.Secret != "" {
			set[d.Secret] = true
		}
	}
	return sortedKeys(set)
}

// MaxCMFNameLength is the longest name CMF takes for its resources
// (statements, compute pools, catalogs, databases, secrets).
const MaxCMFNameLength = 45

// StatementHashLength is how many hex digits of the SQL's hash a statement's
// rendered name carries (see docs/sql.md: replace on change).
const StatementHashLength = 6

// MaxStatementNameLength is the longest FlinkStatement name: its rendered
// name "<name>-<hash>" must stay within MaxCMFNameLength.
const MaxStatementNameLength = MaxCMFNameLength - 1 - StatementHashLength

// DefaultSQLRunnerJarURI is the SQL runner's jar when spec.sqlRunner gives
// none: where FKO's flink-sql-runner example puts it.
const DefaultSQLRunnerJarURI = "local:///opt/flink/usrlib/sql-runner.jar"
