# hack/make/github-webhooks.mk: real GitHub webhook payloads for internal/daemon's webhook test.
#
# Included from the top-level Makefile (which defines BIN before the include);
# also usable on its own:
#
#   make -f hack/make/github-webhooks.mk github-webhooks
#
# Target:
#   github-webhooks  put GitHub's example webhook payloads at
#                    bin/github-webhook-examples.json (git-ignored).
#                    internal/daemon's github_webhook_test.go sends its `ping`
#                    and `push` payloads to the daemon; under `make test` and CI
#                    it fails when the file is missing, elsewhere it skips,
#                    naming this target.
#
# The payloads come from the npm package @octokit/webhooks-examples (MIT,
# Octokit's machine-readable webhook specifications): api.github.com/index.json
# is a list of {name, examples, ...}, one per event, whose examples are
# payloads GitHub sent. The package is pinned, and so is the file's SHA-256: a
# different file fails the target rather than the tests.

BIN ?= $(CURDIR)/bin
NPM ?= npm

GITHUB_WEBHOOKS_PACKAGE := @octokit/webhooks-examples@7.6.1
GITHUB_WEBHOOKS_IN_PACKAGE := package/api.github.com/index.json
GITHUB_WEBHOOKS_SHA256 := 09d8f0c617876ae9dad22e26fea5510bfcaad50ee7e602659f6db25b87b25815
GITHUB_WEBHOOKS := $(BIN)/github-webhook-examples.json

.PHONY: github-webhooks

github-webhooks: $(GITHUB_WEBHOOKS)

$(GITHUB_WEBHOOKS): $(lastword $(MAKEFILE_LIST))
	@mkdir -p $(BIN)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  ( cd "$$tmp" && $(NPM) pack --silent --ignore-scripts $(GITHUB_WEBHOOKS_PACKAGE) >/dev/null ) && \
	  tar -xzf "$$tmp"/*.tgz -C "$$tmp" $(GITHUB_WEBHOOKS_IN_PACKAGE) && \
	  echo "$(GITHUB_WEBHOOKS_SHA256)  $$tmp/$(GITHUB_WEBHOOKS_IN_PACKAGE)" | sha256sum --check --quiet - || \
	  { echo "github-webhooks: could not fetch $(GITHUB_WEBHOOKS_IN_PACKAGE) from $(GITHUB_WEBHOOKS_PACKAGE), or its SHA-256 is not $(GITHUB_WEBHOOKS_SHA256)" >&2; exit 1; }; \
	  cp "$$tmp/$(GITHUB_WEBHOOKS_IN_PACKAGE)" $@
	@echo "github-webhooks: $@ is ready"
