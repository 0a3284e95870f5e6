# crashcompat: `make demo` runs the main job on the lab's default dump; `make test` installs what the tests
# need (apt packages, the venv, the lab of every kernel series in LAB_KERNELS) and runs them on each.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := contrib/lab/crashlab
export CRASHCOMPAT_LAB_CACHE ?= /var/cache/crashcompat-lab
# The kernel series the lab builds and the lab tests run on (`contrib/lab/crashlab kernels`).
LAB_KERNELS ?= 5.10 6.1 6.12 newest
comma := ,
empty :=
space := $(empty) $(empty)
export CRASHCOMPAT_LAB_KERNELS ?= $(subst $(space),$(comma),$(strip $(LAB_KERNELS)))

.PHONY: venv deps lab demo test lint typecheck unit bench docs clean

deps:
	@command -v gdb >/dev/null && command -v qemu-system-x86_64 >/dev/null && command -v crash >/dev/null \
	  && command -v mmdebstrap >/dev/null \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	       gdb qemu-system-x86 busybox-static kexec-tools makedumpfile crash e2fsprogs zstd xz-utils mmdebstrap; }

$(VENV)/.installed: pyproject.toml contrib/crashcompat-panicinfo/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e . -e contrib/crashcompat-panicinfo drgn pytest pytest-timeout mypy ruff \
	  types-tabulate types-gdb import-linter hypothesis
	touch $@

venv: $(VENV)/.installed

lab: deps
	@set -e; for k in $(LAB_KERNELS); do $(PY) $(LAB) build --kernel $$k >/dev/null; done

demo: deps venv
	$(PY) $(LAB) demo

lint: venv
	$(VENV)/bin/ruff check crashcompat tests contrib
	$(VENV)/bin/ruff format --check crashcompat tests contrib
	$(VENV)/bin/lint-imports --no-cache --no-logo  # the import rules in pyproject's [tool.importlinter]

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest -q tests/unit

test: deps venv lint typecheck
	@set -e; for k in $(LAB_KERNELS); do $(PY) $(LAB) build --kernel $$k; done
	$(PY) -m pytest -q -ra

docs: venv
	$(PY) -m crashcompat.docs

bench: deps venv
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
