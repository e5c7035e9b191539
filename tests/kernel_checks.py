"""Kernel-vs-reference checks shared by the CPU grid, the Triton interpreter and GPU tests."""

from __future__ import annotations

import zlib

import torch

import parity_kernels as pk
from parity_kernels import reference

from conftest import LAYOUTS, assert_matches, layout, random_inputs, term_scale

GROUPS = 3


def seed(*parts) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(repr(parts).encode()))


def _batch_and_groups(item, k, dtype, gen, distinct=True):
    batch_size = GROUPS * k + 2
    batch = random_inputs((batch_size,) + item, dtype, gen)
    if distinct:
        groups = torch.randperm(batch_size, generator=gen)[: GROUPS * k].view(GROUPS, k)
    else:
        groups = torch.randint(0, batch_size, (GROUPS, k), generator=gen)
    return batch, groups


def _encode_scale(x, code, groups):
    if isinstance(code, pk.ConcatCode):
        return reference.concat_downsample(x.double().abs(), groups)
    return term_scale(x, code.encode_matrix(), groups)


def check_encode(code, dtype, item, gen, layouts=LAYOUTS, device="cpu"):
    """Encode stacked and gathered groups in every layout on ``device``; compare on the CPU."""
    k = code.k
    x = random_inputs((GROUPS, k) + item, dtype, gen)
    batch, groups = _batch_and_groups(item, k, dtype, gen, distinct=False)
    x_dev, batch_dev, groups_dev = x.to(device), batch.to(device), groups.to(device)
    for kind in layouts:
        got = pk.encode(layout(x_dev, kind, 2), code)
        assert_matches(got, reference.encode(x, code), _encode_scale(x, code, None), dtype, f"encode stacked {kind}")
        got = pk.encode(layout(batch_dev, kind, 1), code, groups=groups_dev)
        want = reference.encode(batch, code, groups)
        assert_matches(got, want, _encode_scale(batch, code, groups), dtype, f"encode gathered {kind}")


def _decode_scale(code, outputs, coded, available, groups):
    coeffs, _ = code.decode_coefficients(available)
    if code.systematic:
        return reference.combine(outputs.double().abs(), coeffs.abs(), groups, coded.double().abs())
    return reference.combine(coded.double().abs(), coeffs.abs())


def check_decode(code, dtype, gen, layouts=LAYOUTS, device="cpu"):
    """Decode random erasures (NaN in every missing slot) in every layout on ``device``."""
    k, item = code.k, (5,)
    coded = random_inputs((GROUPS, code.num_coded) + item, dtype, gen)
    available = torch.rand(GROUPS, code.num_sources, generator=gen) < 0.7
    coded_dev, available_dev = coded.to(device), available.to(device)
    if not code.systematic:
        scale = _decode_scale(code, None, coded, available, None)
        want, want_ok = reference.decode(None, coded, available, code)
        for kind in layouts:
            got, ok = pk.decode(None, layout(coded_dev, kind, 2), available_dev, code)
            assert torch.equal(ok.cpu(), want_ok)
            assert_matches(got, want, scale, dtype, f"decode berrut {kind}")
        return
    outputs = random_inputs((GROUPS, k) + item, dtype, gen)
    outputs[~available[:, :k]] = float("nan")  # missing slots: must never be read
    batch, groups = _batch_and_groups(item, k, dtype, gen, distinct=True)
    batch[groups[~available[:, :k]]] = float("nan")
    cases = [("stacked", outputs, None), ("gathered", batch, groups)]
    for mode, data, index in cases:
        want, want_ok = reference.decode(data, coded, available, code, groups=index)
        scale = _decode_scale(code, data, coded, available, index)
        data_dev = data.to(device)
        index_dev = index.to(device) if index is not None else None
        for kind in layouts:
            got, ok = pk.decode(layout(data_dev, kind, 1 if index is not None else 2), layout(coded_dev, kind, 2),
                                available_dev, code, groups=index_dev)
            assert torch.equal(ok.cpu(), want_ok), f"ok differs ({mode} {kind})"
            assert_matches(got, want, scale, dtype, f"decode {mode} {kind}")


def check_nan_source_never_read(device="cpu"):
    """combine with more sources than rows, NaN in a source every row skips, one row of zeros."""
    x = torch.randn(2, 9, 300)
    coeffs = torch.randn(2, 3, 9)
    coeffs[:, :, 4] = 0.0
    coeffs[1, 1] = 0.0
    x[:, 4] = float("nan")
    got = torch.ops.parity_kernels.combine(x.to(device), coeffs.to(device))
    scale = reference.combine(x.double().nan_to_num().abs(), coeffs.abs())
    assert_matches(got, reference.combine(x, coeffs), scale, torch.float32)


def check_group_index_outside_the_batch(bad, device="cpu"):
    """Gathered groups, one with index ``bad`` (outside the batch of 10): that group gets
    NaN in every output, written into zeroed out= buffers (decode: ok False); the others
    are right. What the CUDA kernels do where raising would need a device sync."""
    batch = torch.randn(10, 24)
    groups = torch.tensor([[0, 1], [2, bad], [4, 5]])
    good = torch.tensor([0, 2])
    batch_dev, groups_dev = batch.to(device), groups.to(device)
    zeros = lambda *shape: torch.zeros(shape, device=device)  # noqa: E731
    for code in (pk.SumCode(2), pk.LinearCode.cauchy(2, 2)):
        for _ in range(2):  # the second call may replay a launch plan
            got = pk.encode(batch_dev, code, groups=groups_dev, out=zeros(3, code.num_coded, 24)).cpu()
            assert torch.isnan(got[1]).all()
            want = reference.encode(batch, code, groups[good])
            assert_matches(got[good], want, _encode_scale(batch, code, groups[good]), torch.float32, "encode")
    code = pk.LinearCode.cauchy(2, 2)
    available = torch.ones(3, 4, dtype=torch.bool)
    available[:, 0] = False
    parity = torch.randn(3, 2, 24)
    y, ok = pk.decode(batch_dev, parity.to(device), available.to(device), code, groups=groups_dev, out=zeros(3, 2, 24))
    assert ok.tolist() == [True, False, True]
    y = y.cpu()
    assert torch.isnan(y[1]).all() and not torch.isnan(y[good]).any()
    images = torch.randn(10, 2, 6, 6)
    got = pk.encode(images.to(device), pk.ConcatCode(2), groups=groups_dev, out=zeros(3, 1, 2, 6, 6)).cpu()
    assert torch.isnan(got[1]).all()
    code = pk.ConcatCode(2)
    assert_matches(got[good], reference.encode(images, code, groups[good]),
                   _encode_scale(images, code, groups[good]), torch.float32, "concat")
