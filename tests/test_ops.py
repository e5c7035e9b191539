"""The torch.library ops: opcheck, gradcheck, torch.compile(fullgraph=True)."""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference

combine = torch.ops.parity_kernels.combine
concat_downsample = torch.ops.parity_kernels.concat_downsample


def _combine_cases(dtype=torch.float32):
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 2, generator=g).to(dtype)
    batch = torch.randn(7, 5, 2, generator=g).to(dtype)
    index = torch.tensor([[0, 6, 2, 2], [1, 3, 4, 5], [6, 5, 4, 3]])
    extra = torch.randn(3, 2, 5, 2, generator=g).to(dtype)
    shared = torch.randn(2, 4, generator=g).to(coeff_dtype)
    per_group = torch.randn(3, 2, 6, generator=g).to(coeff_dtype)
    per_group[0, :, 1] = 0.0
    return {
        "stacked_shared": (x, shared, None, None),
        "gathered_shared": (batch, shared, index, None),
        "stacked_extra_per_group": (x, per_group, None, extra),
        "gathered_extra_per_group": (batch, per_group, index, extra),
    }


@pytest.mark.parametrize("case", list(_combine_cases()))
def test_opcheck_combine(case):
    args = _combine_cases()[case]
    torch.library.opcheck(combine, args)
    grad_args = tuple(a.clone().requires_grad_(a.is_floating_point()) if a is not None else None for a in args)
    torch.library.opcheck(combine, grad_args)


@pytest.mark.parametrize("gathered", [False, True])
def test_opcheck_concat_downsample(gathered):
    if gathered:
        args = (torch.randn(6, 2, 5, 7), torch.tensor([[0, 1, 5], [2, 2, 3]]))
    else:
        args = (torch.randn(2, 3, 2, 5, 7), None)
    torch.library.opcheck(concat_downsample, args)
    torch.library.opcheck(concat_downsample, (args[0].clone().requires_grad_(), args[1]))


@pytest.mark.parametrize("case", list(_combine_cases()))
def test_gradcheck_combine(case):
    x, c, index, extra = _combine_cases(torch.float64)[case]
    x.requires_grad_()
    c.requires_grad_()
    if extra is not None:
        extra.requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: combine(a[0], a[1], index, a[2] if len(a) > 2 else None),
                                    (x, c) + ((extra,) if extra is not None else ()))


@pytest.mark.parametrize("gathered", [False, True])
def test_gradcheck_concat_downsample(gathered):
    if gathered:
        images = torch.randn(5, 2, 5, 7, dtype=torch.float64, requires_grad=True)
        index = torch.tensor([[0, 1, 4], [2, 2, 3]])
    else:
        images = torch.randn(2, 3, 2, 5, 7, dtype=torch.float64, requires_grad=True)
        index = None
    assert torch.autograd.gradcheck(lambda x: concat_downsample(x, index), (images,))


def test_learned_encoder_trains_through_combine():
    """Gradients reach the coefficients, so an encoder matrix can be learned."""
    torch.manual_seed(0)
    target = torch.tensor([[1.0, -2.0, 0.5]])
    weights = torch.zeros(1, 3, requires_grad=True)
    opt = torch.optim.Adam([weights], lr=0.1)
    for _ in range(300):
        x = torch.randn(16, 3, 4)
        loss = (combine(x, weights) - reference.combine(x, target).float()).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(weights.detach(), target, atol=1e-2, rtol=1e-2)


def _encode_decode(code):
    def run(x, available):
        coded = pk.encode(x, code)
        outputs = x * 2.0  # a linear "model" keeps the example exact
        if code.systematic:
            return pk.decode(outputs, coded * 2.0, available, code)
        return pk.decode(None, coded * 2.0, available, code)
    return run


@pytest.mark.parametrize("code", [pk.LinearCode.cauchy(3, 2), pk.BerrutCode(3, 5)], ids=repr)
def test_torch_compile_fullgraph_matches_eager(code):
    torch._dynamo.reset()
    fn = _encode_decode(code)
    compiled = torch.compile(fn, fullgraph=True)
    x = torch.randn(4, 3, 6)
    available = torch.rand(4, code.num_sources) < 0.7
    want_y, want_ok = fn(x, available)
    got_y, got_ok = compiled(x, available)
    assert torch.equal(got_ok, want_ok)
    torch.testing.assert_close(got_y, want_y, rtol=1e-5, atol=1e-5)
    # A new mask with the same shapes reuses the graph: decode logic is traced, not baked in.
    available2 = ~available
    want_y, want_ok = fn(x, available2)
    got_y, got_ok = compiled(x, available2)
    assert torch.equal(got_ok, want_ok)
    torch.testing.assert_close(got_y, want_y, rtol=1e-5, atol=1e-5)


def test_torch_compile_concat_and_gathered():
    torch._dynamo.reset()
    code = pk.ConcatCode(4)

    def fn(batch, groups):
        return pk.encode(batch, code, groups=groups)

    batch = torch.randn(9, 3, 8, 8)
    groups = torch.tensor([[0, 1, 2, 3], [8, 7, 6, 5]])
    torch.testing.assert_close(torch.compile(fn, fullgraph=True)(batch, groups), fn(batch, groups))


def test_api_keeps_autograd_when_inputs_need_it():
    """encode/decode take the autograd op when a gradient is wanted, the out= op otherwise."""
    code = pk.LinearCode.cauchy(3, 2)
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    coded = pk.encode(x, code)
    assert coded.requires_grad
    coded.sum().backward()
    expected = code.encode_matrix().sum(0)[None, :, None].expand(2, 3, 5)
    torch.testing.assert_close(x.grad, expected)
    available = torch.tensor([[True, False, True, True, True]] * 2)
    y, ok = pk.decode(x, coded, available, code)
    assert y.requires_grad and ok.all()
    with torch.no_grad():
        assert not pk.encode(x, code).requires_grad
