"""out= buffers: same results as the allocating path, validated, opcheck'd, compiled."""

from __future__ import annotations

import contextlib

import pytest
import torch

import parity_kernels as pk

from test_direct_calls import _OpLog

CODES = [pk.SumCode(3), pk.LinearCode.cauchy(3, 2), pk.BerrutCode(3, 5), pk.ConcatCode(3)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("code", CODES, ids=repr)
def test_out_matches_allocating_path(code, dtype):
    x = torch.randn(4, 3, 2, 5, 6).to(dtype)
    want = pk.encode(x, code)
    out = torch.full_like(want, float("nan"))
    assert pk.encode(x, code, out=out) is out
    assert torch.equal(out, want)
    coded = torch.randn(4, code.num_coded, 7).to(dtype)
    available = torch.rand(4, code.num_sources) < 0.7
    outputs = torch.randn(4, 3, 7).to(dtype) if code.systematic else None
    want_y, want_ok = pk.decode(outputs, coded, available, code)
    buffer = torch.full_like(want_y, float("nan"))
    y, ok = pk.decode(outputs, coded, available, code, out=buffer)
    assert y is buffer and torch.equal(y, want_y) and torch.equal(ok, want_ok)


def test_out_is_validated():
    x = torch.randn(2, 3, 4)
    code = pk.SumCode(3)
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 1, 4\)"):
        pk.encode(x, code, out=torch.empty(2, 1, 5))
    with pytest.raises(ValueError, match="out: expected shape"):
        pk.encode(x, code, out=torch.empty(2, 1, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="out: expected a contiguous tensor"):
        pk.encode(x, code, out=torch.empty(4, 2, 1).permute(1, 2, 0))
    with pytest.raises(ValueError, match="out: writing into a caller's buffer does not support autograd"):
        pk.encode(x.requires_grad_(), code, out=torch.empty(2, 1, 4))


def test_opcheck_out_ops():
    x = torch.randn(3, 4, 5)
    torch.library.opcheck(torch.ops.parity_kernels.combine_out, (x, torch.randn(2, 4), None, None, torch.empty(3, 2, 5)))
    batch = torch.randn(6, 5)
    index = torch.tensor([[0, 1, 2, 3], [5, 4, 3, 3], [1, 1, 1, 1]])
    extra = torch.randn(3, 1, 5)
    torch.library.opcheck(torch.ops.parity_kernels.combine_out,
                          (batch, torch.randn(3, 2, 5), index, extra, torch.empty(3, 2, 5)))
    images = torch.randn(2, 4, 3, 6, 6)
    torch.library.opcheck(torch.ops.parity_kernels.concat_downsample_out, (images, None, torch.empty(2, 1, 3, 6, 6)))


def test_torch_compile_with_out():
    torch._dynamo.reset()
    code = pk.LinearCode.cauchy(3, 2)

    def fn(x, buffer):
        return pk.encode(x, code, out=buffer)

    x = torch.randn(4, 3, 8)
    buffer = torch.empty(4, 2, 8)
    torch.compile(fn, fullgraph=True)(x, buffer)
    torch.testing.assert_close(buffer, pk.encode(x, code))


def _overlap_cases():
    """(code, call(out), a separate out, an out sharing memory with an input) per route of the API."""
    torch.manual_seed(0)
    sum_code, cauchy, berrut, concat = pk.SumCode(2), pk.LinearCode.cauchy(2, 2), pk.BerrutCode(2, 4), pk.ConcatCode(2)
    storage = torch.randn(100)
    x = storage[:48].view(3, 2, 8)
    yield (sum_code, lambda out: pk.encode(x, sum_code, out=out),
           torch.empty(3, 1, 8), storage[40:64].view(3, 1, 8))
    y = torch.randn(3, 2, 8)
    yield cauchy, lambda out: pk.encode(y, cauchy, out=out), torch.empty(3, 2, 8), y
    outputs, coded = torch.randn(4, 2, 8), torch.randn(4, 2, 8)
    available = torch.tensor([[True, False, True, True]] * 4)
    decode = lambda out: pk.decode(outputs, coded, available, cauchy, out=out)  # noqa: E731
    yield cauchy, decode, torch.empty(4, 2, 8), outputs
    yield cauchy, decode, torch.empty(4, 2, 8), coded
    values = torch.randn(4, 4, 8)
    yield (berrut, lambda out: pk.decode(None, values, available, berrut, out=out),
           torch.empty(4, 2, 8), values.view(-1)[64:].view(4, 2, 8))
    images = torch.randn(2, 2, 3, 6, 6)
    yield (concat, lambda out: pk.encode(images, concat, out=out),
           torch.empty(2, 1, 3, 6, 6), images.view(-1)[:216].view(2, 1, 3, 6, 6))


@pytest.mark.parametrize("route", ["first call", "after a plan", "op"])
def test_out_overlapping_an_input_is_refused(route):
    """The kernels read their inputs while writing out: shared memory would give wrong
    results silently, so every route refuses it: the direct launch, a kept plan (same
    metadata, another address), the op (here under a dispatch mode)."""
    for code, call, separate, overlapping in _overlap_cases():
        if route == "after a plan":
            torch.testing.assert_close(call(separate), call(torch.empty_like(separate)))
            assert code._plans
        before = overlapping.clone()
        with contextlib.ExitStack() as stack:
            if route == "op":
                stack.enter_context(_OpLog())
            with pytest.raises(ValueError, match="out: overlaps the memory of an input"):
                call(overlapping)
        assert torch.equal(overlapping, before), code  # refused before anything was written


def test_out_beside_the_inputs_in_one_storage_is_accepted():
    """Only shared addresses are refused: out just past an input (contiguous, or strided:
    the span runs to its last element) is fine, one element into its span is not."""
    storage = torch.randn(2 * 3 * 16 + 2 * 8)
    contiguous = storage[:48].view(2, 3, 8)
    strided = storage[:96].view(2, 3, 16)[..., ::2]  # last element at 94
    for x, first_free in ((contiguous, 48), (strided, 95)):
        for route in (contextlib.nullcontext, _OpLog):
            out = storage[first_free:first_free + 16].view(2, 1, 8)
            with route():
                assert pk.encode(x, pk.SumCode(3), out=out) is out
            torch.testing.assert_close(out, x.sum(1, keepdim=True))
            with route(), pytest.raises(ValueError, match="out: overlaps the memory of an input"):
                pk.encode(x, pk.SumCode(3), out=storage[first_free - 1:first_free + 15].view(2, 1, 8))
