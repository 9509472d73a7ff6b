# hack/make/controlplane.mk: a real Kubernetes control plane for tests and the demo.
#
# Included from the top-level Makefile (which defines BIN before the include);
# also usable on its own:
#
#   make -f hack/make/controlplane.mk controlplane
#   make -f hack/make/controlplane.mk demo DEMO_DEPS=controlplane
#
# Targets:
#   controlplane  build bin/kube-apiserver and bin/etcd from source (Go module
#                 proxy; no prebuilt downloads). Skipped when both binaries are
#                 present and the stamp bin/.controlplane-<k8s>-<etcd> exists and
#                 is newer than hack/controlplane's sources (so they were built at
#                 the pinned versions).
#   demo          start a local control plane, install the CRDs and run the demo
#                 job against it (hack/demo.sh). Running it again restarts it.
#   demo-stop     stop the demo control plane (hack/demo-stop.sh).
#
# Helper targets are prefixed cp- or demo-.

# Pinned versions. They must match hack/controlplane/go.mod (checked by
# cp-check-pins); to move to another release, change both.
CP_K8S_VERSION  ?= v1.36.3
CP_ETCD_VERSION ?= v3.6.8

BIN ?= $(CURDIR)/bin
GO  ?= go

# Prerequisites of the demo target. The top-level Makefile defines `build`
# (bin/flinksync); when this file is used on its own, pass DEMO_DEPS=controlplane.
DEMO_DEPS ?= build controlplane

CP_DIR      := $(CURDIR)/hack/controlplane
CP_STAMP    := $(BIN)/.controlplane-$(CP_K8S_VERSION)-$(CP_ETCD_VERSION)
CP_SOURCES  := $(CP_DIR)/go.mod $(CP_DIR)/go.sum $(CP_DIR)/kube-apiserver/main.go $(CP_DIR)/etcd/main.go
CP_K8S_MAJOR := $(word 1,$(subst ., ,$(patsubst v%,%,$(CP_K8S_VERSION))))
CP_K8S_MINOR := $(word 2,$(subst ., ,$(patsubst v%,%,$(CP_K8S_VERSION))))
CP_K8S_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(CP_K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(CP_K8S_MAJOR) \
	-X k8s.io/component-base/version.gitMinor=$(CP_K8S_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean
CP_ETCD_LDFLAGS := -s -w
# Static, reproducible builds: no cgo, no go.work, no VCS stamping, go.sum as committed.
CP_GOENV := CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"

# Rebuild when a binary is missing (cp-force) or a source is newer than the stamp.
CP_FORCE := $(if $(and $(wildcard $(BIN)/kube-apiserver),$(wildcard $(BIN)/etcd)),,cp-force)

.PHONY: controlplane cp-force cp-check-pins demo demo-stop

controlplane: $(CP_STAMP)
	@echo "controlplane: $(BIN)/kube-apiserver $(CP_K8S_VERSION) and $(BIN)/etcd $(CP_ETCD_VERSION) are ready"

cp-check-pins:
	@grep -q '^[[:space:]]*k8s.io/kubernetes $(CP_K8S_VERSION)$$' $(CP_DIR)/go.mod || \
	  { echo "controlplane: hack/controlplane/go.mod does not require k8s.io/kubernetes $(CP_K8S_VERSION) (CP_K8S_VERSION)" >&2; exit 1; }
	@grep -q '^[[:space:]]*go.etcd.io/etcd/server/v3 $(CP_ETCD_VERSION)$$' $(CP_DIR)/go.mod || \
	  { echo "controlplane: hack/controlplane/go.mod does not require go.etcd.io/etcd/server/v3 $(CP_ETCD_VERSION) (CP_ETCD_VERSION)" >&2; exit 1; }

$(CP_STAMP): $(CP_SOURCES) $(CP_FORCE) | cp-check-pins
	@mkdir -p "$(BIN)"
	@rm -f "$(BIN)"/.controlplane-*
	@echo "controlplane: building etcd $(CP_ETCD_VERSION) (about 30 s cold)"
	cd $(CP_DIR) && $(CP_GOENV) $(GO) build -trimpath -ldflags '$(CP_ETCD_LDFLAGS)' -o "$(BIN)/etcd" ./etcd
	@echo "controlplane: building kube-apiserver $(CP_K8S_VERSION) (about 4 min cold on 2 cores)"
	cd $(CP_DIR) && $(CP_GOENV) $(GO) build -trimpath -ldflags '$(CP_K8S_LDFLAGS)' -o "$(BIN)/kube-apiserver" ./kube-apiserver
	@"$(BIN)/kube-apiserver" --version | grep -qx 'Kubernetes $(CP_K8S_VERSION)' || \
	  { echo "controlplane: $(BIN)/kube-apiserver --version does not report $(CP_K8S_VERSION)" >&2; exit 1; }
	@"$(BIN)/etcd" --version | grep -q '^etcd Version: $(patsubst v%,%,$(CP_ETCD_VERSION))$$' || \
	  { echo "controlplane: $(BIN)/etcd --version does not report $(CP_ETCD_VERSION)" >&2; exit 1; }
	@touch "$@"

cp-force:

demo: $(DEMO_DEPS)
	@bash $(CURDIR)/hack/demo.sh

demo-stop:
	@bash $(CURDIR)/hack/demo-stop.sh
