"""Every code x dtype x k in 1..8 x r in 1..4 x stacked/gathered x layout, kernel vs float64 reference."""

from __future__ import annotations

import zlib

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference

from conftest import DTYPES, LAYOUTS, all_codes, assert_matches, layout, make_code, random_inputs, term_scale

GROUPS = 3


def _seed(*parts) -> torch.Generator:
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


def _check_encode(code, dtype, item, gen):
    k = code.k
    x = random_inputs((GROUPS, k) + item, dtype, gen)
    batch, groups = _batch_and_groups(item, k, dtype, gen, distinct=False)
    for kind in LAYOUTS:
        got = pk.encode(layout(x, kind, 2), code)
        assert_matches(got, reference.encode(x, code), _encode_scale(x, code, None), dtype, f"encode stacked {kind}")
        got = pk.encode(layout(batch, kind, 1), code, groups=groups)
        want = reference.encode(batch, code, groups)
        assert_matches(got, want, _encode_scale(batch, code, groups), dtype, f"encode gathered {kind}")


def _decode_scale(code, outputs, coded, available, groups):
    coeffs, _ = code.decode_coefficients(available)
    if code.systematic:
        return reference.combine(outputs.double().abs(), coeffs.abs(), groups, coded.double().abs())
    return reference.combine(coded.double().abs(), coeffs.abs())


def _check_decode(code, dtype, gen):
    k, item = code.k, (5,)
    coded = random_inputs((GROUPS, code.num_coded) + item, dtype, gen)
    available = torch.rand(GROUPS, code.num_sources, generator=gen) < 0.7
    if not code.systematic:
        scale = _decode_scale(code, None, coded, available, None)
        want, want_ok = reference.decode(None, coded, available, code)
        for kind in LAYOUTS:
            got, ok = pk.decode(None, layout(coded, kind, 2), available, code)
            assert torch.equal(ok, want_ok)
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
        for kind in LAYOUTS:
            got, ok = pk.decode(layout(data, kind, 1 if index is not None else 2), layout(coded, kind, 2),
                                available, code, groups=index)
            assert torch.equal(ok, want_ok), f"ok differs ({mode} {kind})"
            assert_matches(got, want, scale, dtype, f"decode {mode} {kind}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name,k,r", all_codes())
def test_kernels_match_reference(name, k, r, dtype, poisoned_outputs):
    code = make_code(name, k, r)
    gen = _seed(name, k, r, str(dtype))
    item = (2, 5, 7) if name == "concat" else (3, 7)
    _check_encode(code, dtype, item, gen)
    _check_decode(code, dtype, gen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["sum", "cauchy", "berrut"])
def test_rows_longer_than_one_chunk(name, dtype, poisoned_outputs):
    """Rows of 2 * 2048 + 37 elements cross the CPU kernel's chunk boundaries."""
    code = make_code(name, 4, 2)
    gen = _seed("long", name, str(dtype))
    _check_encode(code, dtype, (2 * 2048 + 37,), gen)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("num_sources", [5, 16, 17, 37])
def test_many_sources_with_zero_coefficients(num_sources, dtype, poisoned_outputs):
    """More sources than one round of passes; zero coefficients (the last one too) skip NaN rows."""
    gen = _seed("many", num_sources, str(dtype))
    x = random_inputs((3, num_sources, 2 * 2048 + 5), dtype, gen)
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    coeffs = torch.randn(3, 4, num_sources, generator=gen).to(coeff_dtype)
    coeffs[:, :, -1] = 0.0
    coeffs[0, :, ::3] = 0.0
    coeffs[1, 2] = 0.0  # a row with no source at all
    x[:, -1] = float("nan")
    x[0, ::3] = float("nan")
    got = torch.ops.parity_kernels.combine(x, coeffs)
    clean = x.double().nan_to_num()
    assert_matches(got, reference.combine(x, coeffs), term_scale(clean, coeffs), dtype, "many sources")


def test_baseline_instruction_set_kernel_too():
    """The same checks with the SSE2 build of the kernel (the AVX2 one runs everywhere else here)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PARITY_KERNELS_CPU_ISA="generic")
    selection = "many_sources or longer_than_one_chunk or (kernels_match_reference and 4-2)"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", selection],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
