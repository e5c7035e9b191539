"""Launch plans (parity_kernels.plans): a repeated eager call with the same metadata skips
the checks and layout work; it must give the same answers and respect everything the
checked route does."""

from __future__ import annotations

import random

import pytest
import torch

import parity_kernels as pk
from parity_kernels import plans, reference

from conftest import layout
from kernel_checks import check_decode, check_encode, seed
from test_direct_calls import _OpLog


CODES = [("sum", 4, 1), ("cauchy", 3, 2), ("vandermonde", 2, 3), ("berrut", 4, 2)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("name,k,r", CODES)
def test_second_round_runs_plans_and_matches_reference(poisoned_outputs, plan_runs, name, k, r, dtype):
    """Every layout twice with fresh data (NaN in missing slots): the second round runs the
    plans the first kept, and both match the float64 reference."""
    code = pk.codes.code_from_name(name, k, r)
    for round_ in range(2):
        check_encode(code, dtype, (3, 5), seed("plans", name, k, r, str(dtype), round_))
        check_decode(code, dtype, seed("plans decode", name, k, r, str(dtype), round_))
        if round_ == 0:
            kept, first_runs = len(code._plans), len(plan_runs)
    assert kept > 0 and len(code._plans) == kept, "the second round made no new plans"
    assert len(plan_runs) - first_runs >= kept, (len(plan_runs), first_runs, kept)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_concat_second_round_runs_plans_and_matches_reference(poisoned_outputs, plan_runs, dtype):
    """ConcatCode's encode keeps plans too: every layout (stacked and gathered images, out=
    or not) twice with fresh data, the second round through the plans."""
    code = pk.ConcatCode(4)
    for round_ in range(2):
        check_encode(code, dtype, (2, 6, 7), seed("plans concat", str(dtype), round_))
        if round_ == 0:
            kept, first_runs = len(code._plans), len(plan_runs)
    assert kept > 0 and len(code._plans) == kept, "the second round made new plans"
    assert len(plan_runs) - first_runs >= kept, (len(plan_runs), first_runs, kept)


def test_bad_index_still_raises_after_a_concat_plan():
    code = pk.ConcatCode(2)
    batch = torch.randn(5, 3, 4, 4)
    groups = torch.tensor([[0, 1], [2, 3]])
    for _ in range(2):  # a plan, then its replay
        torch.testing.assert_close(pk.encode(batch, code, groups=groups), reference.concat_downsample(batch, groups),
                                   check_dtype=False)
    assert code._plans
    with pytest.raises(ValueError, match="outside"):
        pk.encode(batch, code, groups=torch.tensor([[0, 1], [2, 7]]))


def test_out_buffers_reused_through_a_plan(plan_runs):
    code = pk.LinearCode.cauchy(3, 2)
    x = torch.randn(4, 3, 6)
    out = torch.empty(4, 2, 6)
    for _ in range(3):
        x = torch.randn(4, 3, 6)
        out.fill_(float("nan"))
        assert pk.encode(x, code, out=out) is out
        torch.testing.assert_close(out.double(), reference.encode(x, code), rtol=1e-5, atol=1e-5)
    assert len(plan_runs) == 2


def test_no_plan_when_rows_need_a_copy():
    code = pk.SumCode(3)
    x = layout(torch.randn(4, 3, 6), "item_strided", 2)  # items not dense: copied per call
    parity = pk.encode(x.contiguous(), code)
    code._plans.clear()
    for _ in range(2):
        torch.testing.assert_close(pk.encode(x, code), parity)
        y, ok = pk.decode(x, parity, torch.ones(4, 4, dtype=torch.bool), code)
        torch.testing.assert_close(y, x.contiguous())
    assert not code._plans


def test_no_plan_for_a_strided_mask_and_still_right():
    code = pk.SumCode(3)
    x = torch.randn(4, 3, 6)
    parity = pk.encode(x, code)
    mask = torch.ones(4, 8, dtype=torch.bool)[:, ::2]  # (4, 4), not contiguous
    mask[:, 0] = False
    outputs = x.clone()
    outputs[:, 0] = float("nan")
    for _ in range(2):
        y, ok = pk.decode(outputs, parity, mask, code)
        assert bool(ok.all())
        torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-5)
    assert not any(key[0] == "decode" for key in code._plans)


def test_dispatch_mode_sees_the_op_after_a_plan():
    code = pk.SumCode(2)
    x = torch.randn(3, 2, 4)
    pk.encode(x, code)
    assert code._plans
    with _OpLog() as log:
        pk.encode(x, code)
    assert "parity_kernels.combine_out.default" in log.names


def test_autograd_after_a_plan():
    code = pk.LinearCode.cauchy(2, 1)
    x = torch.randn(3, 2, 4)
    pk.encode(x, code)
    x.requires_grad_(True)
    parity = pk.encode(x, code)
    assert parity.grad_fn is not None
    parity.sum().backward()
    want = code.encode_matrix().sum(0).float().view(1, 2, 1).expand(3, 2, 4)
    torch.testing.assert_close(x.grad, want)
    with pytest.raises(ValueError, match="autograd"):
        pk.encode(x, code, out=torch.empty(3, 1, 4))


def test_bad_index_still_raises_after_a_plan():
    code = pk.SumCode(2)
    batch = torch.randn(5, 4)
    groups = torch.tensor([[0, 1], [2, 3]])
    pk.encode(batch, code, groups=groups)
    with pytest.raises(ValueError, match="outside"):
        pk.encode(batch, code, groups=torch.tensor([[0, 1], [2, 7]]))


def test_plans_are_bounded():
    code = pk.SumCode(2)
    for n in range(1, plans.MAX_PLANS + 10):
        pk.encode(torch.randn(1, 2, n), code)
    assert 0 < len(code._plans) <= plans.MAX_PLANS


def test_metadata_refuses_non_tensors():
    class Sub(torch.Tensor):
        pass

    x = torch.randn(2, 2)
    assert plans.metadata("encode", x) is not None
    assert plans.metadata("encode", x.as_subclass(Sub)) is None
    assert plans.metadata("encode", [1.0, 2.0]) is None
    assert plans.metadata("encode", x, None, x) != plans.metadata("encode", x, x, None)


def test_cuda_launcher_alignment_from_kernel_args():
    """The CUDA C++ launcher picks 16-byte vector moves from the integers a plan keeps
    (pointers, element strides): all rows must start on 16 bytes (runs without a GPU)."""
    cuda = pytest.importorskip("parity_kernels.backends.cuda", reason="CUDA extension not built")
    # dtype float32, rows at 1024 with strides (16, 4), no index, no extra, coeffs (never
    # moved in vectors), r 1, out at 2048, 3 groups of 4 elements
    args = (0, 1024, 16, 4, 0, 4, 0, 0, 0, 0, 999, 0, 1, 2048, 3, 4)
    assert cuda._aligned(args)
    assert not cuda._aligned(args[:1] + (1028,) + args[2:])  # rows off by 4 bytes
    assert not cuda._aligned(args[:3] + (3,) + args[4:])  # sources 12 bytes apart
    assert not cuda._aligned(args[:6] + (4096, 16, 2) + args[9:])  # extra sources 8 bytes apart
    assert not cuda._aligned(args[:15] + (3,))  # output rows of 12 bytes
    assert cuda._aligned((2,) + args[1:3] + (8,) + args[4:15] + (8,))  # bfloat16: 8 elements = 16 bytes
    rng = random.Random(0)
    seen = set()
    for _ in range(2000):  # against the plain definition: every pointer and byte stride % 16 == 0
        dtype = rng.randrange(4)
        size = [4, 2, 2, 8][dtype]  # float32, float16, bfloat16, float64
        # each pointer (1, 6, 13) and stride (2, 3, 7, 8, 15) aligned nine times in ten
        args = [dtype] + [0] * 15
        for i in (1, 6, 13):
            args[i] = 16 * rng.randrange(100) if rng.random() < 0.9 else rng.randrange(1600)
        for i in (2, 3, 7, 8, 15):
            args[i] = 16 // size * rng.randrange(100) if rng.random() < 0.9 else rng.randrange(100)
        pointers, strides = (args[1], args[6], args[13]), (args[2], args[3], args[7], args[8], args[15])
        want = all(p % 16 == 0 for p in pointers) and all(s * size % 16 == 0 for s in strides)
        assert cuda._aligned(tuple(args)) == want, args
        seen.add(want)
    assert seen == {True, False}
