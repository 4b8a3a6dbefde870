# vaultcore: `make demo` runs the tour, `make test` runs lint, types and the whole suite.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SRC_C := $(wildcard csrc/*.c csrc/*.h csrc/*.py)

.PHONY: demo test lint typecheck pytest bench build sysdeps pgserver clean

demo: build
	$(BIN)/python -m vaultcore.demo

test: build lint typecheck pytest

# System packages: OpenSSL and LMDB headers for the C core, SoftHSM2 (+ p11-kit) for the HSM tests.
sysdeps:
	@missing=""; \
	[ -f /usr/include/openssl/evp.h ] || missing="$$missing libssl-dev"; \
	[ -f /usr/include/lmdb.h ] || missing="$$missing liblmdb-dev"; \
	command -v softhsm2-util >/dev/null 2>&1 || missing="$$missing softhsm2"; \
	[ -e /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so ] || [ -e /usr/lib/aarch64-linux-gnu/p11-kit-proxy.so ] || missing="$$missing p11-kit-modules"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; }; \
	  else \
	    echo "missing system packages:$$missing (run as root or: sudo apt-get install$$missing)"; \
	  fi; \
	fi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

.stamp-deps: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "cffi>=1.16" "setuptools>=68" wheel
	$(BIN)/pip install -q --no-build-isolation -e ".[dev,server,postgres]"
	touch $@

.stamp-build: .stamp-deps $(SRC_C)
	cd csrc && ../$(BIN)/python build_ffi.py
	touch $@

build: sysdeps .stamp-build

lint: build
	$(BIN)/ruff check src tests benchmarks csrc
	$(BIN)/ruff format --check src tests benchmarks csrc
	$(BIN)/lint-imports

typecheck: build
	$(BIN)/mypy

# PostgreSQL for the storage tests: $$VAULTCORE_TEST_PG, else the local server (socket or
# 127.0.0.1:5432), else (as root) apt-get install postgresql and pg_ctlcluster start.
pgserver: build
	$(BIN)/python tests/pghelpers.py

pytest: build pgserver
	$(BIN)/python -m pytest -q

bench: build
	$(BIN)/pip install -q --no-build-isolation -e ".[dev,server,bench]"
	$(BIN)/python -m pytest benchmarks -q --benchmark-only --benchmark-columns=median,iqr,ops -s

clean:
	rm -rf build src/*.egg-info src/vaultcore/crypto/_native.* src/vaultcore/_native.* .stamp-*
