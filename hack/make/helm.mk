# hack/make/helm.mk: the helm CLI for deploy/'s chart tests.
#
# Included from the top-level Makefile (which defines BIN before the include);
# also usable on its own:
#
#   make -f hack/make/helm.mk helm
#
# Target:
#   helm  build bin/helm from source (Go module proxy; no prebuilt downloads)
#         with hack/helm's go.mod, a module of its own so that nothing of helm
#         reaches the product's go.mod. Skipped when bin/helm is present and the
#         stamp bin/.helm-<version> exists and is newer than hack/helm's go.mod
#         and go.sum (so it was built at the pinned version). About 2 minutes
#         cold on 2 cores (measured 2m16s with empty module and build caches,
#         of which about 10 s downloads); instant when skipped.
#
# deploy/'s test (deploy/deploy_test.go) runs bin/helm lint and bin/helm
# template; under `make test` and CI a missing bin/helm fails it, elsewhere it
# skips, naming this target.
#
# Helper targets are prefixed helm-.

# Pinned version. It must match hack/helm/go.mod (checked by helm-check-pin);
# to move to another release, change both (cd hack/helm && go get -tool
# helm.sh/helm/v3/cmd/helm@vX.Y.Z).
HELM_VERSION ?= v3.22.0

BIN ?= $(CURDIR)/bin
GO  ?= go

HELM_DIR     := $(CURDIR)/hack/helm
HELM_BIN     := $(BIN)/helm
HELM_STAMP   := $(BIN)/.helm-$(HELM_VERSION)
HELM_SOURCES := $(HELM_DIR)/go.mod $(HELM_DIR)/go.sum
# Static, reproducible builds: no cgo, no go.work, no VCS stamping, go.sum as committed.
HELM_GOENV := CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
# As helm's own Makefile: the version, and the Kubernetes version helm assumes
# for .Capabilities.KubeVersion and deprecation lint (its client-go's minor,
# major 1), read from hack/helm's module graph when the recipe runs.
HELM_LDFLAGS = -s -w \
	-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$minor \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$minor

# Rebuild when the binary is missing (helm-force) or a source is newer than the stamp.
HELM_FORCE := $(if $(wildcard $(HELM_BIN)),,helm-force)

.PHONY: helm helm-force helm-check-pin

helm: $(HELM_STAMP)
	@echo "helm: $(HELM_BIN) $(HELM_VERSION) is ready"

helm-check-pin:
	@grep -q '^require helm.sh/helm/v3 $(HELM_VERSION)$$' $(HELM_DIR)/go.mod || \
	  { echo "helm: hack/helm/go.mod does not require helm.sh/helm/v3 $(HELM_VERSION) (HELM_VERSION)" >&2; exit 1; }

$(HELM_STAMP): $(HELM_SOURCES) $(HELM_FORCE) | helm-check-pin
	@mkdir -p "$(BIN)"
	@rm -f "$(BIN)"/.helm-*
	@echo "helm: building helm $(HELM_VERSION) (about 2 min cold on 2 cores)"
	cd $(HELM_DIR) && \
	  minor=$$($(HELM_GOENV) $(GO) list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2) && \
	  $(HELM_GOENV) $(GO) build -trimpath -ldflags "$(HELM_LDFLAGS)" -o "$(HELM_BIN)" helm.sh/helm/v3/cmd/helm
	@"$(HELM_BIN)" version --template '{{.Version}}' | grep -qx '$(HELM_VERSION)' || \
	  { echo "helm: $(HELM_BIN) version does not report $(HELM_VERSION)" >&2; exit 1; }
	@touch "$@"

helm-force:
