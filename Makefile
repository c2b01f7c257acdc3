# filegate: every target installs what it needs first (idempotent), so a fresh machine needs
# nothing but `make local` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The demo page's browser bundle (local/demo/build.mjs), built by `make local` and `make setup-local`.
DEMO_BUNDLE := .build/demo/uppy.js
# Node 22 and the CDK CLI come from package.json; put them (and the venv) first on PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR):$(CURDIR)/lambdas
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
# The Lambda runtime's Python: the venv is built with it so tests run on the deployed version.
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
ENV ?= dev
PYTEST_ARGS ?=

.PHONY: help setup setup-local demo-bundle synth test test-unit test-infra test-e2e lint deploy bootstrap local bench openapi clean verify drift

help:
	@echo "make local            run filegate on 127.0.0.1 (S3, KMS, API, edge, demo page)"
	@echo "make test             lint, type-check and run every test layer"
	@echo "make synth            synthesize every environment into cdk.out + docs/compliance.md"
	@echo "make deploy ENV=dev   cdk deploy one environment (its stage: Dev/*)"
	@echo "make verify ENV=dev   check a live deployment from outside (TARGET=local: a running make local)"
	@echo "make drift ENV=dev    cdk drift --fail on one environment's stacks"
	@echo "make bench            benchmarks, figures in benchmarks/results/"

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/requirements.txt lambdas/requirements-tracing.txt lambdas/requirements-secret-signer.txt lambdas/requirements-verifier.txt lambdas/requirements-revocations.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=" >&2; exit 1; }
	@test -x $(PY) && $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || { rm -rf $(VENV); $(PYTHON313) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup-local: setup $(DEMO_BUNDLE)
	bash local/install.sh

# The demo's Uppy example (local/demo/uppy.html), bundled for the browser offline by the esbuild
# pinned in package.json; served by the demo page from .build/demo/ (gitignored).
$(DEMO_BUNDLE): node_modules/.installed local/demo/build.mjs local/demo/uppy.js local/demo/filegate-client.js
	node local/demo/build.mjs

demo-bundle: $(DEMO_BUNDLE)

synth: setup
	rm -rf cdk.out
	cdk synth --quiet
	$(PY) -m stacks.compliance_report cdk.out --output docs/compliance.md
	@echo "templates, nag reports: cdk.out/   auditor summary: docs/compliance.md"

lint: setup
	ruff check .
	mypy
	actionlint .github/workflows/*.yml

# Unit and infrastructure tests on both cores (pytest-xdist); then the end-to-end layer, which starts
# one local mode for the whole session, in one process.
test: setup setup-local lint
	pytest tests/unit tests/infra -n 2 $(PYTEST_ARGS)
	pytest tests/e2e $(PYTEST_ARGS)

test-unit: setup
	pytest tests/unit $(PYTEST_ARGS)

test-infra: setup
	pytest tests/infra $(PYTEST_ARGS)

test-e2e: setup-local
	pytest tests/e2e $(PYTEST_ARGS)

openapi: setup
	$(PY) -m filegate.openapi > docs/openapi.json

bootstrap: setup
	@test -n "$(ACCOUNT)" || { echo "usage: make bootstrap ACCOUNT=123456789012 ENV=$(ENV)" >&2; exit 1; }
	cdk bootstrap aws://$(ACCOUNT)/us-east-1 aws://$(ACCOUNT)/$$($(PY) -c 'from stacks.config import load_environment as l; print(l("$(ENV)").region)')

# One environment's FilegateStage (e.g. Dev/*): its three stacks in dependency order. A terminal is
# needed for the broadening prompt; pipelines use theirs (docs/deployment.md).
STAGE_OF_ENV = $$($(PY) -c 'from stacks.config import load_environment; from stacks.stage import stage_id; print(stage_id(load_environment("$(ENV)")))')
deploy: setup
	cdk deploy -c env=$(ENV) "$(STAGE_OF_ENV)/*" --require-approval broadening

# The deployment verifier (docs/deployment.md): ENV's stack outputs from CloudFormation, or
# OUTPUTS=<cdk deploy --outputs-file> or OUTPUTS=env (FILEGATE_* variables, as the pipeline sets them);
# TARGET=local checks a running `make local` with the same code.
TARGET ?=
OUTPUTS ?=
verify: setup
	$(PY) -m verify_deployment $(if $(filter local,$(TARGET)),--target local,--env $(ENV) $(if $(filter env,$(OUTPUTS)),--outputs-from-env,$(if $(OUTPUTS),--outputs $(OUTPUTS))))

# Drift of one environment's stacks (its FilegateStage, e.g. Dev/*): exit 1 on any drift.
drift: setup
	cdk drift --fail -c env=$(ENV) "$(STAGE_OF_ENV)/*"

LOCAL_ARGS ?=
local: $(VENV)/.installed $(DEMO_BUNDLE)
	bash local/install.sh
	$(PY) -m local --env $(ENV) $(LOCAL_ARGS)

bench: setup setup-local
	mkdir -p benchmarks/results
	$(PY) benchmarks/bench_minting.py
	$(PY) benchmarks/bench_local.py
	$(PY) benchmarks/bench_verifier.py
	$(PY) benchmarks/bench_lifecycle.py
	$(PY) benchmarks/bench_front_door.py

clean:
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache .hypothesis
