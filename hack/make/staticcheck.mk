# hack/make/staticcheck.mk: staticcheck for `make lint`, built from the Go
# module proxy at a pinned version (no prebuilt downloads), into bin/.
#
# Target:
#   staticcheck  go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
#                into $(BIN); skipped when bin/staticcheck is that version.
#                About a minute cold on 2 cores.

STATICCHECK_VERSION ?= v0.8.2

.PHONY: staticcheck
staticcheck:
	@if [ -x "$(BIN)/staticcheck" ] && "$(BIN)/staticcheck" -version 2>/dev/null | grep -q "$(STATICCHECK_VERSION:v%=%)"; then \
	  exit 0; fi; \
	echo "staticcheck: building $(STATICCHECK_VERSION) into $(BIN)"; \
	GOBIN="$(BIN)" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
