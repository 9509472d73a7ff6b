# hack/make/chromium.mk: a headless Chromium for the status page's browser test.
#
# Included from the top-level Makefile; also usable on its own:
#
#   make -f hack/make/chromium.mk chromium
#
# Target:
#   chromium  install Debian's (or Ubuntu's) `chromium` package with apt-get
#             when $(CHROMIUM) is missing; nothing to do when it is present.
#             As root it runs apt-get directly, otherwise through sudo (CI
#             runners). The distribution's package, not a browser downloaded
#             by a test tool: it gets the distribution's security updates and
#             needs no network at test time. Debian 12 here: about 100 MB
#             of packages, one to two minutes; instant when present. (On
#             Ubuntu the package is a snap stub: point FLINKSYNC_CHROMIUM
#             at another build there.)
#
# internal/daemon's page_browser_test.go drives $(CHROMIUM) with
# github.com/chromedp/chromedp (headless, no sandbox, no GPU); under
# `make test` and CI a missing browser fails it, elsewhere it skips, naming
# this target. FLINKSYNC_CHROMIUM points the test at another binary.

CHROMIUM ?= $(or $(FLINKSYNC_CHROMIUM),/usr/bin/chromium)
# apt-get needs root; CI runners are not root but have password-less sudo.
CHROMIUM_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: chromium

chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
	  echo "chromium: $(CHROMIUM) is ready ($$("$(CHROMIUM)" --version 2>/dev/null))"; \
	else \
	  echo "chromium: installing Debian's chromium package with apt-get"; \
	  $(CHROMIUM_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(CHROMIUM_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core && \
	  "$(CHROMIUM)" --version; \
	fi
