# hack/make/promtool.mk: Prometheus's promtool for deploy/'s PrometheusRule test.
#
# Included from the top-level Makefile (which defines BIN before the include);
# also usable on its own:
#
#   make -f hack/make/promtool.mk promtool
#
# Target:
#   promtool  build bin/promtool from source (Go module proxy; no prebuilt
#             downloads) with hack/promtool's go.mod, a module of its own so
#             that nothing of Prometheus reaches the product's go.mod. Skipped
#             when bin/promtool is present and the stamp bin/.promtool-<version>
#             exists and is newer than hack/promtool's go.mod and go.sum.
#             Cold (empty module and build caches) on 2 cores shared with
#             other builds: 4m04s at load 6, 6m45s at load 12, downloads
#             included; instant when skipped.
#
# deploy/promtool_test.go renders the chart's PrometheusRule with bin/helm and
# runs `promtool check rules` and `promtool test rules` on it; under
# `make test` and CI a missing bin/promtool fails it, elsewhere it skips,
# naming this target.
#
# Prometheus 3 publishes its Go module as v0.3MM.P for release 3.MM.P
# (v0.316.0 is Prometheus 3.16.0); cmd/promtool needs no generated assets, so
# it builds as is from the module proxy. It is built with Prometheus's own
# build tag remove_all_sd, which leaves out the service-discovery plugins
# (the cloud SDKs: Azure, AWS, GCE, ...; only file, HTTP and Kubernetes SD
# stay): they are most of the build (without the tag, the build had not
# finished after 30 minutes on the same shared machine) and no part of
# checking or testing rules.
#
# Helper targets are prefixed pt-.

# Pinned versions: the Go module's and the release it is. The module version
# must match hack/promtool/go.mod (checked by pt-check-pin); to move to another
# release, change both (cd hack/promtool && go get -tool
# github.com/prometheus/prometheus/cmd/promtool@v0.3MM.P).
PROMETHEUS_MODULE_VERSION ?= v0.316.0
PROMETHEUS_VERSION        ?= 3.16.0

BIN ?= $(CURDIR)/bin
GO  ?= go

PT_DIR     := $(CURDIR)/hack/promtool
PT_BIN     := $(BIN)/promtool
PT_STAMP   := $(BIN)/.promtool-$(PROMETHEUS_MODULE_VERSION)
PT_SOURCES := $(PT_DIR)/go.mod $(PT_DIR)/go.sum
# Static, reproducible builds: no cgo, no go.work, no VCS stamping, go.sum as committed.
PT_GOENV   := CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
PT_TAGS    := remove_all_sd
PT_LDFLAGS := -s -w -X github.com/prometheus/common/version.Version=$(PROMETHEUS_VERSION)

# Rebuild when the binary is missing (pt-force) or a source is newer than the stamp.
PT_FORCE := $(if $(wildcard $(PT_BIN)),,pt-force)

.PHONY: promtool pt-force pt-check-pin

promtool: $(PT_STAMP)
	@echo "promtool: $(PT_BIN) $(PROMETHEUS_VERSION) is ready"

pt-check-pin:
	@grep -Eq '^[[:space:]]*github.com/prometheus/prometheus $(PROMETHEUS_MODULE_VERSION)( |$$)' $(PT_DIR)/go.mod || \
	  { echo "promtool: hack/promtool/go.mod does not require github.com/prometheus/prometheus $(PROMETHEUS_MODULE_VERSION) (PROMETHEUS_MODULE_VERSION)" >&2; exit 1; }

$(PT_STAMP): $(PT_SOURCES) $(PT_FORCE) | pt-check-pin
	@mkdir -p "$(BIN)"
	@rm -f "$(BIN)"/.promtool-*
	@echo "promtool: building promtool $(PROMETHEUS_VERSION) (4 to 7 min cold on 2 cores)"
	cd $(PT_DIR) && $(PT_GOENV) $(GO) build -tags $(PT_TAGS) -trimpath -ldflags "$(PT_LDFLAGS)" -o "$(PT_BIN)" github.com/prometheus/prometheus/cmd/promtool
	@dir=$$(cd $(PT_DIR) && $(PT_GOENV) $(GO) list -m -f '{{.Dir}}' github.com/prometheus/prometheus) && \
	  [ "$$(cat "$$dir/VERSION")" = "$(PROMETHEUS_VERSION)" ] || \
	  { echo "promtool: github.com/prometheus/prometheus $(PROMETHEUS_MODULE_VERSION) is not release $(PROMETHEUS_VERSION) (its VERSION file)" >&2; exit 1; }
	@"$(PT_BIN)" --version 2>&1 | grep -q '^promtool, version $(PROMETHEUS_VERSION) ' || \
	  { echo "promtool: $(PT_BIN) --version does not report $(PROMETHEUS_VERSION)" >&2; exit 1; }
	@touch "$@"

pt-force:
