# hack/make/sarif.mk: the SARIF 2.1.0 JSON schema for internal/report's tests.
#
# Included from the top-level Makefile (which defines BIN before the include);
# also usable on its own:
#
#   make -f hack/make/sarif.mk sarif-schema
#
# Target:
#   sarif-schema  put the SARIF 2.1.0 JSON schema at bin/sarif-schema-2.1.0.json
#                 (git-ignored). internal/report's schema test reads it; under
#                 `make test` and CI it fails when the file is missing, elsewhere
#                 it skips, naming this target.
#
# The schema comes from the npm registry, the only place this project's
# machines can fetch it from: the npm package @microsoft/jest-sarif (MIT,
# Microsoft's SARIF SDK for JavaScript) ships the SARIF 2.1.0 schema in its
# final revision (2.1.0-rtm.5, the one schemastore.org publishes as
# sarif-2.1.0.json). The package is pinned, and so is the schema's SHA-256:
# a different file fails the target rather than the tests.

BIN ?= $(CURDIR)/bin
NPM ?= npm

SARIF_SCHEMA_PACKAGE := @microsoft/jest-sarif@1.0.0-beta.0
SARIF_SCHEMA_IN_PACKAGE := package/lib/schemas/sarif-2.1.0-rtm.5.json
SARIF_SCHEMA_SHA256 := 2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8
SARIF_SCHEMA := $(BIN)/sarif-schema-2.1.0.json

.PHONY: sarif-schema

sarif-schema: $(SARIF_SCHEMA)

$(SARIF_SCHEMA): $(lastword $(MAKEFILE_LIST))
	@mkdir -p $(BIN)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  ( cd "$$tmp" && $(NPM) pack --silent --ignore-scripts $(SARIF_SCHEMA_PACKAGE) >/dev/null ) && \
	  tar -xzf "$$tmp"/*.tgz -C "$$tmp" $(SARIF_SCHEMA_IN_PACKAGE) && \
	  echo "$(SARIF_SCHEMA_SHA256)  $$tmp/$(SARIF_SCHEMA_IN_PACKAGE)" | sha256sum --check --quiet - || \
	  { echo "sarif-schema: could not fetch $(SARIF_SCHEMA_IN_PACKAGE) from $(SARIF_SCHEMA_PACKAGE), or its SHA-256 is not $(SARIF_SCHEMA_SHA256)" >&2; exit 1; }; \
	  cp "$$tmp/$(SARIF_SCHEMA_IN_PACKAGE)" $@
	@echo "sarif-schema: $@ is ready"
