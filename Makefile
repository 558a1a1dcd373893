# Developer tasks. `make help` lists them. Everything runs in .venv, which `make install`
# creates with the one torch release the extension links against.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
TORCH_VERSION := 2.13.0
# torch-sys finds libtorch through the venv's python (torch 2.13.0 from PyPI).
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION) "maturin>=1.7,<2" "numpy>=1.24" \
		"pytest>=8" "scikit-learn>=1.3" "matplotlib>=3.7" ruff
	touch $@

.PHONY: install
install: $(VENV)/.installed ## create .venv with torch $(TORCH_VERSION), maturin, pytest

.PHONY: build-dev
build-dev: install ## debug build, extension copied into python/longtail (use with PYTHONPATH=python)
	cargo build --lib
	cp -f target/debug/lib_core.so python/longtail/_core.so

.PHONY: build-prod
build-prod: install ## build the release wheel into dist/ and install it into .venv
	rm -rf dist
	$(BIN)/maturin build --release --out dist
	$(BIN)/pip install --quiet --force-reinstall --no-deps dist/longtail-*.whl

.PHONY: test-rs
test-rs: ## cargo test of the pure core (no Python, no libtorch)
	cargo test --no-default-features

.PHONY: test-py
test-py: ## pytest against the installed wheel
	$(BIN)/python -m pytest -q

.PHONY: test
test: build-prod test-rs test-py ## build and install the wheel, then cargo test and pytest

.PHONY: demo
demo: build-prod ## train on a long-tailed toy problem and print the losses
	$(BIN)/python -m longtail.examples.quickstart

.PHONY: bench
bench: build-prod ## benchmarks: ratios against PyTorch's own ops
	$(BIN)/python benches/python/bench_losses.py

.PHONY: format
format: ## rustfmt and ruff format
	cargo fmt
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches

.PHONY: lint
lint: ## rustfmt --check, clippy -D warnings, ruff
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches

.PHONY: all
all: format build-dev lint test ## format, build, lint, test
