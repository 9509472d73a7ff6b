package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// The example's target: cmf environment, its namespace (before a test's
// suffix) and the Secret of its client certificate
// (examples/repo-layout/environments/prod-cmf.yaml).
const (
	exampleCMFEnv       = "prod-cmf"
	exampleCMFNamespace = "flink-prod-cmf"
	exampleCMFSecret    = "cmf-client-tls"
)

// exampleCMF starts a CMF stand-in for the example's cmf environment and
// returns it with the flag that points the environment at it (the
// example's endpoint is a real CMF's URL). The stand-in holds the CMF
// secrets the example's catalog names, as CMF's administrator creates
// them; its client certificate goes into the Secret the environment names,
// in ns (the environment's namespace in this test). The test fails if
// anything flinksync sent, or the stand-in answered, did not pass CMF's
// API description. A missing description fails the test where the
// control plane is required (CI), as the real CRDs do.
func exampleCMF(t *testing.T, cfg *rest.Config, ns string) (*cmftest.Server, []string) {
	t.Helper()
	s := cmftest.ForRepository(t, example)
	s.WriteClientSecret(t, cfg, ns, exampleCMFSecret)
	return s, []string{"--cmf-endpoint", exampleCMFEnv + "=" + s.URL}
}

// exampleSyncer is what syncs env of the example in a test that drives
// the sync package itself: the CMF stand-in that endpoint (exampleCMF's
// flag) names for the cmf environment, with the credentials from its
// Secret on k8s's cluster; k8s for the others.
func exampleSyncer(t *testing.T, k8s *sync.Syncer, endpoint []string, env *model.Environment) sync.EnvSyncer {
	t.Helper()
	if env.Spec.Target != model.TargetCMF {
		return k8s
	}
	eps, err := parseCMFEndpoints(endpoint[1:])
	if err != nil {
		t.Fatal(err)
	}
	sy, err := cmfSyncer(context.Background(), eps.apply(env), func() (*sync.Syncer, error) { return k8s, nil })
	if err != nil {
		t.Fatal(err)
	}
	return sy
}

// TestExampleCMFEnvironment: the example's cmf environment syncs its
// applications, the SQL compute pool, its statements and the Kafka catalog
// (with its databases and the secret mappings of its credentials) on the
// CMF stand-in, over mTLS with the client certificate from the Secret it
// names; a second apply writes nothing; a change made in CMF is drift; and
// every request passed CMF's API description (exampleCMF).
func TestExampleCMFEnvironment(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-x%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	s, endpoint := exampleCMF(t, cfg, exampleCMFNamespace+sfx)
	cli := func(args ...string) (int, string, string) {
		return runCLI(t, append(append(args, "--repo", repo, "--kubeconfig", kc, "--env", exampleCMFEnv), endpoint...)...)
	}

	code, out, errOut := cli("apply", "--output", "json")
	var applied struct{ Environments []*sync.Result }
	if err := json.Unmarshal([]byte(out), &applied); code != 0 || err != nil || len(applied.Environments) != 1 {
		t.Fatalf("apply: %d %v\n%.3000s%s", code, err, out, errOut)
	}
	created := map[string]bool{}
	for _, c := range applied.Environments[0].Changes {
		if c.Action == sync.Created {
			created[c.Kind+"/"+c.Name] = true
		}
	}
	for _, want := range []string{"Environment/prod-cmf", "FlinkApplication/audit-archiver", "FlinkApplication/inventory-sync",
		"ComputePool/sql", "KafkaCatalog/kafka", "KafkaDatabase/clickstream", "KafkaDatabase/orders",
		"EnvironmentSecretMapping/schemaregistry-credentials", "EnvironmentSecretMapping/kafka-clickstream-credentials",
		"EnvironmentSecretMapping/kafka-orders-credentials"} {
		if !created[want] {
			t.Errorf("%s was not created; created: %v", want, created)
		}
	}
	const env = "/environments/" + exampleCMFEnv
	for _, p := range []string{env, env + "/applications/audit-archiver", env + "/applications/inventory-sync", env + "/compute-pools/sql",
		"/catalogs/kafka/kafka", "/catalogs/kafka/kafka/databases/clickstream", "/catalogs/kafka/kafka/databases/orders"} {
		if s.Get(p) == nil {
			t.Errorf("the stand-in holds no %s; it holds %v", p, s.Paths("/"))
		}
	}
	statements := map[string]bool{}
	for _, p := range s.Paths(env + "/statements/") {
		if name := strings.TrimPrefix(p, env+"/statements/"); !strings.Contains(name, "/") {
			statements[name[:strings.LastIndex(name, "-")]] = true
		}
	}
	if len(statements) != 3 || !statements["create-checkout-pageviews"] || !statements["checkout-pageviews"] || !statements["orders-attributed"] {
		t.Errorf("statements on the stand-in: %v", s.Paths(env+"/statements/"))
	}
	if env := s.Get(env); env["kubernetesNamespace"] != exampleCMFNamespace+sfx {
		t.Errorf("the CMF environment: %v", env)
	}

	writes := s.Writes()
	if code, out, errOut := cli("apply"); code != 0 || s.Writes() != writes || !strings.Contains(out, " 0 created, 0 configured,") {
		t.Fatalf("the second apply must write nothing (%d writes, then %d): %d\n%s%s", writes, s.Writes(), code, out, errOut)
	}
	if code, out, errOut := cli("drift"); code != 0 {
		t.Fatalf("no drift yet, got %d:\n%s%s", code, out, errOut)
	}
	const app = env + "/applications/inventory-sync"
	live := s.Get(app)
	live["spec"].(map[string]any)["job"].(map[string]any)["parallelism"] = 99
	s.Set(app, live)
	if code, out, _ := cli("drift"); code != 1 || !strings.Contains(out, "spec.job.parallelism") || !strings.Contains(out, "live 99") {
		t.Fatalf("drift must name the field changed in CMF, got %d:\n%s", code, out)
	}
}

// TestCMFEndpointFlag: --cmf-endpoint names a target: cmf environment of
// the repository and an https:// URL; anything else cannot run (exit 2)
// and says why, before anything is synced.
func TestCMFEndpointFlag(t *testing.T) {
	for _, tc := range []struct{ flag, want string }{
		{"prod-cmf", `--cmf-endpoint "prod-cmf": want ENV=URL`},
		{"prod-cmf=http://127.0.0.1:8080", `--cmf-endpoint prod-cmf: "http://127.0.0.1:8080" is not an https:// URL with a host`},
		{"prod-cmf=https://", `is not an https:// URL with a host`},
		{"prod-cfm=https://cmf.example:8080", "--cmf-endpoint prod-cfm: no such environment"},
		{"prod-eu=https://cmf.example:8080", "--cmf-endpoint prod-eu: environment prod-eu has target cfk, not cmf"},
	} {
		for _, cmd := range []string{"apply", "diff", "drift"} {
			code, out, errOut := runCLI(t, cmd, "--repo", example, "--cmf-endpoint", tc.flag)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s --cmf-endpoint %s: %d, want 2 and %q\n%s%s", cmd, tc.flag, code, tc.want, out, errOut)
			}
		}
	}
	code, _, errOut := runCLI(t, "apply", "--repo", example, "--cmf-endpoint", "prod-cmf=https://a.example", "--cmf-endpoint", "prod-cmf=https://b.example")
	if code != 2 || !strings.Contains(errOut, "--cmf-endpoint prod-cmf given twice") {
		t.Errorf("twice: %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "plan", "--repo", example, "--base", "HEAD", "--cmf-endpoint", "prod-cmf=http://cmf.example")
	if code != 2 || !strings.Contains(errOut, "is not an https:// URL") {
		t.Errorf("plan: %d %s", code, errOut)
	}
}
