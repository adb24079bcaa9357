# Burstline. `make test` is exactly what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: help test venv deploy-tools fmt fmt-check clippy unit lint-template bench check build deploy clean

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

test: venv fmt-check clippy lint-template unit ## Everything CI checks: format, lints, template lint, all tests (moto included)

venv: $(VENV)/.installed ## Python tools (moto, cfn-lint, aws-sam-cli) in .venv

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# `sam validate --lint` parses the template as SAM does and runs cfn-lint on it: it needs a
# region and no credentials. No telemetry; SAM's weekly PyPI version check goes to a closed
# loopback port through the proxy, so linting makes no network traffic; SAM's own state stays
# in .venv.
SAM_OFFLINE := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 __SAM_CLI_APP_DIR=$(CURDIR)/$(VENV)/sam-cli \
  HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=

lint-template: venv ## cfn-lint template.yaml and sam validate --lint
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM_OFFLINE) $(VENV)/bin/sam validate --lint --template-file template.yaml

unit: venv ## cargo test: unit, in-memory and moto-backed integration tests
	@mkdir -p target
	$(CARGO) test --workspace 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' target/test.log

check: ## Fast compile check while iterating
	$(CARGO) check --workspace --all-targets

bench: venv ## Benchmarks (not in CI): prints a table and rewrites BENCHMARKS.md
	$(CARGO) run --release -p burstline-tests --bin bench -- --moto
	$(CARGO) run --release -p burstline-tests --bin bench-deliver
	$(CARGO) run --release -p burstline-tests --bin bench_sse -- --moto

DEPLOY_VENV := $(VENV)/.deploy-tools

deploy-tools: $(DEPLOY_VENV) ## cargo-lambda (with zig) and aws-sam-cli in .venv

$(DEPLOY_VENV): requirements-deploy.txt | venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
	touch $@

build: deploy-tools ## cargo lambda build --release --arm64 for every function
	rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 \
	  --bin ingest --bin fanout --bin deliver --bin stream --bin api

deploy: deploy-tools ## sam build && sam deploy with infra/samconfig.toml (first time: see README)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" sam build --config-file infra/samconfig.toml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" sam deploy --config-file infra/samconfig.toml

clean:
	$(CARGO) clean
	rm -rf $(VENV)
