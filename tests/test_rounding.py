"""float16 / bfloat16 results: accumulated in float32, rounded once to nearest even, as
torch's own ``.to(dtype)`` rounds; NaN, infinities and overflow as torch gives them."""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk

SPECIALS = [float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 3e38, -3e38, 6.5e4, 1e-40]


def _operands(dtype: torch.dtype, numel: int):
    """Two rows whose float32 sums need rounding: random values, exact ties between
    neighbours of dtype, and the special values above (both rows, so NaN + x, inf - inf,
    overflow by rounding all occur)."""
    torch.manual_seed(0)
    a = torch.randn(numel).to(dtype)
    b = torch.randn(numel).to(dtype)
    ulp = 2.0 ** (-8 if dtype == torch.bfloat16 else -11)  # half an ulp at 1 for dtype
    b[: numel // 4] = ulp  # 1 + half an ulp (and neighbours): ties to even
    a[: numel // 4] = 1 + torch.arange(numel // 4) * 2 * ulp
    a[-len(SPECIALS):] = torch.tensor(SPECIALS).to(dtype)
    b[-len(SPECIALS):] = torch.tensor(SPECIALS[::-1]).to(dtype)
    return a, b


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("numel", [37, 1024 + 45])  # 8-lane loops, their tails, two chunks
def test_sum_code_rounds_like_torch(dtype, numel):
    a, b = _operands(dtype, numel)
    x = torch.stack([a, b]).unsqueeze(0)  # (1, 2, numel)
    got = pk.encode(x, pk.SumCode(2))[0, 0]
    want = (a.float() + b.float()).to(dtype)
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_linear_code_rows_round_like_torch(dtype):
    """Several output rows per chunk (r = 3), each rounded once from its float32 sum."""
    a, b = _operands(dtype, 77)
    coeffs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [0.5, 0.25]])
    code = pk.LinearCode(coeffs)
    got = pk.encode(torch.stack([a, b]).unsqueeze(0), code)[0]
    # the kernel's order: c0 * a, then + c1 * b (FMA: one rounding, exact here as floats)
    want = torch.stack([(c[0] * a.float() + c[1] * b.float()).to(dtype) for c in coeffs])
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
