# gigbridge developer entry points. Everything installs itself on first use.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKA_DIR := .local/kafka

.PHONY: help install tools kafka-up kafka-down run test test-unit test-reliability screenshots clean

help:
	@echo "make run         start a local Kafka broker, the hub worker and simulated platforms"
	@echo "make test        install everything and run the whole test suite (real Kafka broker)"
	@echo "make screenshots the console's browser tests, refreshing docs/console/*.png"
	@echo "make kafka-up    start (or reuse) the local broker; writes .local/kafka.env"
	@echo "make kafka-down  stop the local broker (data is kept)"

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "java (JDK 17+) is required"; exit 2; }
	@command -v mvn >/dev/null || { echo "maven (mvn) is required"; exit 2; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Every command-line tool the suite needs (java, mvn, promtool, kcat, ...): installed with apt as
# root, otherwise the exact apt-get line is printed and make stops (exit 2).
tools:
	@scripts/ensure-tools.sh

kafka-up: $(STAMP)
	$(BIN)/python -m deploy.kafka.local up --dir $(KAFKA_DIR)

kafka-down: $(STAMP)
	$(BIN)/python -m deploy.kafka.local down --dir $(KAFKA_DIR)

run: kafka-up
	set -a; source .local/kafka.env; set +a; $(BIN)/gigbridge demo

# Everything, the reliability suite with its reduced CI sizes (3 kill -9 trials, 20,000 fuzzed
# messages, 3,000 fuzzed requests, a 20 s insurer outage); `make test-reliability` is the full set.
test: tools $(STAMP) k8s-tools
	$(BIN)/python -m schemas.compat
	$(BIN)/pytest --durations=15  # the slowest tests, to keep the whole run within its ~25 min budget

# Fault injection (kill -9, broker restarts, 3-broker failover, insurer outage, rebalance, fuzz of
# the ingest topics and of the HTTP gateway, slow-loris and floods, alerts replayed through
# promtool) with a ledger of every input offset, at full size (10 trials, 100,000 cases, 60 s outage).
test-reliability: tools $(STAMP)
	GIGBRIDGE_RELIABILITY_FULL=1 GIGBRIDGE_RELIABILITY_TRIALS=$${GIGBRIDGE_RELIABILITY_TRIALS:-10} GIGBRIDGE_FUZZ_CASES=$${GIGBRIDGE_FUZZ_CASES:-100000} \
	GIGBRIDGE_GATEWAY_FUZZ_CASES=$${GIGBRIDGE_GATEWAY_FUZZ_CASES:-100000} GIGBRIDGE_RELIABILITY_CASES=$${GIGBRIDGE_RELIABILITY_CASES:-96} \
	GIGBRIDGE_RELIABILITY_OUTAGE_S=$${GIGBRIDGE_RELIABILITY_OUTAGE_S:-60} $(BIN)/pytest tests/reliability -o timeout=1800

# The console's browser tests, writing the office guide's screenshots (docs/console/) to commit.
screenshots: tools $(STAMP)
	GIGBRIDGE_SCREENSHOT_DIR=$(CURDIR)/docs/console $(BIN)/pytest tests/browser

test-unit: $(STAMP)
	$(BIN)/pytest -m "not kafka"

clean:
	rm -rf .local/worker .pytest_cache

# --- Kubernetes manifest tools for tests/deploy/test_k8s.py (which also calls these targets) ---
# kustomize from the Go module proxy (without Go: nothing is built and the test skips); checkov
# in its own venv (its pinned dependencies clash with the suite's).
KUSTOMIZE_VERSION := v5.8.1
CHECKOV_VERSION := 3.3.30
.PHONY: k8s-tools
k8s-tools: .local/bin/kustomize .local/checkov/bin/checkov

.local/bin/kustomize:
	@if command -v go >/dev/null; then GOBIN=$(CURDIR)/.local/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); \
	else echo "go not found: kustomize not built, tests/deploy/test_k8s.py will skip its kustomize checks"; fi

.local/checkov/bin/checkov:
	test -x .local/checkov/bin/python || $(PY) -m venv .local/checkov
	.local/checkov/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'

# --- benchmarks: not part of `make test`; see docs/performance.md -------------------------
# Own broker in .local/bench-kafka, left running for the next run (`.venv/bin/python -m bench down`
# stops it); results in bench/results/<UTC timestamp>.{json,md}. py-spy is for the profile phase.
.PHONY: bench bench-quick bench-orders soak
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q 'py-spy>=0.3.14'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench run $(BENCH_ARGS)
	$(BIN)/python -m bench orders $(ORDERS_BENCH_ARGS)

# The order firehose alone (issue #20): passthrough, hub and the Faust peer on the same orders.
bench-orders: $(STAMP)
	$(BIN)/python -m bench orders $(ORDERS_BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench run --quick $(BENCH_ARGS)

soak: $(STAMP)
	$(BIN)/python -m bench soak $(SOAK_ARGS)
