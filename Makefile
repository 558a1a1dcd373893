# Developer tasks. `make help` lists them. Everything runs in .venv (Python 3.11, torch 2.13,
# the development environment), which `make install` creates; the CUDA accelerator is built
# against its torch.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# torch-sys finds libtorch through the venv's python (torch 2.13.0 from PyPI).
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: install
install: ## create .venv with torch 2.13.0, build and install the release wheels
	bash scripts/setup.sh

.PHONY: build-dev
build-dev: ## debug builds, copied beside the sources (use PYTHONPATH=python:longtail-tch/python)
	cargo build --lib
	cp -f target/debug/lib_core.so python/longtail/_core.abi3.so
	cd longtail-tch && CARGO_TARGET_DIR=$(CURDIR)/target/tch cargo build
	cp -f target/tch/debug/lib_tch.so longtail-tch/python/longtail_tch/_tch.so

.PHONY: build-prod
build-prod: install ## the same as install: the release wheel, installed into .venv

.PHONY: test-rs
test-rs: ## cargo test of the pure core (no Python, no libtorch)
	cargo test --no-default-features

.PHONY: test-tch
test-tch: ## cargo test of the libtorch formulations against the CPU kernels (target/tch, .venv's torch)
	bash -c '. scripts/envs.sh && test_tch'

.PHONY: test-py
test-py: ## pytest against the installed wheel
	$(BIN)/python -m pytest -q

.PHONY: test
test: ## README's test command: build once, cargo test, pytest beside torch 2.13, 2.15 and 2.4
	bash scripts/test.sh

.PHONY: test-dev
test-dev: ## the same in the development environment alone (torch 2.13)
	LONGTAIL_TEST_ENVS=.venv bash scripts/test.sh

.PHONY: demo
demo: ## README's demo command: set up, then `longtail demo`
	bash scripts/demo.sh

.PHONY: bench
bench: build-prod ## benchmarks: ratios against PyTorch's own ops
	$(BIN)/python benches/python/bench_losses.py
	$(BIN)/python benches/python/bench_detection_losses.py
	$(BIN)/python benches/python/bench_samplers.py

.PHONY: dev-tools
dev-tools: ## install the pinned linters (pyproject's `dev` extra: ruff, mypy) into .venv
	@missing="$$($(BIN)/python scripts/dev_tools.py)" && \
	if [ -n "$$missing" ]; then $(BIN)/python -m pip install --quiet $$missing; fi

.PHONY: format
format: dev-tools ## rustfmt and ruff format
	cargo fmt
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches

.PHONY: lint
lint: dev-tools ## ruff, mypy, rustfmt --check, clippy -D warnings of the pure core (no build; CI)
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/python -m mypy
	cargo fmt --check
	cargo clippy --no-default-features --all-targets -- -D warnings

.PHONY: lint-full
lint-full: lint build-dev ## lint, then clippy of the bindings (pyo3, libtorch) and of the tch code's tests, and stubtest of _core.pyi
	cargo clippy --all-targets -- -D warnings
	cd longtail-tch && CARGO_TARGET_DIR=$(CURDIR)/target/tch cargo clippy -- -D warnings
	CARGO_TARGET_DIR=$(CURDIR)/target/tch cargo clippy --release --no-default-features \
	    --features torch,tch/python-extension --all-targets -- -D warnings
	PYTHONPATH=python $(BIN)/python -m mypy.stubtest longtail._core --allowlist .mypy-stubtest-allowlist

.PHONY: all
all: format build-dev lint-full test ## format, build, lint, test
