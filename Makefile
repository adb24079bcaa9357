# Burstline. `make test` is exactly what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: help dev browser-deps test venv deploy-tools fmt fmt-check clippy unit contract lint-template bench bench-model bench-coldstart check build deploy localstack clean

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

dev: ## Run the whole stack locally: demo page, API and SSE at http://127.0.0.1:8787 (DEV_ARGS=...)
	$(CARGO) run --quiet -p burstline-cli --bin burstline -- dev $(DEV_ARGS)

test: venv browser-deps fmt-check clippy lint-template unit ## Everything CI checks: format, lints, template lint, all tests (moto, browser included)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser-deps: ## Debian's chromium + chromium-driver, for the demo page's browser test
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "installing chromium and chromium-driver (Debian packages)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

venv: $(VENV)/.installed ## Python tools (moto, cfn-lint, aws-sam-cli, schemathesis) in .venv

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
	$(CARGO) test --workspace --no-fail-fast 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' target/test.log

# Part of `unit` too (cli/tests/openapi.rs, cli/tests/contract.rs); this shows Schemathesis's report.
contract: venv ## The API contract: docs/openapi.json validates and matches the routers; Schemathesis against burstline dev
	$(CARGO) test -p burstline-cli --test openapi --test contract -- --nocapture

check: ## Fast compile check while iterating
	$(CARGO) check --workspace --all-targets

bench: venv ## Benchmarks (not in CI): prints a table and rewrites BENCHMARKS.md
	$(CARGO) run --release -p burstline-tests --bin bench -- --moto
	$(CARGO) run --release -p burstline-tests --bin bench-deliver
	$(CARGO) run --release -p burstline-tests --bin bench_sse -- --moto
	$(MAKE) bench-model
	$(MAKE) bench-coldstart

bench-model: ## issue #11's seed burst and agent runs against burstline dev --aws-model standard|efo (modeled), into BENCHMARKS.md
	$(CARGO) build --release -p burstline-cli --bin burstline
	$(CARGO) run --release -p burstline-tests --bin bench-model -- target/release/burstline

bench-coldstart: ## Start → ready-for-first-invoke per function (x86_64 release binaries), zip sizes from make build
	$(CARGO) build --release $(addprefix -p ,$(FUNCTIONS))
	$(CARGO) run --release -p burstline-tests --bin bench-coldstart

DEPLOY_VENV := $(VENV)/.deploy-tools
FUNCTIONS := ingest fanout deliver stream api
LAMBDA_TARGET := aarch64-unknown-linux-gnu

deploy-tools: $(DEPLOY_VENV) ## cargo-lambda and zig (ziglang) in .venv

$(DEPLOY_VENV): requirements-deploy.txt | venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
	touch $@

# zig (from the ziglang package) links for Amazon Linux 2023 on arm64; cargo-lambda finds it
# as `python3 -m ziglang` with .venv/bin first on PATH.
build: deploy-tools ## cargo lambda build --release --arm64: target/lambda/<fn>/bootstrap.zip for every function
	rustup target list --installed | grep -qx $(LAMBDA_TARGET) || rustup target add $(LAMBDA_TARGET)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip \
	  $(addprefix --bin ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do ls -l target/lambda/$$f/bootstrap.zip; done

deploy: deploy-tools ## sam build && sam deploy with infra/samconfig.toml (first time: see README)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" sam build --config-file infra/samconfig.toml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" sam deploy --config-file infra/samconfig.toml $(DEPLOY_ARGS)

LOCALSTACK_VENV := $(VENV)/.localstack-tools
LOCALSTACK_URL ?= http://localhost.localstack.cloud:4566
LOCAL_STACK_NAME ?= burstline-local
# A fixed secret is fine on LocalStack only; a real stack takes it from Secrets Manager or SSM.
LOCAL_STREAM_TOKEN_SECRET ?= localstack-only-stream-token-secret-0123456789

$(LOCALSTACK_VENV): requirements-localstack.txt | venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-localstack.txt
	touch $@

# For machines with Docker and a running LocalStack (`LOCALSTACK_AUTH_TOKEN=… localstack start -d`):
# LocalStack images need an auth token to start. Not part of `make test` or CI (no Docker there).
# LocalStack runs the stream function's RESPONSE_STREAM URL buffered: an SSE response arrives
# whole when the stream ends, so use a short STREAM_LIFETIME_SECONDS there or test streaming
# with `burstline dev`/the loopback server instead.
localstack: build $(LOCALSTACK_VENV) ## Deploy the template to a running LocalStack with samlocal (needs Docker; see README)
	@curl -sf "$(LOCALSTACK_URL)/_localstack/health" >/dev/null || { \
	  echo "no LocalStack at $(LOCALSTACK_URL): start it with LOCALSTACK_AUTH_TOKEN set (see README, Deploying → LocalStack)"; exit 1; }
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AWS_ENDPOINT_URL="$(LOCALSTACK_URL)" samlocal build --config-file infra/samconfig.toml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AWS_ENDPOINT_URL="$(LOCALSTACK_URL)" samlocal deploy --config-file infra/samconfig.toml \
	  --stack-name $(LOCAL_STACK_NAME) --region us-east-1 --no-confirm-changeset \
	  --parameter-overrides StreamTokenSecret=$(LOCAL_STREAM_TOKEN_SECRET) StreamLifetimeSeconds=60
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AWS_ENDPOINT_URL="$(LOCALSTACK_URL)" awslocal cloudformation describe-stacks \
	  --region us-east-1 --stack-name $(LOCAL_STACK_NAME) --query 'Stacks[0].Outputs' --output table

clean:
	$(CARGO) clean
	rm -rf $(VENV)
