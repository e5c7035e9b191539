"""Every code x dtype x k in 1..8 x r in 1..4 x stacked/gathered x layout, kernel vs float64 reference."""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference

from conftest import DTYPES, all_codes, assert_matches, make_code, random_inputs, term_scale
from kernel_checks import check_decode, check_encode, seed

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name,k,r", all_codes())
def test_kernels_match_reference(name, k, r, dtype, poisoned_outputs):
    code = make_code(name, k, r)
    gen = seed(name, k, r, str(dtype))
    item = (2, 5, 7) if name == "concat" else (3, 7)
    check_encode(code, dtype, item, gen)
    check_decode(code, dtype, gen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["sum", "cauchy", "berrut"])
def test_rows_longer_than_one_chunk(name, dtype, poisoned_outputs):
    """Rows of 2 * 2048 + 37 elements cross the CPU kernel's chunk boundaries."""
    code = make_code(name, 4, 2)
    gen = seed("long", name, str(dtype))
    check_encode(code, dtype, (2 * 2048 + 37,), gen)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("num_sources", [5, 16, 17, 37])
def test_many_sources_with_zero_coefficients(num_sources, dtype, poisoned_outputs):
    """More sources than one round of passes; zero coefficients (the last one too) skip NaN rows;
    rows of one group that read different sources, a copy among them."""
    gen = seed("many", num_sources, str(dtype))
    x = random_inputs((3, num_sources, 2 * 2048 + 5), dtype, gen)
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    coeffs = torch.randn(3, 4, num_sources, generator=gen).to(coeff_dtype)
    coeffs[:, :, -1] = 0.0
    coeffs[0, :, ::3] = 0.0
    coeffs[1, 2] = 0.0  # a row with no source at all
    coeffs[2, 0, 1::2] = 0.0  # even sources only, then every source, a copy, one odd source
    coeffs[2, 2] = 0.0
    coeffs[2, 2, 2] = 1.0
    coeffs[2, 3] = 0.0
    coeffs[2, 3, 1] = 0.5
    x[:, -1] = float("nan")
    x[0, ::3] = float("nan")
    got = torch.ops.parity_kernels.combine(x, coeffs)
    clean = x.double().nan_to_num()
    assert_matches(got, reference.combine(x, coeffs), term_scale(clean, coeffs), dtype, "many sources")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("numel", [9, 16 + 8 + 3, 128 + 16 + 9, 1024 + 128 + 16 + 15])
def test_many_rows_of_the_same_sources(numel, dtype, poisoned_outputs):
    """Many rows (31) reading the same sources, one of them fewer and one more, a NaN source
    no row reads; lengths leaving every remainder of 8- and 16-column vector steps, across a
    chunk boundary too (the kernel's 1024 columns)."""
    gen = seed("many rows", numel, str(dtype))
    x = random_inputs((2, 7, numel), dtype, gen)
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    coeffs = torch.randn(2, 31, 7, generator=gen).to(coeff_dtype)
    coeffs[:, :, 5] = 0.0
    x[0, 5] = float("nan")
    coeffs[0, 4, 2] = 0.0  # one row of group 0 reads fewer sources,
    coeffs[1, 7, 5] = 0.5  # one of group 1 more
    got = torch.ops.parity_kernels.combine(x, coeffs)
    clean = x.double().nan_to_num()
    assert_matches(got, reference.combine(x, coeffs), term_scale(clean, coeffs), dtype, "many rows")


def test_baseline_instruction_set_kernel_too():
    """The same checks with the SSE2 build of the kernel (the AVX2 one runs everywhere else here)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PARITY_KERNELS_CPU_ISA="generic")
    selection = "many_sources or many_rows or longer_than_one_chunk or (kernels_match_reference and (4-2 or concat-4 or concat-3))"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", selection],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["sum", "cauchy", "berrut"])
def test_large_calls_on_one_and_two_threads(name, threads, dtype, poisoned_outputs):
    """Calls past the CPU kernel's 1 MB threading threshold, and outputs past its 8 MB
    non-temporal-store threshold (float16: only its copied rows stream), on the calling
    thread alone and split across two."""
    code = make_code(name, 4, 2)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(4, 4, 2**19 + 37).to(dtype)  # float32: 32 MB in, sum: an 8 MB parity
        parity = pk.encode(x, code)
        assert_matches(parity, reference.encode(x, code), term_scale(x, code.encode_matrix()), dtype)
        available = torch.ones(4, code.num_sources, dtype=torch.bool)
        available[:, 1] = False
        outputs = None
        if code.systematic:
            outputs = x.clone()
            outputs[:, 1] = float("nan")  # missing: never read
        y, ok = pk.decode(outputs, parity, available, code)
        want, want_ok = reference.decode(outputs, parity, available, code)
        assert torch.equal(ok, want_ok) and bool(ok.all())
        assert torch.isfinite(y).all()
        tolerance = 1e-4 if dtype == torch.float32 else 1e-2
        torch.testing.assert_close(y.double(), want, rtol=tolerance, atol=tolerance)
    finally:
        torch.set_num_threads(previous)
