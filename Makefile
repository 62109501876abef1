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
	@$(MAKE) --no-print-directory helm-sync api-docs

.PHONY: api-docs
api-docs: crd-ref-docs ## Generate docs/api-reference.md from the API types (run by make manifests).
	$(CRD_REF_DOCS) --source-path=./api --config=hack/api-docs/config.yaml --templates-dir=hack/api-docs/templates \
		--renderer=markdown --output-path=docs/api-reference.md --log-level=ERROR

.PHONY: generate
generate: controller-gen proto ## Generate DeepCopy methods and the gRPC code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: proto
proto: buf protoc-gen-go protoc-gen-connect-go ## Lint proto/ and generate its Go code into pkg/api with buf (run by make generate).
	$(BUF) lint proto
	rm -rf pkg/api
	PATH="$(LOCALBIN):$$PATH" $(BUF) generate

.PHONY: proto-breaking
proto-breaking: buf ## Check proto/ for breaking changes against the last release tag (v*), when there is one.
	@tag=$$(git tag --list 'v*' --sort=-v:refname | head -n1); \
	if [ -z "$$tag" ]; then echo "No release tag yet: skipping buf breaking"; exit 0; fi; \
	echo "buf breaking against $$tag"; \
	$(BUF) breaking proto --against ".git#tag=$$tag,subdir=proto"

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

# The tests build with the flags of the shipped binaries (static, -trimpath), so
# that each package is compiled once per run: the binaries that tests build (the
# release test's in internal/imagebuild, the e2e suite's manager) reuse it.
GO_TEST_ENV ?= CGO_ENABLED=0
GO_TEST_FLAGS ?= -trimpath

.PHONY: vet
vet: ## Run go vet against code.
	$(GO_TEST_ENV) go vet $(GO_TEST_FLAGS) ./...

# One build-tag set cannot see every file: the kwok e2e suite is e2e && !realnode
# and the real-node one e2e && realnode. The config's run.build-tags (e2e) lints
# the module with the kwok suite; a second pass lints the packages that have
# build-constrained files with the real-node suite and the test-only migrations.
LINT_EXTRA_TAGS ?= e2e,realnode,e2e_migration_v2,e2e_migration_fail
LINT_EXTRA_PKGS = $(shell git grep -l '^//go:build' -- '*.go' ':!:*zz_generated*' | xargs -n1 dirname | sort -u | sed 's|^|./|')

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml, kubebuilder's configuration) over every build-tag set.
	$(GOLANGCI_LINT) run
	$(GOLANGCI_LINT) run --build-tags $(LINT_EXTRA_TAGS) $(LINT_EXTRA_PKGS)

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint over every build-tag set and fix what it can.
	$(GOLANGCI_LINT) run --fix
	$(GOLANGCI_LINT) run --fix --build-tags $(LINT_EXTRA_TAGS) $(LINT_EXTRA_PKGS)

.PHONY: lint-config
lint-config: golangci-lint ## Verify .golangci.yml against golangci-lint's schema.
	$(GOLANGCI_LINT) config verify

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver and etcd for envtest from the Go module proxy (cached outside the repo).
	@hack/k8s-bins.sh kube-apiserver etcd kubectl >/dev/null

.PHONY: test
test: manifests generate fmt vet envtest-bins helm ## Run unit, integration (PostgreSQL, RabbitMQ) and envtest tests.
	$(GO_TEST_ENV) KUBEBUILDER_ASSETS="$$(hack/k8s-bins.sh kube-apiserver etcd kubectl)" hack/with-postgres.sh hack/with-rabbitmq.sh \
		go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/e2e) -coverprofile cover.out

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
bench-user-service: ## Benchmark the user service against pgbench (needs wrk and pgbench; see docs/performance.md).
	hack/bench/user-service.sh

##@ Packaging

CHART_DIR ?= charts/userservice-operator
# Build metadata stamped into the images' OCI labels.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: helm-sync
helm-sync: ## Copy the generated CRDs and the config/rbac roles into the Helm chart (run by make manifests).
	@mkdir -p $(CHART_DIR)/crds $(CHART_DIR)/files
	@rm -f $(CHART_DIR)/crds/*.yaml
	@if ls config/crd/bases/*.yaml >/dev/null 2>&1; then cp config/crd/bases/*.yaml $(CHART_DIR)/crds/; fi
	@rm -f $(CHART_DIR)/files/*.yaml
	@if [ -f config/rbac/role.yaml ]; then cp config/rbac/role.yaml $(CHART_DIR)/files/manager-role.yaml; fi
	@for r in admin editor viewer; do \
		if [ -f config/rbac/userservice_$${r}_role.yaml ]; then cp config/rbac/userservice_$${r}_role.yaml $(CHART_DIR)/files/userservice-$${r}-role.yaml; fi; \
	done

# The pod sandbox image of the real-node local cluster (registry.k8s.io is unreachable).
PAUSE_IMG ?= localhost/userservice-dev/pause:local
# Test-only user-service images of make test-e2e-real (built with test-only build tags).
E2E_V2_IMG ?= $(REGISTRY)/user-service:v0.1.1
E2E_FAIL_IMG ?= $(REGISTRY)/user-service:v0.2.0-fail-migration
E2E_IMAGES_DIR ?= bin/e2e-images
IMAGE_GO_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w"
IMAGES_RUN = go run ./hack/images --revision $(REVISION) --created-epoch $(SOURCE_DATE_EPOCH)

.PHONY: images
images: image-pause ## Build both images (and the local cluster's pause image) as OCI layout tarballs in dist/ without a Docker daemon.
	@mkdir -p bin dist
	$(IMAGE_GO_BUILD) -o bin/linux-amd64/manager ./cmd
	$(IMAGE_GO_BUILD) -o bin/linux-amd64/user-service ./cmd/user-service
	$(IMAGES_RUN) --version $(VERSION) --out dist \
		--image manager=$(IMG)=bin/linux-amd64/manager \
		--image user-service=$(USER_SERVICE_IMG)=bin/linux-amd64/user-service

.PHONY: image-pause
image-pause: ## Build dist/pause.oci.tar, the pod sandbox image of the real-node local cluster (hack/pause).
	@mkdir -p bin dist
	$(IMAGE_GO_BUILD) -o bin/linux-amd64/pause ./hack/pause
	$(IMAGES_RUN) --version $(VERSION) --out dist --image pause=$(PAUSE_IMG)=bin/linux-amd64/pause

.PHONY: images-e2e
images-e2e: ## Build the test-only user-service images of make test-e2e-real into bin/e2e-images/ (never released).
	@mkdir -p $(E2E_IMAGES_DIR)/v2 $(E2E_IMAGES_DIR)/fail
	$(IMAGE_GO_BUILD) -tags e2e_migration_v2 -o bin/linux-amd64/user-service-e2e-v2 ./cmd/user-service
	$(IMAGE_GO_BUILD) -tags e2e_migration_fail -o bin/linux-amd64/user-service-e2e-fail ./cmd/user-service
	$(IMAGES_RUN) --version 0.1.1 --out $(E2E_IMAGES_DIR)/v2 --image user-service=$(E2E_V2_IMG)=bin/linux-amd64/user-service-e2e-v2
	$(IMAGES_RUN) --version 0.2.0 --out $(E2E_IMAGES_DIR)/fail --image user-service=$(E2E_FAIL_IMG)=bin/linux-amd64/user-service-e2e-fail

.PHONY: build-installer
build-installer: manifests generate ## Write dist/install.yaml: CRDs and the operator, from config/default.
	KUBECTL="$(KUBECTL)" hack/build-installer.sh "$(IMG)" dist/install.yaml

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart.
	$(HELM) lint --strict $(CHART_DIR)

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

CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs
CRD_REF_DOCS_VERSION ?= v0.3.0

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Download crd-ref-docs (the API reference generator) locally if necessary.
$(CRD_REF_DOCS): $(LOCALBIN)
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))

GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
GOLANGCI_LINT_VERSION ?= v2.15.0

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

BUF ?= $(LOCALBIN)/buf
BUF_VERSION ?= v1.75.0
PROTOC_GEN_GO ?= $(LOCALBIN)/protoc-gen-go
# Keep in step with google.golang.org/protobuf in go.mod.
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_CONNECT_GO ?= $(LOCALBIN)/protoc-gen-connect-go
# Keep in step with connectrpc.com/connect in go.mod.
PROTOC_GEN_CONNECT_GO_VERSION ?= v1.21.1

.PHONY: buf
buf: $(BUF) ## Download buf locally (from the Go module proxy) if necessary.
$(BUF): $(LOCALBIN)
	$(call go-install-tool,$(BUF),github.com/bufbuild/buf/cmd/buf,$(BUF_VERSION))

.PHONY: protoc-gen-go
protoc-gen-go: $(PROTOC_GEN_GO) ## Download protoc-gen-go locally if necessary.
$(PROTOC_GEN_GO): $(LOCALBIN)
	$(call go-install-tool,$(PROTOC_GEN_GO),google.golang.org/protobuf/cmd/protoc-gen-go,$(PROTOC_GEN_GO_VERSION))

.PHONY: protoc-gen-connect-go
protoc-gen-connect-go: $(PROTOC_GEN_CONNECT_GO) ## Download protoc-gen-connect-go locally if necessary.
$(PROTOC_GEN_CONNECT_GO): $(LOCALBIN)
	$(call go-install-tool,$(PROTOC_GEN_CONNECT_GO),connectrpc.com/connect/cmd/protoc-gen-connect-go,$(PROTOC_GEN_CONNECT_GO_VERSION))

HELM ?= $(LOCALBIN)/helm
HELM_VERSION ?= v3.22.0
# kubectl built from the Go module proxy at the envtest version; its built-in kustomize renders config/.
KUBECTL ?= $(shell hack/k8s-bins.sh kubectl)/kubectl

.PHONY: helm
helm: $(HELM) ## Download the Helm CLI locally (from the Go module proxy) if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

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

##@ Local cluster

# The local cluster's state dir; hack/local-cluster.sh documents its other settings.
LOCAL_CLUSTER_DIR ?= $(or $(XDG_STATE_HOME),$(HOME)/.local/state)/userservice-operator/local-cluster
export LOCAL_CLUSTER_DIR

.PHONY: local-cluster-up
local-cluster-up: ## Start the local cluster (etcd, apiserver, controller-manager, scheduler, kwok nodes) on loopback.
	hack/local-cluster.sh up

.PHONY: local-cluster-down
local-cluster-down: ## Stop every process the local cluster started and remove its state.
	hack/local-cluster.sh down

.PHONY: local-cluster-status
local-cluster-status: ## Show the local cluster's processes and its KUBECONFIG.
	hack/local-cluster.sh status

.PHONY: demo
demo: helm ## Local cluster, the operator installed with Helm, a UserService to Ready and through an upgrade.
	CGO_ENABLED=0 go build -o bin/manager ./cmd
	HELM="$(HELM)" hack/demo.sh up

.PHONY: demo-real
demo-real: helm images images-e2e ## As root: make demo on a real node, the operator as a pod, a user created with curl through the NodePort.
	HELM="$(HELM)" hack/demo.sh up --mode real-node

.PHONY: demo-real-down
demo-real-down: ## Stop everything make demo-real started and restore the machine (same as make demo-down).
	hack/demo.sh down

.PHONY: demo-down
demo-down: ## Stop everything make demo started and remove its state.
	hack/demo.sh down

.PHONY: test-e2e
test-e2e: helm ## Run the end-to-end suite (test/e2e) on its own local cluster, which it starts and tears down.
	$(GO_TEST_ENV) HELM="$(HELM)" go test $(GO_TEST_FLAGS) -tags e2e ./test/e2e/ -timeout 45m -v -ginkgo.v

.PHONY: test-e2e-real
test-e2e-real: helm ## Run the real-node end-to-end suite as root: operator and user service as pods on containerd, kubelet and kube-proxy.
	$(GO_TEST_ENV) HELM="$(HELM)" go test $(GO_TEST_FLAGS) -tags e2e,realnode ./test/e2e/ -timeout 30m -v -ginkgo.v

.PHONY: bench-scale
bench-scale: helm ## Run hack/bench/operator-scale.sh (N=500; pass BENCH_ARGS="-n 1000" for more).
	HELM="$(HELM)" hack/bench/operator-scale.sh $(BENCH_ARGS)
