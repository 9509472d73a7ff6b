// Package deploy holds what a platform team installs flinksync with: the Helm
// chart (helm/flinksync), the container image's Dockerfile, and the tests
// that keep them honest. It has no Go code of its own.
//
// The tests render the chart with bin/helm (built from source by `make helm`,
// see hack/make/helm.mk), check the rendered objects (security context,
// probes, least-privilege RBAC), apply them to a real kube-apiserver
// (internal/testenv) and then act as the chart's ServiceAccount: it must be
// able to sync the example repository in the managed namespaces, hold its
// Lease, and nothing more.
//
// Without bin/helm the tests skip, naming `make helm`; under `make test` and
// CI (FLINKSYNC_REQUIRE_CONTROLPLANE=1 or CI set) they fail instead.
package deploy
