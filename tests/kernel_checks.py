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
