# consul-peering-guard: every command the README and CI use.
SHELL := /usr/bin/env bash
BIN := $(CURDIR)/bin
GO ?= go
export PATH := $(BIN):$(PATH)

.PHONY: all build test unit e2e generate verify-generate vet fmt-check lint tools demo

all: build

build: ## Build the binary into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/consul-peering-guard ./cmd/consul-peering-guard

tools: ## Build the test tools (kube-apiserver, etcd, kubectl, helm, controller-gen, golangci-lint) when missing.
	hack/build-tools.sh

generate: ## Regenerate deepcopy code, the test CRDs and the README rule table.
	hack/build-tools.sh controller-gen
	$(BIN)/controller-gen object paths=./api/...
	$(BIN)/controller-gen crd paths=./api/... output:crd:artifacts:config=test/crds
	$(GO) run ./hack/gendocs

verify-generate: generate ## Fail when generated files are not up to date.
	@git diff --exit-code -- api test/crds README.md docs || { echo "generated files are stale: run make generate and commit"; exit 1; }

vet:
	$(GO) vet ./...

lint: ## golangci-lint v2 with the committed .golangci.yml.
	hack/build-tools.sh golangci-lint
	$(BIN)/golangci-lint run ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

unit: ## Unit, handler and CLI tests (no API server).
	$(GO) test $$($(GO) list ./... | grep -v /test/)

e2e: ## End-to-end tests against the real kube-apiserver, etcd and kubectl from bin/.
	hack/build-tools.sh etcd kube-apiserver kubectl
	$(GO) test -count=1 ./test/...

test: tools fmt-check vet lint verify-generate unit e2e ## Everything CI runs.

demo: ## Guided tour: local API server, the webhook, kubectl applying good and bad manifests.
	hack/build-tools.sh etcd kube-apiserver kubectl
	$(GO) run ./hack/demo
