"""The Triton kernels, run on CPU tensors by Triton's interpreter through the real dispatch path.

Runs only in a session started with TRITON_INTERPRET=1 (``make test`` runs this file that
way after the main suite); small shapes, the interpreter is slow.
"""

from __future__ import annotations

import os

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference
from parity_kernels.backends import dispatch

from conftest import assert_matches, make_code
from kernel_checks import (check_decode, check_encode, check_group_index_outside_the_batch,
                           check_nan_source_never_read, seed)

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                reason="needs TRITON_INTERPRET=1 set before import (make test runs it)")

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
LAYOUTS = ["contiguous", "permuted", "item_strided"]
CASES = [("sum", 1, 1), ("sum", 4, 1), ("cauchy", 3, 2), ("cauchy", 5, 3), ("vandermonde", 2, 4),
         ("berrut", 3, 2), ("berrut", 6, 3), ("concat", 2, 1), ("concat", 3, 1), ("concat", 4, 1)]


def test_cpu_tensors_take_the_triton_path():
    assert pk.get_backend() == "triton"
    assert dispatch.backend_for("cpu").name == "triton"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name,k,r", CASES)
def test_triton_kernels_match_reference(name, k, r, dtype, poisoned_outputs):
    code = make_code(name, k, r)
    gen = seed("interp", name, k, r, str(dtype))
    item = (2, 5, 7) if name == "concat" else (3, 7)
    check_encode(code, dtype, item, gen, layouts=LAYOUTS)
    check_decode(code, dtype, gen, layouts=LAYOUTS)


@pytest.mark.parametrize("k", [2, 3, 4, 9])
@pytest.mark.parametrize("size", [(8, 8), (7, 5), (9, 13)])
def test_triton_concat_sizes(k, size, poisoned_outputs):
    x = torch.randn((2, k, 2) + size)
    got = pk.encode(x, pk.ConcatCode(k))
    assert_matches(got, reference.concat_downsample(x), reference.concat_downsample(x.double().abs()), torch.float32)


@pytest.mark.parametrize("gathered", [False, True], ids=["stacked", "gathered"])
def test_triton_concat_int64_positions(gathered, monkeypatch, poisoned_outputs):
    """Images with a side over INT32_SIDE (46340) take the kernel's int64 positions; here
    the limit is lowered so small images take them."""
    from parity_kernels.triton import concat_downsample
    monkeypatch.setattr(concat_downsample, "INT32_SIDE", 4)
    x = torch.randn(2, 5, 2, 9, 13)
    rows, groups = (x.flatten(0, 1), torch.randperm(10).view(2, 5)) if gathered else (x, None)
    got = pk.encode(rows, pk.ConcatCode(5), groups=groups)
    assert_matches(got, reference.concat_downsample(rows, groups), reference.concat_downsample(rows.abs(), groups),
                   torch.float32)


def test_triton_more_sources_than_rows_and_nan_never_read(poisoned_outputs):
    check_nan_source_never_read()


def test_triton_out_buffer_and_index_check():
    x = torch.randn(6, 4, 10)
    buffer = torch.full((6, 2, 10), float("nan"))
    code = pk.LinearCode.cauchy(4, 2)
    pk.encode(x, code, out=buffer)
    torch.testing.assert_close(buffer.double(), reference.encode(x, code), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="groups: index 7"):
        pk.encode(torch.randn(5, 10), pk.SumCode(2), groups=torch.tensor([[0, 7]]))


@pytest.mark.parametrize("bad", [-1, 10], ids=["negative", "past_the_batch"])
def test_triton_group_index_outside_the_batch_gives_nan(bad, monkeypatch, poisoned_outputs):
    """On CUDA no host check sees the indices (it would need a sync): the kernels give the
    group NaN outputs (decode: ok False). The CPU tensors' own range check is switched off
    here to reach the kernels."""
    from parity_kernels.triton import combine as triton_combine
    monkeypatch.setattr(triton_combine, "check_cpu_index", lambda rows, index: None)
    check_group_index_outside_the_batch(bad)


def test_triton_launch_plans_replay_with_new_tensors(poisoned_outputs, plan_runs):
    """Triton launches keep launch plans as the C++ ones do: a second round with fresh
    tensors of the same metadata runs them (encode, decode by pattern, ConcatCode) and still matches
    the reference; a group index outside the batch is still refused on CPU tensors after
    a plan of the same metadata was kept."""
    runs = plan_runs
    code = pk.LinearCode.cauchy(3, 2)
    for round_ in range(2):
        check_encode(code, torch.float32, (3, 5), seed("triton plans", round_), layouts=["contiguous", "permuted"])
        check_decode(code, torch.float32, seed("triton plans decode", round_), layouts=["contiguous"])
        if round_ == 0:
            kept, first_runs = len(code._plans), len(runs)
    assert kept > 0 and len(code._plans) == kept, "the second round made new plans"
    assert len(runs) - first_runs >= kept
    assert {plan.backend.name for plan in code._plans.values()} == {"triton"}
    assert any(key[0] == "decode" for key in code._plans)

    concat = pk.ConcatCode(4)
    for round_ in range(2):
        check_encode(concat, torch.float32, (2, 6, 7), seed("triton plans concat", round_), layouts=["contiguous"])
        if round_ == 0:
            kept, first_runs = len(concat._plans), len(runs)
    assert kept > 0 and len(concat._plans) == kept and len(runs) - first_runs >= kept
    assert {plan.backend.name for plan in concat._plans.values()} == {"triton"}

    batch, sum_code = torch.randn(5, 4), pk.SumCode(2)
    groups = torch.tensor([[0, 1], [2, 3]])
    for _ in range(2):  # a plan, then its replay
        torch.testing.assert_close(pk.encode(batch, sum_code, groups=groups)[:, 0], batch[[0, 2]] + batch[[1, 3]])
    with pytest.raises(ValueError, match="outside"):
        pk.encode(batch, sum_code, groups=torch.tensor([[0, 1], [2, 7]]))
