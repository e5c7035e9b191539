# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when
# missing (CPU torch 2.13.0 from local disk, triton, the package editable with its test,
# bench, ParM and serving extras) and then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-parity-kernels

.PHONY: test demo bench harness venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard csrc/*/*.cpp csrc/*/*.h csrc/*/*.cu csrc/*/*.cuh)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0 triton numpy pybind11 setuptools wheel
	$(PY) -m pip install -q --no-build-isolation -e '.[test,bench,parm,serving]'
	touch $(STAMP)

# The main suite (C++ CPU kernels), then the Triton kernels in Triton's interpreter,
# which must be switched on before triton is first imported: a second session.
test: $(STAMP)
	$(PY) -m pytest -q tests
	TRITON_INTERPRET=1 $(PY) -m pytest -q tests/test_triton_interpreter.py

demo: $(STAMP)
	$(PY) -m parity_kernels demo

# The full benchmark table (CUDA if present, else CPU); bench/test_bench.py has the same
# cases as a pytest-benchmark suite.
bench: $(STAMP)
	$(PY) -m parity_kernels bench --json bench-results.json --plot bench-results.png

# C++ timing harnesses beside memcpy and a plain read (bench/harness/*.cpp; x86-64, g++).
HARNESS ?= build/harness
HARNESS_FLAGS := -O3 -fno-math-errno -fopenmp -std=c++17 -Wall -Icsrc/cpu
harness: $(HARNESS)/kernel_ratio $(HARNESS)/kernel_ratio_avx512 $(HARNESS)/kernel_ratio_avx512bf16 $(HARNESS)/overlap

$(HARNESS)/%: bench/harness/%.cpp $(wildcard csrc/cpu/*.h)
	mkdir -p $(HARNESS)
	$(CXX) $(HARNESS_FLAGS) $< -o $@

# The same harness timing combine's AVX-512 build (exits 3 on CPUs without AVX-512F).
$(HARNESS)/kernel_ratio_avx512: bench/harness/kernel_ratio.cpp $(wildcard csrc/cpu/*.h)
	mkdir -p $(HARNESS)
	$(CXX) $(HARNESS_FLAGS) -DPK_HARNESS_AVX512 $< -o $@

# And with bfloat16 rounded by AVX512_BF16's conversion (exits 3 on CPUs without it).
$(HARNESS)/kernel_ratio_avx512bf16: bench/harness/kernel_ratio.cpp $(wildcard csrc/cpu/*.h)
	mkdir -p $(HARNESS)
	$(CXX) $(HARNESS_FLAGS) -DPK_HARNESS_AVX512_BF16 $< -o $@

clean:
	rm -rf build *.egg-info parity_kernels/*.so
