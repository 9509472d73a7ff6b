package pipeline

import (
	"strings"
	"testing"
	"testing/fstest"
)

// The overlay of a cmf environment patches the CMF payloads render makes;
// what a patch makes of a compute pool, a statement, a catalog or a
// database is checked by policy as CFK's counterparts are: each finding is
// at the overlay, and the environment is blocked.
func TestOverlayOnCMFPayloadsIsCheckedByPolicy(t *testing.T) {
	fsys := fstest.MapFS{}
	for p, text := range cmfPolicyRepo {
		fsys[p] = &fstest.MapFile{Data: []byte(text)}
	}
	res, err := Run(fsys, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) > 0 || res.Rendered["prod-cmf"] == nil {
		t.Fatalf("the repository without its overlay must render and pass: %v", res.Findings)
	}

	const overlay = "overlays/prod-cmf/kustomization.yaml"
	fsys[overlay] = &fstest.MapFile{Data: []byte(`patches:
- target: {kind: ComputePool, name: sql}
  patch: |-
    - op: replace
      path: /spec/clusterSpec/taskManager/resource/memory
      value: 64g
- target: {kind: Statement, name: enrich-.*}
  patch: |-
    - op: add
      path: /spec/properties/properties.security.protocol
      value: PLAINTEXT
- target: {kind: KafkaDatabase, name: orders}
  patch: |-
    - op: add
      path: /spec/kafkaCluster/connectionConfig/sasl.jaas.config
      value: org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
- target: {kind: KafkaCatalog, name: kafka}
  patch: |-
    - op: replace
      path: /spec/srInstance/connectionConfig/schema.registry.url
      value: http://sr.confluent.svc:8081
`)}
	res, err = Run(fsys, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"CPU-006": `ComputePool "sql" asks 64g of taskManager memory`,
		"TLS-005": `"properties.security.protocol" is PLAINTEXT`,
		"TLS-003": `KafkaDatabase "orders" holds a secret inline`,
		"TLS-008": `KafkaCatalog "kafka"`,
	}
	for _, f := range res.Findings {
		text, ok := want[f.Rule]
		if !ok || f.Environment != "prod-cmf" || f.File != overlay || f.Line != 1 || !strings.Contains(f.Message, text) {
			t.Errorf("unexpected finding %s at %s:%d in %s: %s", f.Rule, f.File, f.Line, f.Environment, f.Message)
			continue
		}
		delete(want, f.Rule)
	}
	for rule, text := range want {
		t.Errorf("no %s at %s:1 saying %q; findings: %v", rule, overlay, text, res.Findings)
	}
	if len(res.Blocked["prod-cmf"]) == 0 {
		t.Errorf("prod-cmf must be blocked by the overlay's findings")
	}
}

// cmfPolicyRepo is a cmf environment requiring TLS with Flink SQL: a pool,
// a Kafka catalog with one database and a streaming statement.
var cmfPolicyRepo = map[string]string{
	"environments/prod-cmf.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: prod-cmf}
spec:
  target: cmf
  namespace: flink-prod-cmf
  nodes: {cpu: "8", memory: 32Gi, count: 3}
  serviceAccount: flink
  defaults: {image: confluentinc/cp-flink:1.20.1-cp1, flinkVersion: v1_20}
  tls: {required: true, secretName: prod-cmf-tls}
  cmf:
    endpoint: https://cmf.confluent.svc:8080
    auth: {mtls: {secretRef: cmf-client-tls}}
`,
	"pools/sql.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: sql}
spec:
  environments: [prod-cmf]
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
  jobManager: {cpu: "1", memory: 2Gi}
  maxTaskManagers: 4
`,
	"catalogs/kafka.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata: {name: kafka}
spec:
  environments: [prod-cmf]
  schemaRegistry: {url: "https://sr.confluent.svc:8081", secret: sr-credentials}
  databases:
    - {name: orders, bootstrapServers: "kafka.confluent.svc:9071", secret: kafka-credentials}
`,
	"statements/enrich.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: enrich}
spec:
  environments: [prod-cmf]
  pool: sql
  catalog: kafka
  database: orders
  sql: INSERT INTO enriched SELECT id FROM orders
  parallelism: 2
`,
}
