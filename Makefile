# consul-peering-guard: every command the README and CI use.
SHELL := /usr/bin/env bash
BIN := $(CURDIR)/bin
comma := ,
GO ?= go
CONTAINER_TOOL ?= docker
export PATH := $(BIN):$(PATH)

.PHONY: release publish node-tools cluster cluster-down thirdparty-crds graphs all build image image-docker test unit e2e generate manifests verify-generate vet fmt-check lint tools demo playground playground-stop image-build-check fuzz load bench bench-e2e bench-peers

all: build

# Stamped into the binary (consul-peering-guard version); without git, dev and unknown. One
# version everywhere: the binary's, the image tag, the chart's appVersion (hack/version.sh).
VERSION ?= $(shell hack/version.sh)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time, so that two builds of one commit are the same bytes (make image holds the
# binary make image-build-check checks); the current time outside a git checkout.
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_LDFLAGS = -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.buildDate=$(BUILD_DATE)
IMAGE ?= ghcr.io/consul-peering-guard/consul-peering-guard:$(VERSION)

build: ## Build the binary into bin/, stamped with VERSION, REVISION and BUILD_DATE (the commit date).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(VERSION_LDFLAGS)" -o $(BIN)/consul-peering-guard ./cmd/consul-peering-guard

image-build-check: ## Build the binary as the Dockerfile does (no Docker needed) and check it is static.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w $(VERSION_LDFLAGS)" -o $(BIN)/image/consul-peering-guard ./cmd/consul-peering-guard
	@$(GO) version -m $(BIN)/image/consul-peering-guard | grep -q 'build[[:space:]]*CGO_ENABLED=0' \
	  || { echo "bin/image/consul-peering-guard was not built with CGO_ENABLED=0: not static"; exit 1; }
	@echo "bin/image/consul-peering-guard: static (CGO_ENABLED=0)"

IMAGE_DIR ?= $(BIN)/image
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_CREATED ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image: ## Build the OCI image from scratch without Docker (amd64, arm64): $(IMAGE_DIR)/oci, consul-peering-guard-oci.tar, consul-peering-guard-linux-ARCH.tar.
	for p in $(IMAGE_PLATFORMS); do \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags="-s -w $(VERSION_LDFLAGS)" -o $(IMAGE_DIR)/$${p%/*}-$${p#*/}/consul-peering-guard ./cmd/consul-peering-guard || exit 1; \
	done
	$(GO) run ./hack/image -binaries $(IMAGE_DIR) -out $(IMAGE_DIR) -version $(VERSION) -revision $(IMAGE_REVISION) -created $(IMAGE_CREATED) \
	  -platforms $(subst $(eval) ,$(comma),$(IMAGE_PLATFORMS))

DIST ?= $(CURDIR)/dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
# The packaged chart's version: VERSION without the v (SemVer, as Helm wants).
CHART_VERSION = $(patsubst v%,%,$(VERSION))
release: ## Write DIST (dist/): the binaries (linux, darwin; amd64, arm64), the OCI image, the packaged chart, an SPDX SBOM, SHA256SUMS; all VERSION.
	@case "$(VERSION)" in v[0-9]*) ;; *) echo "VERSION $(VERSION) is not vX.Y.Z...: make release needs a git checkout"; exit 1;; esac
	hack/build-tools.sh helm
	rm -rf $(DIST) && mkdir -p $(DIST)/image
	for p in $(RELEASE_PLATFORMS); do \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags="-s -w $(VERSION_LDFLAGS)" -o $(DIST)/consul-peering-guard-$${p%/*}-$${p#*/} ./cmd/consul-peering-guard || exit 1; \
	  if [ "$${p%/*}" = linux ]; then mkdir -p $(DIST)/image/$${p%/*}-$${p#*/} && cp $(DIST)/consul-peering-guard-$${p%/*}-$${p#*/} $(DIST)/image/$${p%/*}-$${p#*/}/consul-peering-guard; fi; \
	done
	$(GO) run ./hack/image -binaries $(DIST)/image -out $(DIST)/image -version $(VERSION) -revision $(IMAGE_REVISION) -created $(IMAGE_CREATED) \
	  -platforms $(subst $(eval) ,$(comma),$(filter linux/%,$(RELEASE_PLATFORMS)))
	rm -rf $(DIST)/image/linux-*/
	$(BIN)/helm package charts/consul-peering-guard --version $(CHART_VERSION) --app-version $(VERSION) --destination $(DIST)
	$(GO) run ./hack/release sbom -binary $(DIST)/consul-peering-guard-linux-amd64 -version $(VERSION) -created $(IMAGE_CREATED) -out $(DIST)/consul-peering-guard.spdx.json
	$(GO) run ./hack/release checksums -dir $(DIST) $$(cd $(DIST) && ls consul-peering-guard-* consul-peering-guard.spdx.json image/*.tar)
	@echo "$(DIST): consul-peering-guard $(VERSION); image tag $(VERSION), chart $(CHART_VERSION) (appVersion $(VERSION))"

# PLAIN_HTTP=1 talks HTTP to the registry (a local one); log in first otherwise
# (docker login or crane auth login for the image, helm registry login for the chart).
publish: ## Push what make release wrote: the image to REGISTRY/consul-peering-guard:VERSION, the chart to oci://REGISTRY/consul-peering-guard:CHART_VERSION.
	@test -n "$(REGISTRY)" || { echo "make publish REGISTRY=host[:port]/path"; exit 1; }
	@test -f $(DIST)/consul-peering-guard-$(CHART_VERSION).tgz || { echo "$(DIST) holds no release $(VERSION): run make release"; exit 1; }
	$(GO) run ./hack/release push-image -layout $(DIST)/image/oci -ref $(REGISTRY)/consul-peering-guard:$(VERSION) $(if $(PLAIN_HTTP),-plain-http)
	$(BIN)/helm push $(DIST)/consul-peering-guard-$(CHART_VERSION).tgz oci://$(REGISTRY) $(if $(PLAIN_HTTP),--plain-http)

image-docker: ## Build the container image IMAGE with the Dockerfile and Docker (or CONTAINER_TOOL=podman), stamped like make build.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg BUILD_DATE=$(BUILD_DATE) -t $(IMAGE) .

tools: ## Build the test tools (kube-apiserver, kube-controller-manager, etcd, kubectl, helm, controller-gen, golangci-lint) when missing.
	hack/build-tools.sh

generate: manifests thirdparty-crds ## Regenerate deepcopy code, the test CRDs, the generated tables of README.md and docs/, the chart's kind table and description, the policy cases and chart template, and deploy/.
	hack/build-tools.sh controller-gen
	$(BIN)/controller-gen object paths=./api/...
	$(BIN)/controller-gen crd paths=./api/... output:crd:artifacts:config=test/crds
	$(GO) run ./hack/gendocs
	$(GO) test ./validators -count=1 -update-vap-cases
	$(GO) run ./hack/genvap

thirdparty-crds: ## The CRDs the tests install but the chart never does: OpenReports' from its Go module, prometheus-operator's generated from its API types.
	hack/build-tools.sh controller-gen
	mkdir -p test/thirdparty-crds
	dir=$$($(GO) list -m -f '{{.Dir}}' github.com/openreports/reports-api) && \
	  for f in openreports.io_reports.yaml openreports.io_clusterreports.yaml; do install -m 0644 "$$dir/config/crd/$$f" test/thirdparty-crds/$$f; done
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(BIN)/controller-gen crd paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:artifacts:config="$$tmp" && \
	  for f in monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml; do install -m 0644 "$$tmp/$$f" test/thirdparty-crds/$$f; done

graphs: ## Redraw the check graphs of docs/images from examples/ (needs Graphviz's dot for the SVGs).
	$(GO) run ./cmd/consul-peering-guard check -o dot -f examples/peering > docs/images/peering.dot
	$(GO) run ./cmd/consul-peering-guard check -o dot -f examples/peering-mistakes/import-not-exported > docs/images/peering-import-not-exported.dot; test $$? -eq 1
	dot -Tsvg docs/images/peering.dot -o docs/images/peering.svg
	dot -Tsvg docs/images/peering-import-not-exported.dot -o docs/images/peering-import-not-exported.svg

# The Kubernetes version helm template renders for: bin/helm, built from source, assumes 1.20,
# which the chart's kubeVersion refuses. The templates do not read .Capabilities.
KUBE_VERSION ?= 1.37.2

manifests: ## Render deploy/ (plain manifests for kustomize) from the Helm chart with default values.
	hack/build-tools.sh helm
	{ echo "# Generated by make manifests from charts/consul-peering-guard with default values; do not edit."; \
	  $(BIN)/helm template consul-peering-guard charts/consul-peering-guard --namespace consul-peering-guard --kube-version $(KUBE_VERSION); \
	} > deploy/consul-peering-guard.yaml.tmp
	mv deploy/consul-peering-guard.yaml.tmp deploy/consul-peering-guard.yaml

verify-generate: generate ## Fail when generated files are not up to date.
	@git diff --exit-code -- api test/crds test/thirdparty-crds test/vap/testdata README.md docs deploy charts/consul-peering-guard/Chart.yaml charts/consul-peering-guard/templates/_kinds.tpl charts/consul-peering-guard/templates/_settings.tpl charts/consul-peering-guard/templates/validatingadmissionpolicies.yaml || { echo "generated files are stale: run make generate and commit"; exit 1; }

vet:
	$(GO) vet ./...

lint: ## golangci-lint v2 with the committed .golangci.yml.
	hack/build-tools.sh golangci-lint
	$(BIN)/golangci-lint run ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

unit: ## Unit, handler and CLI tests (no API server).
	$(GO) test -race $$($(GO) list ./... | grep -v /test/)

e2e: ## End-to-end and chart tests against the real kube-apiserver, etcd, kubectl and helm from bin/.
	hack/build-tools.sh etcd kube-apiserver kubectl helm
	KUBEBUILDER_ASSETS=$(BIN) $(GO) test -count=1 -timeout=30m ./test/...

test: tools fmt-check vet lint verify-generate unit e2e ## Everything CI runs.

node-tools: ## Build the node of make cluster when missing: kube-scheduler, kubelet, kube-proxy, and cert-manager for make playground (not part of make tools).
	hack/build-tools.sh kube-scheduler kubelet kube-proxy cert-manager

CLUSTER_DIR ?= $(CURDIR)/tmp/cluster
NODE_ARCH ?= $(shell $(GO) env GOARCH)
cluster: tools node-tools image ## A real single-node cluster (docs/cluster.md) with the image of make image imported; prints the KUBECONFIG export. Needs root and hack/node-packages.sh.
	hack/build-tools.sh etcd kube-apiserver kube-controller-manager kubectl
	CLUSTER_IMAGES=$(IMAGE_DIR)/consul-peering-guard-linux-$(NODE_ARCH).tar hack/cluster.sh up $(CLUSTER_DIR)

cluster-down: ## Stop make cluster and remove everything it made (processes, mounts, namespaces, cgroups).
	hack/cluster.sh down $(CLUSTER_DIR)

demo: ## Guided tour: local API server, the webhook, kubectl applying good and bad manifests.
	hack/build-tools.sh etcd kube-apiserver kubectl
	$(GO) run ./hack/demo

playground: tools node-tools image ## The real node of make cluster with cert-manager and the chart installed by the README's install command, examples/valid applied; prints the KUBECONFIG export. Needs root.
	hack/playground.sh start

playground-stop: ## Stop everything make playground started.
	hack/playground.sh stop

FUZZTIME ?= 60s
fuzz: ## Run every fuzz target for FUZZTIME each (the corpus is replayed by make test).
	$(GO) test ./validators/ -run='^$$' -fuzz='^FuzzValidateJSON$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s
	$(GO) test ./validators/ -run='^$$' -fuzz='^FuzzValidPeerName$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s
	$(GO) test ./validators/ -run='^$$' -fuzz='^FuzzProxyConfig$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s
	$(GO) test ./validators/ -run='^$$' -fuzz='^FuzzParseUpstreamAnnotation$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s
	$(GO) test ./internal/manifest/ -run='^$$' -fuzz='^FuzzRead$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s
	$(GO) test ./webhook/ -run='^$$' -fuzz='^FuzzAdmissionReview$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s

LOAD_COUNT ?= 200000
LOAD_WORKERS ?= 16
load: ## The long load test (LOAD_COUNT reviews over TLS from LOAD_WORKERS connections; figures in bin/load.json), then the attacks of the bounds tests with their RSS.
	hack/build-tools.sh etcd kube-apiserver kubectl
	$(GO) test -count=1 -v ./test/reliability/ -run '^(TestLoadWithoutLoss|TestOneObjectCannotTakeItDown|TestLargestObjectsAreJudgedOneAtATime|TestHalfOpenConnectionsKeepMemoryBounded)$$' -timeout 30m \
	  -args -load.count=$(LOAD_COUNT) -load.workers=$(LOAD_WORKERS) -load.duration=10m -load.report=$(BIN)/load.json

bench: ## Validator micro-benchmarks, then the HTTPS load benchmark: webhook vs floor server, same run.
	$(GO) test ./validators/ ./webhook/ -run='^$$' -bench=. -benchmem -benchtime=2000x
	$(GO) run ./hack/bench -duration=4s -out=$(BIN)/bench.md

bench-e2e: ## Added latency through kube-apiserver: none vs webhook vs ValidatingAdmissionPolicy; memory at scale.
	hack/build-tools.sh etcd kube-apiserver kubectl
	$(GO) run ./hack/bench-e2e -out=$(BIN)/bench-e2e.md

bench-peers: ## consul-peering-guard beside Gatekeeper and Kyverno enforcing the same three rules: parity, latency, throughput, memory, start (builds both into bin/ on first use).
	hack/build-tools.sh etcd kube-apiserver kubectl gatekeeper kyverno
	$(GO) run ./hack/bench-peers -out=$(BIN)/bench-peers.md
