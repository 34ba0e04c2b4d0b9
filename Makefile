# hbctl: make demo runs the whole experiment locally; make test runs every test.
GO      ?= go
TOOLS   := $(CURDIR)/.tools
BIN     := $(CURDIR)/bin
HBCTL   := $(BIN)/hbctl
INFLUXD := $(TOOLS)/bin/influxd
STATICCHECK := $(TOOLS)/bin/staticcheck

export HBCTL_BIN := $(HBCTL)
export HBCTL_INFLUXD := $(INFLUXD)

.PHONY: all build test deploy-test unit bench bench-system jq lint demo docs soak tools chromium clean

all: build

build:
	$(GO) build -o $(HBCTL) ./cli/hbctl

# Everything: vet, unit tests, fuzz seed corpora, integration and end-to-end
# tests against real processes and a real InfluxDB. The end-to-end tests run
# real processes and compare per-second counts, so they run alone, after the
# rest, where other packages' tests cannot starve them of CPU.
test: build tools
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m $$($(GO) list ./... | grep -v /coordinator/e2e)
	$(MAKE) deploy-test
	$(GO) test -count=1 -timeout 10m ./coordinator/e2e

# The Kubernetes manifests and systemd units (deploy/, a module of its own):
# kustomize rendering, strict decoding into k8s.io/api types, hbctl's flags
# against bin/hbctl --help, systemd-analyze verify.
deploy-test: build
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 -timeout 5m ./...

# Unit tests only, with the race detector.
unit:
	$(GO) test -race -count=1 -short ./...

bench: build
	scripts/bench.sh

# The whole system paced on loopback (docs/benchmarks.md); flags in
# BENCH_SYSTEM, e.g. make bench-system BENCH_SYSTEM='--rates 10000 --seconds 10'.
bench-system: build jq
	scripts/bench.sh system $(BENCH_SYSTEM)

jq:
	@command -v jq >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq; } || { echo "the system sweep needs jq"; exit 1; }

# The fault soak for 30 minutes (make test runs it for one): servers, agents
# and the coordinator killed and restarted, connections reset, an agent cut
# off, under load with releases; verify must reconcile, then catch one cent
# injected into a journal. Its figures (faults, resets, records, unknown
# outcomes, verify's table) are kept in soak.log.
soak: build
	HBCTL_SOAK_DURATION=30m $(GO) test -count=1 -timeout 45m -run '^TestFaultSoak$$' -v ./coordinator/e2e >soak.log 2>&1; \
	s=$$?; grep -v '^        time=' soak.log | tail -40; exit $$s

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd deploy && $(GO) vet ./... && $(STATICCHECK) ./...

demo: build
	$(HBCTL) demo

# docs/cli.md is generated from the command tree; TestCLIDocsCurrent (cli/app)
# fails until it is regenerated after a command or flag changed.
docs:
	$(GO) run ./cli/hbctl docs --out docs/cli.md

tools: $(INFLUXD) chromium

# The report test renders in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || echo "install chromium for the report test"

$(INFLUXD):
	scripts/influxdb.sh install $(TOOLS)

$(STATICCHECK):
	GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@latest

clean:
	rm -rf $(BIN)
