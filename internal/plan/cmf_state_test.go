package plan

import (
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/state"
)

// cmfRepo is a target: cmf environment with the state guard enforcing,
// one stateful application and one stateful statement.
var cmfRepo = map[string]string{
	"environments/prod-cmf.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata:
  name: prod-cmf
spec:
  target: cmf
  namespace: flink-prod
  nodes: {cpu: "16", memory: 64Gi, count: 10}
  defaults:
    image: confluentinc/cp-flink:1.20.1-cp1
    flinkVersion: v1_20
    flinkConfiguration:
      state.backend.type: rocksdb
      state.checkpoints.dir: s3://acme/prod-cmf/checkpoints
  stateGuard:
    mode: enforce
  sync:
    prune: true
  cmf:
    endpoint: https://cmf.confluent.svc:8080
    auth:
      mtls: {secretRef: cmf-client}
`,
	"pools/sql.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata:
  name: sql
spec:
  type: dedicated
  image: confluentinc/cp-flink-sql:1.20-cp1
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
`,
	"catalogs/kafka.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata:
  name: kafka
spec:
  environments: [prod-cmf]
  schemaRegistry:
    url: https://schemaregistry.confluent.svc:8081
    secret: sr-credentials
  databases:
    - name: clickstream
      bootstrapServers: kafka.confluent.svc:9071
      secret: kafka-credentials
`,
	"statements/checkout-pageviews.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: checkout-pageviews
spec:
  environments: [prod-cmf]
  pool: sql
  catalog: kafka
  database: clickstream
  sql: |
    INSERT INTO ` + "`checkout_pageviews` SELECT `user_id`, `page_id` FROM `pageviews`" + `;
  workload:
    recordsPerSecond: 30000
    complexity: simple
    stateSize: 6Gi
`,
}

// A target: cmf environment renders its statements as CMF Statements
// (cmf.confluent.io/v1): removing a stateful one from Git deletes its
// running state with no savepoint, which the plan says and the guard
// blocks (STATE-001), as for a CFK FlinkStatement.
func TestPlanJudgesCMFStatementState(t *testing.T) {
	g := newGitRepo(t)
	for p, text := range cmfRepo {
		g.write(p, text)
	}
	g.commit("prod-cmf")
	g.remove("statements/checkout-pageviews.yaml")
	g.commit("remove checkout-pageviews")
	r := g.plan("main~1", "main", Options{})
	var impacts []state.Impact
	for _, e := range r.Environments {
		if e.Name == "prod-cmf" {
			impacts = e.State
		}
	}
	if len(impacts) != 1 || impacts[0].Job != "checkout-pageviews" || !impacts[0].Statement || impacts[0].Effect != state.Deleted ||
		!impacts[0].LosesState || !strings.Contains(impacts[0].Message, "a statement is deleted as it runs") {
		t.Fatalf("state impacts: %+v; want checkout-pageviews deleted with its 6Gi of state, as a statement", impacts)
	}
	if got := stateFindings(r, "prod-cmf"); strings.Join(got, ",") != "STATE-001 error checkout-pageviews" || !blockedOnHead(r, "prod-cmf") {
		t.Fatalf("findings %v, blocked %v; want one STATE-001 error and prod-cmf blocked", got, blockedOnHead(r, "prod-cmf"))
	}
}
