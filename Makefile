# akash-janitor: build, test, run the simulated provider cluster, demo, bench.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
MODULE    := github.com/akash-janitor/akash-janitor
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X $(MODULE)/lib/version.Version=$(VERSION) -X $(MODULE)/lib/version.Commit=$(COMMIT)
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION  := v1.7.12
# Tools built by ci/tools.sh live in a cache outside the clone (see there).
TOOLS_DIR  = $(shell ci/tools.sh)
LINT_BIN  := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/akash-janitor/lint-$(STATICCHECK_VERSION)
TEST_TIMEOUT ?= 25m

.PHONY: build
build: ## every binary under bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./jobs/... ./cmd/kubectl-janitor ./ci/simcluster

.PHONY: tools
tools: ## build the simulated cluster's components (cached; seconds once built)
	@echo "simulated cluster tools in $(TOOLS_DIR)"

.PHONY: test
test: tools lint ## lint, then every test, the simulated cluster included
	AKASH_JANITOR_TOOLS=$(TOOLS_DIR) $(GO) test -timeout $(TEST_TIMEOUT) $(GOTESTFLAGS) ./...

.PHONY: release-dry
release-dry: ## what a tag would publish, built here: the chart package (checked against the images) and every image for both platforms
	$(GO) run ./ci/release package --version 0.0.0-dry --out dist/release
	$(GO) run ./ci/release check --version 0.0.0-dry --out dist/release
	VERSION=0.0.0-dry ci/images.sh build

.PHONY: chart-docs
chart-docs: ## write charts/akash-janitor/README.md from the comments of its values.yaml
	$(GO) run ./ci/chartdoc

.PHONY: unit
unit: ## the pure tests alone, in seconds, without the simulated cluster, podman or bc (go test -short)
	$(GO) test -short $(GOTESTFLAGS) ./...

.PHONY: lint
lint: ## no tracked binaries or big files, gofmt, go vet, staticcheck, go mod tidy, actionlint, kubeconform and kube-score on the chart
	ci/check-tracked.sh
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@[ -x $(LINT_BIN)/staticcheck ] || GOBIN=$(LINT_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(LINT_BIN)/staticcheck ./...
	@[ -x $(LINT_BIN)/actionlint-$(ACTIONLINT_VERSION) ] || { GOBIN=$(LINT_BIN) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION) && mv $(LINT_BIN)/actionlint $(LINT_BIN)/actionlint-$(ACTIONLINT_VERSION); }
	$(LINT_BIN)/actionlint-$(ACTIONLINT_VERSION) -shellcheck= -pyflakes= .github/workflows/*.yaml
	ci/scan-chart.sh
	@cp go.mod /tmp/akash-janitor-go.mod.$$$$ && cp go.sum /tmp/akash-janitor-go.sum.$$$$; \
	  $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/akash-janitor-go.mod.$$$$ || ! cmp -s go.sum /tmp/akash-janitor-go.sum.$$$$; then \
	    echo "go.mod/go.sum are not tidy: run go mod tidy"; rm -f /tmp/akash-janitor-go.*.$$$$; exit 1; fi; \
	  rm -f /tmp/akash-janitor-go.*.$$$$

.PHONY: sim-up
sim-up: build ## start the simulated provider cluster; kubeconfig in .sim/kubeconfig
	AKASH_JANITOR_TOOLS=$(TOOLS_DIR) bin/simcluster start --dir .sim

.PHONY: sim-down
sim-down: ## stop the simulated cluster started by sim-up
	@if [ -x bin/simcluster ]; then bin/simcluster stop --dir .sim; else $(GO) run ./ci/simcluster stop --dir .sim; fi

.PHONY: demo
demo: build ## run the product on a simulated provider cluster and say what it did
	AKASH_JANITOR_TOOLS=$(TOOLS_DIR) $(GO) run ./ci/demo --bin bin

.PHONY: bench
bench: build ## the scale benchmarks (README "Figures"); BENCH_RUNBOOK=<dir of the runbook's scripts> runs them beside ours
	AKASH_JANITOR_TOOLS=$(TOOLS_DIR) $(GO) test -run '^$$' -p 1 -bench . -benchtime 1x -timeout 90m ./jobs/force-replicasets/ ./jobs/zombie-reaper/ ./jobs/dangling-deployments/ ./jobs/kill-lease-by-image/
	AKASH_JANITOR_TOOLS=$(TOOLS_DIR) $(GO) test -run '^$$' -bench . -benchtime 2s -timeout 10m ./jobs/bid-price/

.PHONY: images
images: ## one image per binary, linux/amd64 and linux/arm64 (podman or docker buildx)
	ci/images.sh build

.PHONY: push
push: ## push the images and their multi-arch manifests to $$REGISTRY
	ci/images.sh push

.PHONY: clean
clean:
	rm -rf bin dist

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
