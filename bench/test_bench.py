"""pytest-benchmark suite of every case of ``parity-kernels bench`` (parity_kernels/bench/cases.py):
each code at serving shapes and at 64 MB / 256 MB, beside torch eager, torch.compile of
the eager code (every case here; the CLI compiles a subset) and a copy of the same bytes.

    make bench                       # on CUDA if present, else CPU
    .venv/bin/python -m pytest bench --benchmark-only -k "encode and SumCode"

Implementations run one after another here; `parity-kernels bench` interleaves them on CPU
(steadier ratios) and uses CUDA events on GPU. Not part of `make test`.
"""

from __future__ import annotations

import pytest
import torch

from parity_kernels.bench import cases as case_lib

from conftest import record

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CASES = case_lib.all_cases(DEVICE, quick=False)
IMPLS = ("ours", "ours_out", "cuda_out", "eager", "compile", "copy")


@pytest.fixture(scope="module")
def built():
    return {}


@pytest.mark.benchmark(warmup=True, warmup_iterations=2, min_rounds=5)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(benchmark, built, case, impl):
    if case.name not in built:
        built.clear()  # one case's tensors at a time
        built[case.name] = case_lib.build(case, compile_eager=True)
    fn = built[case.name].impls.get(impl)
    if fn is None:
        pytest.skip(f"{impl} is not measured for this case")
    if DEVICE == "cuda":
        fn()
        torch.cuda.synchronize()
        benchmark(lambda: (fn(), torch.cuda.synchronize()))
    else:
        benchmark(fn)
    record(benchmark, case, impl)
