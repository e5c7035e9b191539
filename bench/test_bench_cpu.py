"""CPU encode/decode beside torch eager and plain copies of the same bytes (k = 4, 64 MB fp32 input).

Run: make bench   (or .venv/bin/python -m pytest bench --benchmark-only)
Targets (DESIGN.md §5): ours >= 2x eager and >= 80 % of the copy's bandwidth.
"""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk

from conftest import record

K = 4
GROUPS = 16
NUMEL = 64 * 2**20 // (4 * GROUPS * K)  # 64 MB of float32 input in all
CODES = {"sum": pk.SumCode(K), "cauchy_r2": pk.LinearCode.cauchy(K, 2)}
pytestmark = pytest.mark.benchmark(warmup=True, warmup_iterations=3, min_rounds=15)


def _eager_encode(x, weights):
    """What a user writes in torch: one einsum over the group dimension."""
    return torch.einsum("jk,gkn->gjn", weights, x)


def _eager_decode(outputs, coded, available, code):
    """The same decode coefficients, applied with torch ops (missing slots zeroed first)."""
    coeffs, ok = code.decode_coefficients(available)
    sources = torch.cat([outputs, coded], dim=1)
    sources = torch.where(available[:, :, None], sources, 0.0)
    return torch.einsum("gjs,gsn->gjn", coeffs.float(), sources), ok


@pytest.fixture(scope="module")
def x():
    return torch.randn(GROUPS, K, NUMEL, generator=torch.Generator().manual_seed(0))


def _one_lost(code):
    available = torch.ones(GROUPS, code.num_sources, dtype=torch.bool)
    lost = torch.randint(0, K, (GROUPS,), generator=torch.Generator().manual_seed(1))
    available[torch.arange(GROUPS), lost] = False  # one random data output per group
    return available


@pytest.mark.parametrize("name", list(CODES))
@pytest.mark.parametrize("impl", ["ours", "ours_alloc", "eager"])
def test_encode(benchmark, x, name, impl):
    code = CODES[name]
    nbytes = x.numel() * 4 * (1 + code.num_coded / K)
    if impl == "ours":
        out = pk.encode(x, code)
        benchmark(lambda: pk.encode(x, code, out=out))
    elif impl == "ours_alloc":
        benchmark(pk.encode, x, code)
    else:
        benchmark(_eager_encode, x, code.encode_matrix(dtype=torch.float32))
    record(benchmark, f"encode {name} k=4 64MB fp32", impl, nbytes)


@pytest.mark.parametrize("name", list(CODES))
@pytest.mark.parametrize("impl", ["ours", "ours_alloc", "eager"])
def test_decode(benchmark, x, name, impl):
    code = CODES[name]
    coded = pk.encode(x, code)
    available = _one_lost(code)
    # Bytes: k - 1 available data outputs and every parity read, k outputs written.
    nbytes = NUMEL * 4 * GROUPS * ((K - 1) + code.num_coded + K)
    if impl == "ours":
        out = torch.empty_like(x)
        benchmark(lambda: pk.decode(x, coded, available, code, out=out))
    elif impl == "ours_alloc":
        benchmark(pk.decode, x, coded, available, code)
    else:
        benchmark(_eager_decode, x, coded, available, code)
    record(benchmark, f"decode {name} k=4 64MB fp32", impl, nbytes)


@pytest.mark.parametrize("case", [f"{op} {name} k=4 64MB fp32" for op in ("encode", "decode") for name in CODES])
@pytest.mark.parametrize("impl", ["copy", "clone"])
def test_copy_ceiling(benchmark, x, case, impl):
    """Plain copies of the 64 MB input, the bandwidth ceiling, measured in the same run."""
    if impl == "copy":
        dst = torch.empty_like(x)
        benchmark(dst.copy_, x)
    else:
        benchmark(x.clone)
    record(benchmark, case, impl, 2 * x.numel() * 4)
