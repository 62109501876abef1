# Image URLs used by the image and deploy targets.
VERSION ?= 0.1.0
REGISTRY ?= ghcr.io/userservice-dev
IMG ?= $(REGISTRY)/userservice-operator:v$(VERSION)
USER_SERVICE_IMG ?= $(REGISTRY)/user-service:v$(VERSION)

# Kubernetes version of the envtest binaries that hack/k8s-bins.sh builds.
ENVTEST_K8S_VERSION ?= 1.37.2

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# Setting SHELL to bash allows bash commands to be executed by recipes.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole and CustomResourceDefinition objects.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./internal/controller/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver and etcd for envtest from the Go module proxy (cached outside the repo).
	@hack/k8s-bins.sh kube-apiserver etcd >/dev/null

.PHONY: test
test: manifests generate fmt vet envtest-bins ## Run unit, integration (PostgreSQL) and envtest tests.
	KUBEBUILDER_ASSETS="$$(hack/k8s-bins.sh kube-apiserver etcd)" hack/with-postgres.sh \
		go test $$(go list ./... | grep -v /test/e2e) -coverprofile cover.out

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and user-service binaries into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/manager ./cmd
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/user-service ./cmd/user-service

.PHONY: run
run: manifests generate fmt vet ## Run the controller from your host against the cluster in KUBECONFIG.
	go run ./cmd

##@ User service

.PHONY: run-user-service
run-user-service: ## Start a throwaway PostgreSQL, migrate it and serve the user service on :3000.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/user-service ./cmd/user-service
	JWT_SECRET="$${JWT_SECRET:-local-development-secret-change-me-0123}" \
		hack/with-postgres.sh bash -c 'bin/user-service migrate up && exec bin/user-service serve'

.PHONY: bench-user-service
bench-user-service: ## Benchmark the user service against pgbench (needs wrk and pgbench; see README).
	hack/bench/user-service.sh

##@ Dependencies

LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.23.0

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $${package} ;\
mv $(1) $(1)-$(3) ;\
} ;\
ln -sf $$(realpath $(1)-$(3)) $(1)
endef
