# hack/make/alertmanager.mk: a real Alertmanager for internal/daemon's alert test.
#
# Included from the top-level Makefile (which defines BIN before the include);
# also usable on its own:
#
#   make -f hack/make/alertmanager.mk alertmanager
#
# Target:
#   alertmanager  build bin/alertmanager from source (Go module proxy; no
#                 prebuilt downloads) with hack/alertmanager's go.mod, a module
#                 of its own so that nothing of Alertmanager reaches the
#                 product's go.mod. Skipped when bin/alertmanager is present and
#                 the stamp bin/.alertmanager-<version> exists and is newer than
#                 hack/alertmanager's go.mod and go.sum. Cold (empty module
#                 and build caches) on 2 cores shared with other builds:
#                 2m09s at load 7, 6m11s at load 15, downloads included;
#                 instant when skipped.
#
# internal/daemon's alertmanager_test.go starts bin/alertmanager, points the
# daemon's alerts at its API and reads them back from it; under `make test`
# and CI a missing bin/alertmanager fails it, elsewhere it skips, naming this
# target.
#
# v0.28.1's module builds as is; later ones such as v0.35.0 do not: their web
# UI's assets are generated at release time and are not in the module, so
# `go build` of cmd/alertmanager fails from the module proxy.
#
# Helper targets are prefixed am-.

# Pinned version. It must match hack/alertmanager/go.mod (checked by
# am-check-pin); to move to another release, change both (cd hack/alertmanager
# && go get -tool github.com/prometheus/alertmanager/cmd/alertmanager@vX.Y.Z).
ALERTMANAGER_VERSION ?= v0.28.1

BIN ?= $(CURDIR)/bin
GO  ?= go

AM_DIR     := $(CURDIR)/hack/alertmanager
AM_BIN     := $(BIN)/alertmanager
AM_STAMP   := $(BIN)/.alertmanager-$(ALERTMANAGER_VERSION)
AM_SOURCES := $(AM_DIR)/go.mod $(AM_DIR)/go.sum
# Static, reproducible builds: no cgo, no go.work, no VCS stamping, go.sum as committed.
AM_GOENV   := CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
AM_LDFLAGS := -s -w -X github.com/prometheus/common/version.Version=$(patsubst v%,%,$(ALERTMANAGER_VERSION))

# Rebuild when the binary is missing (am-force) or a source is newer than the stamp.
AM_FORCE := $(if $(wildcard $(AM_BIN)),,am-force)

.PHONY: alertmanager am-force am-check-pin

alertmanager: $(AM_STAMP)
	@echo "alertmanager: $(AM_BIN) $(ALERTMANAGER_VERSION) is ready"

am-check-pin:
	@grep -Eq '^[[:space:]]*github.com/prometheus/alertmanager $(ALERTMANAGER_VERSION)( |$$)' $(AM_DIR)/go.mod || \
	  { echo "alertmanager: hack/alertmanager/go.mod does not require github.com/prometheus/alertmanager $(ALERTMANAGER_VERSION) (ALERTMANAGER_VERSION)" >&2; exit 1; }

$(AM_STAMP): $(AM_SOURCES) $(AM_FORCE) | am-check-pin
	@mkdir -p "$(BIN)"
	@rm -f "$(BIN)"/.alertmanager-*
	@echo "alertmanager: building Alertmanager $(ALERTMANAGER_VERSION) (2 to 6 min cold on 2 cores)"
	cd $(AM_DIR) && $(AM_GOENV) $(GO) build -trimpath -ldflags "$(AM_LDFLAGS)" -o "$(AM_BIN)" github.com/prometheus/alertmanager/cmd/alertmanager
	@"$(AM_BIN)" --version 2>&1 | grep -q '^alertmanager, version $(patsubst v%,%,$(ALERTMANAGER_VERSION)) ' || \
	  { echo "alertmanager: $(AM_BIN) --version does not report $(ALERTMANAGER_VERSION)" >&2; exit 1; }
	@touch "$@"

am-force:
