"""Every code x dtype x k in 1..8 x r in 1..4 x stacked/gathered x layout, kernel vs float64 reference."""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk
from parity_kernels import _C, reference

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


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("numel", [16 + 8 + 3, 1024 + 16 + 9])
@pytest.mark.parametrize("num_sources", [1, 2, 4, 7, 8, 9, 16, 17])
def test_rows_sharing_their_sources(num_sources, numel, dtype, poisoned_outputs):
    """Rows with the same non-zero sources are summed together in blocks (the x86 builds:
    up to 8 sources with AVX2, 16 with AVX-512, 16 rows a block; beyond, the passes): 18
    such rows, interleaved with a plain copy and two rows that read a NaN source (one
    besides the others' sources, one instead of source 0: only they may turn NaN); vector
    steps of 8 and 16 columns (AVX2 bfloat16 rows of up to 4 sources: 16) with every tail."""
    gen = seed("shared", num_sources, numel, str(dtype))
    x = random_inputs((2, num_sources + 1, numel), dtype, gen)
    x[:, num_sources] = float("nan")
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    coeffs = torch.randn(2, 21, num_sources + 1, generator=gen).to(coeff_dtype)
    coeffs[:, :, num_sources] = 0.0
    coeffs[:, 3, num_sources] = 0.7  # row 3 reads the NaN source too,
    coeffs[:, 5, 0] = 0.0
    coeffs[:, 5, num_sources] = 0.3  # row 5 as many sources, the NaN one for source 0
    coeffs[:, 11] = 0.0
    coeffs[:, 11, 0] = 1.0  # row 11: a copy of source 0
    got = torch.ops.parity_kernels.combine(x, coeffs)
    assert torch.isnan(got[:, 3]).all() and torch.isnan(got[:, 5]).all()
    rows = [j for j in range(21) if j not in (3, 5)]
    clean = x.double().nan_to_num()
    assert_matches(got[:, rows], reference.combine(x, coeffs[:, rows]), term_scale(clean, coeffs[:, rows]), dtype,
                   "shared rows")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
def test_rows_with_random_sources(dtype, poisoned_outputs):
    """100 rows, each reading a random subset of 6 sources (about 60 different subsets, the
    same subset recurring near and more than 64 rows apart, where the kernel stops looking
    for a block's rows), NaN in the sources wherever no row of the group reads them."""
    gen = seed("random rows", str(dtype))
    x = random_inputs((2, 6, 16 * 3 + 5), dtype, gen)
    coeff_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    coeffs = torch.randn(2, 100, 6, generator=gen).to(coeff_dtype)
    coeffs[torch.rand(2, 100, 6, generator=gen) < 0.4] = 0.0
    coeffs[:, :, 5] = 0.0  # source 5 unread: NaN
    coeffs[:, 90] = coeffs[:, 3]  # the same subset 87 rows apart
    x[:, 5] = float("nan")
    got = torch.ops.parity_kernels.combine(x, coeffs)
    clean = x.double().nan_to_num()
    assert_matches(got, reference.combine(x, coeffs), term_scale(clean, coeffs), dtype, "random rows")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16],
                         ids=lambda d: str(d).replace("torch.", ""))
def test_special_values_round_as_torch(dtype):
    """Sums of two sources rounded to the dtype exactly as torch rounds their float32 sum:
    subnormals kept (not flushed), infinities, NaN, overflow to inf, zeros; in the
    vector steps and the tail."""
    info = torch.finfo(dtype)
    specials = torch.tensor([info.tiny / 4, -info.tiny / 8, info.tiny / 2, info.tiny * 3 / 4, float("inf"),
                             float("-inf"), float("nan"), info.max, -info.max, 0.0, -0.0, 1.0, info.eps / 2,
                             info.tiny, 3 * info.tiny / 16, -info.tiny / 2])
    a = specials.repeat_interleave(len(specials))  # every pair of specials, then 7 again
    b = specials.repeat(len(specials))
    a, b = torch.cat([a, a[:7]]).to(dtype), torch.cat([b, b[:7]]).to(dtype)
    x = torch.stack([a, b])[None]  # (1, 2, 263)
    coeffs = torch.ones(3, 2)  # three rows of the same two sources
    got = torch.ops.parity_kernels.combine(x, coeffs)
    want = (a.float() + b.float()).to(dtype)
    for j in range(3):
        row = got[0, j]
        assert torch.equal(torch.isnan(row), torch.isnan(want)), f"row {j}: NaN where torch has none, or none where it has"
        finite = ~torch.isnan(want)
        assert torch.equal(row[finite], want[finite]), f"row {j}"  # by value: -0 and 0 alike (the reference's sums start at 0)


@pytest.mark.parametrize("sources", [2, 19])
def test_bfloat16_sums_round_to_nearest_even_as_torch(sources):
    """bfloat16 sums of two sources (exact in float32) rounded as torch rounds them, bit for
    bit, over magnitudes from 2^-120 to 2^120: every other one a tie (b half a unit in the
    last place of a), which goes to even, the others rounded up or down (the AVX512_BF16
    build's conversion instruction, the others' integer steps). 19 sources (the 17 after a
    and b zeros): rows of more sources than the kernels hold in registers, summed in
    passes through a float accumulator."""
    gen = torch.Generator().manual_seed(7)
    n = 4099  # vector steps and a tail
    scale = torch.exp2(torch.randint(-120, 120, (n,), generator=gen).double())
    a = (torch.randn(n, generator=gen, dtype=torch.float64) * scale).to(torch.bfloat16)
    b = (torch.rand(n, generator=gen, dtype=torch.float64) * scale / 64).to(torch.bfloat16)
    half_ulp = torch.ldexp(torch.ones(n), torch.frexp(a.float()).exponent - 9) * torch.sign(a.float())
    b[::2] = half_ulp[::2].to(torch.bfloat16)
    sums = a.float() + b.float()
    discarded = sums.view(torch.int32) & 0xFFFF
    assert (discarded == 0x8000).float().mean() > 0.45 and (discarded != 0).float().mean() > 0.9
    want = sums.to(torch.bfloat16)
    zeros = torch.zeros(sources - 2, n, dtype=torch.bfloat16)
    got = torch.ops.parity_kernels.combine(torch.cat([a[None], b[None], zeros])[None], torch.ones(3, sources))
    for j in range(3):
        assert torch.equal(got[0, j], want), f"row {j}"


def _lower_instruction_sets():
    """The builds this CPU could run besides the one it runs by default."""
    best = _C.cpu_isa()
    return {"avx512bf16": ["generic", "avx2", "avx512"], "avx512": ["generic", "avx2"], "avx2": ["generic"]}.get(best, [])


def test_the_instruction_set_is_named_and_an_unknown_one_refused():
    import os
    import subprocess
    import sys

    assert _C.cpu_isa() in ("avx512bf16", "avx512", "avx2", "generic")
    env = dict(os.environ, PARITY_KERNELS_CPU_ISA="sse9")
    script = "import torch, parity_kernels as pk; pk.encode(torch.ones(1, 2, 3), pk.SumCode(2))"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "PARITY_KERNELS_CPU_ISA: expected generic, avx2, avx512 or avx512bf16, got sse9" in result.stderr


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_other_instruction_set_builds_too(isa):
    """The same checks with each build this CPU runs besides its best one (the baseline
    SSE2 build; the AVX2 one where AVX-512 runs by default; the AVX-512 one without
    AVX512_BF16's conversion where the CPU has it)."""
    import os
    import subprocess
    import sys

    if isa not in _lower_instruction_sets():
        pytest.skip(f"the {isa} build is this CPU's default, or more than it has: the main run covers it")
    env = dict(os.environ, PARITY_KERNELS_CPU_ISA=isa)
    selection = ("many_sources or many_rows or longer_than_one_chunk or sharing or random_sources or special_values"
                 " or nearest_even or aligned or (kernels_match_reference and (4-2 or concat-4 or concat-3))")
    concat_tests = os.path.join(os.path.dirname(__file__), "test_concat.py")  # its nearest_even: bfloat16 means
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, concat_tests,
                             "-k", selection],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


@pytest.mark.parametrize("name", ["sum", "berrut"])
def test_large_aligned_rows_stream(name, poisoned_outputs):
    """float32 outputs past the 8 MB threshold whose rows all start on a vector boundary:
    the rows summed together are stored past the caches (non-temporal stores)."""
    code = make_code(name, 4, 2)
    x = torch.randn(2, 4, 2**20)  # parity rows of 4 MB, 64-byte aligned
    parity = pk.encode(x, code)
    assert_matches(parity, reference.encode(x, code), term_scale(x, code.encode_matrix()), torch.float32)


@pytest.mark.parametrize("name, k, r, numel", [("berrut", 8, 2, 2**18), ("sum", 4, 1, 2**21 + 13)],
                         ids=["berrut-8-10", "sum-4-tail"])
def test_large_aligned_rows_stream_whole_lines(name, k, r, numel, poisoned_outputs):
    """Streamed float32 rows are written a 64-byte line at a time (the AVX2 build: two
    stores): ten rows summed together (Berrut(8, 10), 10 MB of parity), and one row whose
    last work item ends 13 columns in (the 8-column and single-column tails)."""
    code = make_code(name, k, r)
    x = torch.randn(1, k, numel)
    parity = pk.encode(x, code)
    assert parity.shape == (1, code.num_coded, numel)
    assert_matches(parity, reference.encode(x, code), term_scale(x, code.encode_matrix()), torch.float32)


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
