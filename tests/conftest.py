"""Shared test helpers: tolerances, poisoned outputs, input layouts, comparisons, the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import parity_kernels as pk
from parity_kernels import plans, reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]

# Error allowed relative to the sum of absolute terms of each output element. float64:
# the reference least-squares solve itself errs by ~cond * eps, cond up to ~1e5 here.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2, torch.float64: 1e-10}

LAYOUTS = ["contiguous", "strided", "permuted", "item_strided"]


@pytest.fixture
def poisoned_outputs():
    """Every torch.empty the kernels make is filled with NaN, so an unwritten element shows."""
    previous = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    yield
    torch.use_deterministic_algorithms(previous)
    torch.utils.deterministic.fill_uninitialized_memory = fill


def layout(x: torch.Tensor, kind: str, lead: int) -> torch.Tensor:
    """The same values as x in another memory layout (x has ``lead`` group dims, then items).

    contiguous: as is. strided: every other row of a twice-as-long buffer along dim
    ``lead - 1`` (items dense). permuted: dense with the first two dims' strides swapped
    (``p.t().contiguous().t()``). item_strided: every other element along the last dim
    (items not dense: the kernels copy them once).
    """
    if kind == "contiguous":
        return x.contiguous()
    if kind == "permuted":
        return x.transpose(0, 1).contiguous().transpose(0, 1)
    dim = lead - 1 if kind == "strided" else x.dim() - 1
    if kind not in ("strided", "item_strided"):
        raise ValueError(kind)
    shape = list(x.shape)
    shape[dim] *= 2
    big = torch.full(shape, float("nan"), dtype=x.dtype, device=x.device)
    view = big.unflatten(dim, (-1, 2)).select(dim + 1, 0)
    view.copy_(x)
    return view


def random_inputs(shape, dtype, generator=None) -> torch.Tensor:
    """Normal values rounded to dtype (never zeros)."""
    return torch.randn(shape, dtype=torch.float64, generator=generator).to(dtype)


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, scale: torch.Tensor, dtype, what=""):
    """|actual - expected| <= tol(dtype) * scale elementwise (scale: sum of |terms|), all finite."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype} != {dtype}"
    a = actual.detach().cpu().double()
    assert torch.isfinite(a).all(), f"{what}: output has NaN/inf (unwritten or read a missing slot)"
    error = (a - expected).abs()
    bound = TOLERANCE[dtype] * scale + 1e-30
    worst = (error / bound).max().item() if error.numel() else 0.0
    assert worst <= 1.0, f"{what}: error {worst:.3g}x the {dtype} bound"


def term_scale(inputs, coeffs, index=None, extra=None) -> torch.Tensor:
    """Per output element: sum_s |coeff| * |source|, the natural scale of its rounding error."""
    return reference.combine(inputs.double().abs(), coeffs.double().abs(), index,
                             None if extra is None else extra.double().abs())


def all_codes(max_k: int = 8, max_r: int = 4):
    """(name, k, r) for the code grid: sum/concat once per k, the others per (k, r)."""
    cases = []
    for k in range(1, max_k + 1):
        cases.append(("sum", k, 1))
        cases.append(("concat", k, 1))
        for r in range(1, max_r + 1):
            for name in ("cauchy", "vandermonde", "berrut"):
                cases.append((name, k, r))
    return cases


def make_code(name, k, r):
    return pk.codes.code_from_name(name, k, r)


def run_cli(*args: str, timeout: float = 600) -> str:
    """``python -m parity_kernels *args`` in a subprocess; its stdout, after checking it
    exited 0 (stderr's tail in the failure message)."""
    result = subprocess.run([sys.executable, "-m", "parity_kernels", *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def plan_runs(monkeypatch):
    """How many calls ran a kept plan (``plans.CombinePlan`` or ``plans.ConcatPlan``)."""
    runs = []
    for kind in (plans.CombinePlan, plans.ConcatPlan):
        def counting(*args, _run=kind.run, **kwargs):
            runs.append(1)
            return _run(*args, **kwargs)

        monkeypatch.setattr(kind, "run", counting)
    return runs
