# Tasks for working on this repository (`make help` lists them; CONTRIBUTING.md says when to use which).
# Run them inside the project venv (`make setup`, then `. .venv/bin/activate`), or pass PYTHON=.venv/bin/python.
# `make test` is the README's test command, which CI (.ci/run) runs on a clean checkout.

PYTHON ?= python
PYTEST := $(PYTHON) -m pytest -q

.DEFAULT_GOAL := help
.PHONY: help setup lint test test-fast test-unit test-contract test-sdk test-local-service test-images test-e2e test-reliability docs docs-check \
	golden aws-sdks main-job quick

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-17s %s\n", $$1, $$2}'

setup: ## the README's setup: .venv with the CPU torch wheel, then the project and its dev extra
	python3 -m venv .venv
	.venv/bin/python -m pip install torch==2.13.0
	.venv/bin/python -m pip install -e ".[dev]"

lint: ## ruff check (the linter of the README's test command)
	$(PYTHON) -m ruff check .

test: ## the README's test command, as written there (what CI runs): lint, then every tier
	ruff check . && python -m pytest -q

test-fast: ## every tier without the tests marked slow (the main job, the notebook, long trainings)
	$(PYTEST) -m "not slow"

test-unit: ## tests/unit: in-process, no servers
	$(PYTEST) tests/unit

test-contract: ## tests/contract: the real train/serve programs on a temporary /opt/ml, HTTP on loopback
	$(PYTEST) tests/contract

test-sdk: ## tests/sdk: the SDK against the real local store and containers (AWS only through botocore's Stubber)
	$(PYTEST) tests/sdk

test-local-service: ## tests/local_service: the local SageMaker service driven by boto3, the AWS CLI and AWS's SDK v2/v3
	$(PYTEST) tests/local_service

test-images: ## tests/images: both CPU images built and run under podman, and AWS's SDK local mode (v1/v2/v3) on them
	$(PYTEST) tests/images

test-e2e: ## tests/e2e: the notebook and the main job (needs the 20 Newsgroups archive and Chromium)
	$(PYTEST) tests/e2e

test-reliability: ## tests/reliability: faults, fuzzing, hostile artifacts, load
	$(PYTEST) tests/reliability

docs: ## regenerate docs/hyperparameters.md from the containers' declarations
	$(PYTHON) docs/make_hyperparameters.py

docs-check: ## the tests that compare the docs with the code
	$(PYTEST) tests/unit/test_docs.py tests/unit/test_contract_doc.py

golden: ## rewrite tests/golden/recordio/ with AWS's SDK v1 writers (in its cached venv), then show what changed
	"$$($(PYTHON) -c 'from tests.aws_sdks import aws_sdk_python; print(aws_sdk_python("v1"))')" \
		tests/golden/make_recordio_golden.py
	git status --short tests/golden

aws-sdks: ## build the cached venvs of AWS's SDKs v1, v2, v3 and the AWS CLI ahead of a test run
	$(PYTHON) -m tests.aws_sdks

main-job: ## the whole tutorial on 20 Newsgroups, end to end (writes tutorial-output/)
	$(PYTHON) -m recommender.tutorial

quick: ## the main job's smoke version (--quick: 600 posts per subset, 10 epochs)
	$(PYTHON) -m recommender.tutorial --quick
