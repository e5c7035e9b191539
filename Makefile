# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when
# missing (CPU torch 2.13.0 from local disk, triton, the package editable with its test
# extras) and then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-parity-kernels

.PHONY: test demo bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard csrc/*/*.cpp csrc/*/*.h csrc/*/*.cu csrc/*/*.cuh)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0 triton numpy pybind11 setuptools wheel
	$(PY) -m pip install -q --no-build-isolation -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) -m parity_kernels demo

bench: $(STAMP)
	$(PY) -m pytest -q bench --benchmark-only

clean:
	rm -rf build *.egg-info parity_kernels/*.so
