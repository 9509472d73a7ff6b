package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// writeCluster puts a cluster's kubeconfig in the clusters directory as a
// mounted Secret lays it out (<dir>/<name>/kubeconfig); removeCluster
// takes it away.
func writeCluster(t testing.TB, dir, name string, cfg *rest.Config) {
	t.Helper()
	data, err := os.ReadFile(testenv.WriteKubeconfig(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, "kubeconfig"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The daemon on two real API servers. dev is on the default cluster,
// staging on cluster b, prod on cluster c, a second name for b's API
// server that the clusters directory does not hold at first. Each object
// and inventory lands in its environment's cluster; prod fails alone, by
// name, until c appears in the directory, then syncs without a restart;
// with c taken out again, prod fails while a new revision reaches the
// others; with b's API server stopped, a new revision reaches dev at once
// while staging fails alone, with cluster="b" on the failure metric and
// flinksync_cluster_up{cluster="b"} 0; once b is back, staging converges.
func TestDaemonAcrossTwoClusters(t *testing.T) {
	cfgA := testenv.Config(t)
	b := testenv.SecondCluster(t)
	dir := t.TempDir()
	writeCluster(t, dir, "b", b.Config)
	f := &fixture{t: t, cfg: cfgA, suffix: fmt.Sprintf("-d%d", fixtureN.Add(1)), alerts: newAlertSink(t)}
	uniq := testenv.UniqueNamespaces(t, cfgA, f.suffix)
	on := map[string]string{"staging": "b", "prod": "c"}
	f.git = newGitServer(t, "../../examples/repo-layout", func(rel string, data []byte) []byte {
		data = uniq(rel, data)
		for env, cluster := range on {
			if rel == "environments/"+env+".yaml" {
				ns := "  namespace: " + f.ns(env) + "\n"
				if !bytes.Contains(data, []byte(ns)) {
					t.Fatalf("%s has no %q", rel, ns)
				}
				data = bytes.Replace(data, []byte(ns), []byte(ns+"  cluster: "+cluster+"\n"), 1)
			}
		}
		return data
	})
	for env := range on {
		testenv.CreateNamespace(t, b.Config, f.ns(env))
	}
	f.dyn, _ = dynamic.NewForConfig(cfgA)
	f.d = f.newDaemon(options{clustersDir: dir})
	f.start()
	rev1 := f.head()
	appliedAt := func(env, rev string) func() bool {
		return func() bool { return f.env(env).AppliedRevision == rev }
	}
	failsWith := func(env, msg string) func() bool {
		return func() bool {
			return strings.Contains(strings.Join(f.env(env).Errors, " "), msg)
		}
	}

	// dev and staging sync, each on its own cluster; prod's cluster is
	// not there yet.
	eventually(t, 60*time.Second, "dev and staging applied", func() bool { return appliedAt("dev", rev1)() && appliedAt("staging", rev1)() })
	eventually(t, 10*time.Second, `prod failing with unknown cluster "c"`, failsWith("prod", `unknown cluster "c"`))
	for _, c := range []struct {
		env       string
		on, notOn *rest.Config
	}{{"dev", cfgA, b.Config}, {"staging", b.Config, cfgA}} {
		ns := f.ns(c.env)
		if testenv.Get(t, c.on, fdGVR, ns, "orders-enrich") == nil || testenv.Get(t, c.notOn, fdGVR, ns, "orders-enrich") != nil {
			t.Errorf("%s's FlinkDeployment must be on its own cluster only", c.env)
		}
		if testenv.Get(t, c.on, cmGVR, ns, sync.InventoryName) == nil || testenv.Get(t, c.notOn, cmGVR, ns, sync.InventoryName) != nil {
			t.Errorf("%s's inventory must be on its own cluster only", c.env)
		}
	}
	if got := f.env("staging").Cluster; got != "b" {
		t.Errorf("staging's cluster in the status: %q", got)
	}
	if got := f.env("dev").Cluster; got != "default" {
		t.Errorf("dev's cluster in the status: %q", got)
	}
	if n := f.metric("flinksync_reconcile_total", map[string]string{"cluster": "c", "environment": "prod", "result": "failed"}); n == 0 {
		t.Error(`no flinksync_reconcile_total{cluster="c",environment="prod",result="failed"}`)
	}
	if n := f.metric("flinksync_reconcile_total", map[string]string{"cluster": "b", "environment": "staging", "result": "success"}); n == 0 {
		t.Error(`no flinksync_reconcile_total{cluster="b",environment="staging",result="success"}`)
	}

	// Events stay on the default cluster, for its environments only.
	kube := kubernetes.NewForConfigOrDie(cfgA)
	eventsIn := func(ns string) int {
		list, err := kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range list.Items {
			if e.Source.Component == "flinksync" {
				n++
			}
		}
		return n
	}
	eventually(t, 10*time.Second, "dev's Event on the default cluster", func() bool { return eventsIn(f.ns("dev")) > 0 })
	if n := eventsIn(f.ns("staging")); n != 0 {
		t.Errorf("%d Event(s) of staging (on b) on the default cluster", n)
	}

	// c appears in the directory: prod syncs on a later round, no restart.
	writeCluster(t, dir, "c", b.Config)
	eventually(t, 30*time.Second, "prod applied on cluster c", appliedAt("prod", rev1))
	if testenv.Get(t, b.Config, fdGVR, f.ns("prod"), "orders-enrich") == nil || testenv.Get(t, cfgA, fdGVR, f.ns("prod"), "orders-enrich") != nil {
		t.Error("prod's FlinkDeployment must be on cluster c (b's API server) only")
	}
	if st := f.clusterStatus("c"); st == nil || !st.Reachable || len(st.Environments) != 1 || st.Environments[0] != "prod" {
		t.Errorf("cluster c in the status: %+v", st)
	}

	// c leaves the directory: prod fails by name, the others go on.
	if err := os.RemoveAll(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	rev2 := f.git.commit("apps/orders-enrich.yaml", "orders-enrich:1.4.2", "orders-enrich:1.4.3")
	f.hook("s3cret")
	eventually(t, 30*time.Second, "rev2 on dev and staging", func() bool { return appliedAt("dev", rev2)() && appliedAt("staging", rev2)() })
	eventually(t, 10*time.Second, `prod failing with unknown cluster "c" again`, failsWith("prod", `unknown cluster "c"`))
	if got := f.env("prod").AppliedRevision; got != rev1 {
		t.Errorf("prod's applied revision %s, want %s", got, rev1)
	}
	if st := f.clusterStatus("c"); st != nil {
		t.Errorf("cluster c still in the status after it left the directory: %+v", st)
	}

	// b goes down: dev gets rev3 at once, staging fails alone, by name.
	if err := b.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	rev3 := f.git.commit("apps/orders-enrich.yaml", "orders-enrich:1.4.3", "orders-enrich:1.4.4")
	start := time.Now()
	f.hook("s3cret")
	eventually(t, 30*time.Second, "rev3 on dev with b down", appliedAt("dev", rev3))
	eventually(t, 10*time.Second, "staging failing with cluster b", failsWith("staging", "cluster b"))
	// The probe gives up after its timeout (5 s); a refused connection at once.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the round with b down took %s: it waited on the dead cluster", took)
	}
	if n := f.metric("flinksync_reconcile_total", map[string]string{"cluster": "b", "environment": "staging", "result": "failed"}); n == 0 {
		t.Error(`no flinksync_reconcile_total{cluster="b",environment="staging",result="failed"}`)
	}
	if f.metric("flinksync_cluster_up", map[string]string{"cluster": "b"}) != 0 || f.metric("flinksync_cluster_up", map[string]string{"cluster": "default"}) != 1 {
		t.Errorf("flinksync_cluster_up: b %v, default %v; want 0 and 1",
			f.metric("flinksync_cluster_up", map[string]string{"cluster": "b"}), f.metric("flinksync_cluster_up", map[string]string{"cluster": "default"}))
	}
	if st := f.clusterStatus("b"); st == nil || st.Reachable || st.LastError == "" || st.BackingOffUntil.IsZero() {
		t.Errorf("cluster b in the status while down: %+v", st)
	}
	if got := f.env("staging").AppliedRevision; got != rev2 {
		t.Errorf("staging's applied revision %s while b is down, want %s", got, rev2)
	}

	// b is back: staging converges once b's backoff runs out.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "staging converged after b returned", appliedAt("staging", rev3))
	img, _, _ := unstructured.NestedString(testenv.Get(t, b.Config, fdGVR, f.ns("staging"), "orders-enrich").Object, "spec", "image")
	if !strings.HasSuffix(img, ":1.4.4") {
		t.Errorf("staging's image on b: %s", img)
	}
	if f.metric("flinksync_cluster_up", map[string]string{"cluster": "b"}) != 1 {
		t.Error(`flinksync_cluster_up{cluster="b"} is not 1 after b returned`)
	}
}

// clusterStatus is cluster name's status, nil when the daemon has no such
// cluster.
func (f *fixture) clusterStatus(name string) *ClusterStatus {
	for _, c := range f.d.Snapshot().Clusters {
		if c.Name == name {
			return &c
		}
	}
	return nil
}
