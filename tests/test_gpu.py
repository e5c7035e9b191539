"""GPU tests: both CUDA backends against the reference, large/odd/non-contiguous sizes,
CUDA-graph capture, torch.compile and no host synchronisation. Skipped without CUDA.

Run on a GPU machine with ``pytest -m gpu tests/test_gpu.py`` (bench/device_check.sh does).
"""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference

from conftest import DTYPES, all_codes, assert_matches, make_code, term_scale
from kernel_checks import check_decode, check_encode, check_group_index_outside_the_batch, seed

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

GPU_DTYPES = [d for d in DTYPES if d != torch.float64]
BACKENDS = ["triton", "cuda"]
CODES = [case for case in all_codes() if case[1] in (1, 2, 3, 4, 5, 8)]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with pk.using_backend(request.param):
        yield request.param


@pytest.mark.parametrize("dtype", GPU_DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name,k,r", CODES)
def test_backends_match_reference(backend, name, k, r, dtype, poisoned_outputs):
    code = make_code(name, k, r)
    gen = seed("gpu", name, k, r, str(dtype))
    item = (3, 9, 11) if name == "concat" else (3, 37)
    check_encode(code, dtype, item, gen, device="cuda")
    check_decode(code, dtype, gen, device="cuda")


@pytest.mark.parametrize("dtype", GPU_DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("numel", [2**20, 2**20 + 3, 3 * 224 * 224])
def test_large_and_odd_rows(backend, numel, dtype):
    """Aligned rows take the 16-byte path, odd ones the scalar tail; large ones are autotuned."""
    gen = torch.Generator().manual_seed(numel)
    x = torch.randn(4, 4, numel, generator=gen).to(dtype)
    coeffs = torch.randn(3, 4, generator=gen)
    got = torch.ops.parity_kernels.combine(x.cuda(), coeffs.cuda())
    assert_matches(got, reference.combine(x, coeffs), term_scale(x, coeffs), dtype, f"{backend} {numel}")


def test_repeated_calls_through_launch_plans(backend, poisoned_outputs):
    """The same calls three times: later rounds run launch plans (both backends; ConcatCode
    too; Triton's launch the compiled kernel directly, triton/direct.py) and must agree
    with the reference; misaligned views between aligned ones of the same metadata (a plan
    keeps strides, never pointers: alignment is decided per call)."""
    code, concat = pk.LinearCode.cauchy(4, 2), pk.ConcatCode(4)
    for round_ in range(3):
        check_encode(code, torch.float16, (3, 37), seed("gpu plans", round_), device="cuda")
        check_decode(code, torch.float16, seed("gpu plans decode", round_), device="cuda")
        check_encode(concat, torch.float16, (3, 9, 11), seed("gpu plans concat", round_), device="cuda")
    base = torch.randn(3, 4, 1004, device="cuda")  # rows of 4016 bytes: 16-byte multiples
    for start in (0, 0, 1, 0, 1, 0):
        x = base[:, :, start:start + 1000]
        got = pk.encode(x, code)
        assert_matches(got, reference.encode(x.cpu(), code), term_scale(x.cpu(), code.encode_matrix()),
                       torch.float32, f"view at {start}")
    for kept in (code, concat):
        assert {plan.backend.name for plan in kept._plans.values()} == {backend}, kept
        if backend == "triton":  # every plan keeps what the JIT launched for its launch key
            assert all(plan.state.compiled for plan in kept._plans.values()), kept


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_tensors_on_another_device_than_the_current_one(backend):
    """Kernels run on the tensors' device, whatever the current device (Triton launches on the
    current one: the backend switches first), through plans too."""
    code = pk.LinearCode.cauchy(4, 2)
    x = torch.randn(3, 4, 1000, device="cuda:1")
    expected = reference.encode(x.cpu(), code)
    with torch.cuda.device(0):
        for _ in range(3):
            got = pk.encode(x, code)
            assert got.device == x.device
            assert_matches(got, expected, term_scale(x.cpu(), code.encode_matrix()), torch.float32)


def test_misaligned_views(backend):
    """Rows that start off a 16-byte boundary (a view one element in) still come out right."""
    base = torch.randn(3, 4, 1001, device="cuda")
    x = base[:, :, 1:]
    code = pk.LinearCode.cauchy(4, 2)
    got = pk.encode(x, code)
    assert_matches(got, reference.encode(x.cpu(), code), term_scale(x.cpu(), code.encode_matrix()), torch.float32)


@pytest.mark.parametrize("bad", [-1, 10], ids=["negative", "past_the_batch"])
def test_group_index_outside_the_batch_gives_nan(backend, bad):
    """No exception and no sync: the group's outputs are NaN (decode: ok False), the
    others right; the CUDA context stays usable."""
    check_group_index_outside_the_batch(bad, device="cuda")
    torch.cuda.synchronize()


@pytest.mark.parametrize("k", [2, 4, 9])
def test_concat_serving_shape(backend, k):
    x = torch.randn(8, k, 3, 224, 224, device="cuda")
    got = pk.encode(x, pk.ConcatCode(k))
    cpu = x.cpu()
    assert_matches(got, reference.concat_downsample(cpu), reference.concat_downsample(cpu.abs()), torch.float32)


def _serving_step(code, x, available):
    coded = pk.encode(x, code)
    outputs = x * 2.0
    return pk.decode(outputs, coded * 2.0, available, code)


@pytest.mark.parametrize("code", [pk.SumCode(4), pk.LinearCode.cauchy(4, 2)], ids=repr)
def test_cuda_graph_capture_and_replay(backend, code):
    x = torch.randn(16, 4, 3, 32, 32, device="cuda")
    available = torch.ones(16, code.num_sources, dtype=torch.bool, device="cuda")
    available[:, 1] = False
    want_y, want_ok = _serving_step(code, x, available)  # warm-up: tables, autotuning
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        _serving_step(code, x, available)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y, static_ok = _serving_step(code, x, available)
    x.copy_(torch.randn_like(x))
    available[:, 1] = True
    available[:, 2] = False
    graph.replay()
    torch.cuda.synchronize()
    want_y, want_ok = _serving_step(code, x, available)
    assert torch.equal(static_ok, want_ok)
    torch.testing.assert_close(static_y, want_y)


def test_torch_compile_on_cuda(backend):
    torch._dynamo.reset()
    code = pk.LinearCode.cauchy(3, 2)
    x = torch.randn(8, 3, 64, device="cuda")
    available = torch.rand(8, 5, device="cuda") < 0.7
    want = _serving_step(code, x, available)
    got = torch.compile(lambda a, b: _serving_step(code, a, b), fullgraph=True)(x, available)
    assert torch.equal(got[1], want[1])
    torch.testing.assert_close(got[0], want[0])


@pytest.mark.parametrize("code", [pk.SumCode(4), pk.LinearCode.cauchy(4, 2), pk.BerrutCode(4, 6),
                                  pk.ConcatCode(4), pk.LinearCode.cauchy(10, 4)], ids=repr)
def test_no_host_synchronisation(backend, code):
    x = torch.randn(8, code.k, 3, 16, 16, device="cuda")
    available = torch.rand(8, code.num_sources, device="cuda") < 0.8
    groups = torch.arange(8 * code.k, device="cuda").view(8, code.k)
    batch = x.flatten(0, 1)

    def step():
        coded = pk.encode(x, code)
        pk.encode(batch, code, groups=groups)
        if code.systematic:
            return pk.decode(x, coded, available, code)
        return pk.decode(None, coded, available, code)

    step()  # warm-up: pattern tables, autotuning, compilation
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


@pytest.mark.parametrize("code", [pk.SumCode(4), pk.LinearCode.cauchy(4, 2), pk.BerrutCode(4, 6)], ids=repr)
def test_one_kernel_launch_per_call(backend, code):
    """DESIGN §5: one launch per call. Decode looks its coefficients up inside the
    kernel (the availability mask and the code's pattern table), so it launches once too."""
    x = torch.randn(8, code.k, 3, 16, 16, device="cuda")
    available = torch.rand(8, code.num_sources, device="cuda") < 0.8
    coded = pk.encode(x, code)
    outputs = x if code.systematic else None
    pk.decode(outputs, coded, available, code)  # warm-up: table, autotuning, compilation
    torch.cuda.synchronize()
    for call in (lambda: pk.encode(x, code), lambda: pk.decode(outputs, coded, available, code)):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            call()
            torch.cuda.synchronize()
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        assert len(kernels) == 1, [e.name for e in kernels]


def test_learned_encoder_gradients_on_cuda(backend):
    x = torch.randn(4, 3, 10, device="cuda", dtype=torch.float32, requires_grad=True)
    weights = torch.randn(2, 3, device="cuda", requires_grad=True)
    out = torch.ops.parity_kernels.combine(x, weights)
    grad = torch.randn_like(out)
    out.backward(grad)
    want_w = torch.einsum("gjn,gsn->js", grad.double(), x.detach().double())
    want_x = torch.einsum("gjn,js->gsn", grad.double(), weights.detach().double())
    torch.testing.assert_close(weights.grad.double(), want_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), want_x, rtol=1e-5, atol=1e-5)
