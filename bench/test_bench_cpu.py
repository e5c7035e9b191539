"""CPU encode/decode beside torch eager and plain copies of the same bytes (k = 4, 64 MB fp32 input).

Run: make bench (pytest-benchmark, one implementation after another). For ratios that do
not drift with the machine's load, run bench/cpu_ratios.py, which interleaves them.
Targets (DESIGN.md §5): ours >= 2x eager and >= 80 % of the copy's bandwidth.
"""

from __future__ import annotations

import pytest

from cases import cpu_cases
from conftest import record

CASES = cpu_cases()


@pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=15)
@pytest.mark.parametrize("case,impl,fn,nbytes", CASES, ids=[f"{c}|{i}" for c, i, _, _ in CASES])
def test_cpu(benchmark, case, impl, fn, nbytes):
    benchmark(fn)
    record(benchmark, case, impl, nbytes)
