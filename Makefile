# zonecast: every target is a thin wrapper around a script in scripts/.
SHELL := /bin/bash
GO    ?= go

.PHONY: all help build test demo bench fuzz deb deps clean fmt vet screenshots

all: build

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 8

build: ## build zonecast-syncer, zonecast-watcher, zonecast-gateway, zonecast-signer and zonecast-register into bin/
	$(GO) build -o bin/zonecast-syncer ./cmd/syncer
	$(GO) build -o bin/zonecast-watcher ./cmd/watcher
	$(GO) build -o bin/zonecast-gateway ./cmd/gateway
	$(GO) build -o bin/zonecast-signer ./cmd/signer
	$(GO) build -o bin/zonecast-register ./cmd/register

deps: ## install what tests and the demo need (idempotent)
	scripts/deps.sh all

test: ## install what tests need and run them all
	scripts/test.sh

demo: ## start NATS, PowerDNS and the syncer, publish records, dig them
	scripts/demo.sh

bench: ## run the benchmarks against a real PowerDNS
	scripts/bench.sh

screenshots: ## take the web page's screenshots (docs/img/web-*.png) in a real browser, with its end-to-end test
	scripts/deps.sh pdns gateway browser
	ZONECAST_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run '^TestWebDdclient$$' ./cmd/gateway

fuzz: ## fuzz every fuzz target for FUZZTIME each (default 60s); table of corpora and crashes
	scripts/fuzz.sh

deb: ## build .deb packages into dist/
	scripts/deb.sh

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet ./...
	$(GO) vet ./...

clean: ## remove bin/ and dist/
	rm -rf bin dist
