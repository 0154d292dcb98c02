# streamlearn — the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-unit lint format kafka-up kafka-down bench bench-drift clean clean-cache

$(STAMP): pyproject.toml docker/requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c docker/requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## The main job: the service on its embedded default (no Kafka): HTTP + /metrics on 127.0.0.1:8000.
run: install
	$(VENV)/bin/streamlearn serve

## The whole test suite: provisions a real Kafka broker (and Prometheus), runs pytest, stops them.
test: install
	VENV=$(VENV) docker/local/run-tests.sh

## Unit tests only (no broker).
test-unit: install
	$(PY) -m pytest -m "not integration and not e2e" -q

lint: install
	$(VENV)/bin/ruff check streamlearn consumers tests
	$(VENV)/bin/ruff format --check streamlearn consumers tests

format: install
	$(VENV)/bin/ruff format streamlearn consumers tests
	$(VENV)/bin/ruff check --fix streamlearn consumers tests

## A local Apache Kafka broker (KRaft, single node); the last line printed is its bootstrap address.
kafka-up: install
	VENV=$(VENV) docker/local/kafka.sh up

kafka-down:
	docker/local/kafka.sh down

## Drop numba's compiled-kernel cache (needed after changing a kernel that others inline).
clean-cache:
	find streamlearn consumers -name '*.nbi' -delete -o -name '*.nbc' -delete

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var
