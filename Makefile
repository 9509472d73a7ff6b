# flinksync: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
PKGS  := ./...

.PHONY: all build test unit lint fmt bench fuzz clean

all: build

## build: the flinksync binary, to bin/flinksync
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/flinksync/flinksync/internal/buildinfo.version=$(VERSION) -X github.com/flinksync/flinksync/internal/buildinfo.commit=$(COMMIT)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/flinksync ./cmd/flinksync

## test: lint, build the local control plane (once), then every test, integration tests included.
## Fuzz seed corpora run as ordinary tests.
test: lint controlplane sarif-schema helm alertmanager promtool github-webhooks chromium
	KUBEBUILDER_ASSETS=$(BIN) FLINKSYNC_REQUIRE_CONTROLPLANE=1 $(GO) test -count=1 -timeout 30m $(PKGS)

## unit: the tests that need no control plane (integration tests skip, saying so)
unit:
	$(GO) test -count=1 $(PKGS)

## lint: gofmt check, go vet and staticcheck (pinned, built from the module proxy)
lint: staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './hack/controlplane/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(BIN)/staticcheck $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: every benchmark, with memory figures
bench: controlplane
	KUBEBUILDER_ASSETS=$(BIN) FLINKSYNC_REQUIRE_CONTROLPLANE=1 $(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 30m $(PKGS)

## fuzz: run each fuzz target for FUZZTIME (default 30s); their seed corpora run in `make test`
FUZZTIME ?= 30s
FUZZ_TARGETS := ./internal/model:FuzzLoad ./internal/model:FuzzClassifySQL ./internal/render:FuzzOverlay ./internal/render:FuzzOverlayFiles ./internal/render:FuzzMapPatches ./internal/sizing:FuzzSize ./internal/sizing:FuzzParseFlinkDuration ./internal/flinkconf:FuzzParseDuration ./internal/source:FuzzDirReader ./internal/redact:FuzzText ./internal/sync:FuzzPointerRoundTrip ./internal/sync:FuzzSplitList
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do 	  pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz: $$fn ($$pkg) for $(FUZZTIME)"; 	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; 	done

clean:
	rm -rf $(BIN)/flinksync

include hack/make/controlplane.mk
include hack/make/sarif.mk
include hack/make/helm.mk
include hack/make/alertmanager.mk
include hack/make/promtool.mk
include hack/make/github-webhooks.mk
include hack/make/staticcheck.mk
include hack/make/chromium.mk
