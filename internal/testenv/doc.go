// Package testenv runs a real Kubernetes control plane (etcd and
// kube-apiserver, no controllers, no Flink operator) for flinksync's tests and
// demo, with flinksync's own test CRDs installed.
//
// The binaries are built from source by `make controlplane` into the
// repository's bin/ folder (see hack/make/controlplane.mk). They are found in
// $KUBEBUILDER_ASSETS when that is set, otherwise in <repo>/bin, where <repo>
// is the first folder above the working directory whose go.mod declares
// module github.com/flinksync/flinksync. The control plane is started with
// controller-runtime's envtest.
//
// # Tests
//
// One control plane serves a whole test binary (one package). Start it from
// TestMain with [Main] and get a client config in each test with [Config]:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
//	func TestApply(t *testing.T) {
//		cfg := testenv.Config(t) // admin (system:masters) *rest.Config
//		testenv.CreateNamespace(t, cfg, "flink-dev")
//		...
//	}
//
// When the binaries are missing, [Main] still runs the tests, and [Config]
// skips every test that asks for the control plane, with a message to run
// `make controlplane`. When FLINKSYNC_REQUIRE_CONTROLPLANE=1 or CI is set (as
// `make test` and CI do), missing binaries make [Main] fail the test binary
// instead, naming the missing files. FLINKSYNC_REQUIRE_CONTROLPLANE=0 turns
// that off even under CI.
//
// The control plane has no kube-controller-manager: deleted namespaces stay
// Terminating and owner references are not garbage collected. Use a fresh
// namespace name per test rather than deleting and re-creating one. No Flink
// operator runs either: a test that needs operator status writes it through
// the status subresource, as the operator would.
//
// # CRDs
//
// The CRDs in crds/ are flinksync's own, hand-written test CRDs for
// flink.apache.org/v1beta1 FlinkDeployment and FlinkSessionJob and for
// platform.confluent.io/v1beta1 FlinkEnvironment, FlinkApplication,
// CMFRestClass and the Flink SQL kinds (FlinkComputePool, FlinkStatement,
// FlinkKafkaCatalog, FlinkKafkaDatabase, FlinkSecret,
// FlinkEnvironmentSecretMapping). They declare the fields flinksync renders
// with the real operators' types and are strict like the real ones:
// server-side apply rejects an undeclared field. Only podTemplate content
// and what CFK passes through to CMF (FlinkEnvironment's
// flinkApplicationDefaults and computePoolDefaults, FlinkComputePool's
// clusterSpec) keep unknown fields. [CRDs] returns the manifests and
// [InstallCRDs] installs them into any cluster.
// The CFK ones agree with the real CFK 3.3.0 CRDs on the fields flinksync
// renders (jobManager/taskManager resources are int-or-string quantities,
// CFK's flinkVersion list, non-empty references, CMF endpoint and secret
// names), which a test in internal/pipeline checks case by case; the SQL
// kinds agree with them field by field, CEL immutability rules included
// (TestCFKSQLCRDsMatchTheRealOnes).
//
// [UseRealCRDs] serves real CRDs read at test time from beside the checkout
// ([RealCFKCRDs], ../shared/reference/cfk-3.3.0/crds; never copied into the
// project) in place of the project's for one test, which fails when they
// are missing and the control plane is required (CI), and skips otherwise.
// [DryRunApply] server-side dry-runs objects against whatever is served.
//
// # Other programs
//
// [Start] starts a control plane outside of tests (the `make demo` starter in
// hack/demo/controlplane uses it); [Env.Stop] stops it. A watchdog process
// stops etcd and kube-apiserver and removes their files if the process that
// started them dies without calling Stop (a test timeout, Ctrl-C, SIGKILL).
package testenv
