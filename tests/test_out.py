"""out= buffers: same results as the allocating path, validated, opcheck'd, compiled."""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk

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
