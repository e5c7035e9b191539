"""The GPU code as compiled for an H200 (sm_90), read on a machine without a GPU.

What neither Triton's interpreter nor the host build of the CUDA C++ kernels can show: that
the Triton kernels compile through Triton's real backend, and how the compiled code moves
memory. Checked here, per kernel: rows read and written 16 bytes at a time where combine
has a vector path, and no stack frame or local memory (spilled registers, or an array
indexed at run time), each of which would cost a bandwidth-bound kernel its speed.

- Triton: the launchers of combine and concat_downsample called as on CUDA, through a
  stand-in driver that reports an sm_90 target and never launches (the kernels are only
  compiled; parity_kernels.bench.gpu_code, which also prints the figures); the PTX and the
  cubin's resource usage are read. Uses this machine's triton, which need not be the GPU
  machine's.
- CUDA C++: the sm_80 and sm_90 code nvcc put into ``parity_kernels._C_cuda``, read with
  cuobjdump (skipped where the package was built without nvcc).
"""

from __future__ import annotations

import re
import subprocess
from typing import Dict

import pytest
import torch

triton = pytest.importorskip("triton")

from parity_kernels.bench.gpu_code import (combine_launches, compile_only_sm90, concat_launch,  # noqa: E402
                                           cubin_usage, cuda_library, cuobjdump, resource_usage)

VECTOR_LOAD = re.compile(r"ld\.global(?:\.[\w:]+)*\.v4\.")
VECTOR_STORE = re.compile(r"st\.global(?:\.[\w:]+)*\.v4\.")
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
DTYPE_IDS = ["float32", "float16", "bfloat16"]
CUOBJDUMP = cuobjdump()
needs_cuobjdump = pytest.mark.skipif(CUOBJDUMP is None, reason="no cuobjdump (Triton's or a CUDA toolkit's)")


def assert_no_stack_or_local(usage: Dict[str, Dict[str, int]]) -> None:
    """usage: kernel name -> cuobjdump's resource usage (cubin_usage, resource_usage)."""
    spilling = {name: u for name, u in usage.items() if u["STACK"] or u["LOCAL"]}
    assert not spilling, f"kernels with a stack frame or local memory: {spilling}"


# --- Triton -------------------------------------------------------------------------------


@pytest.fixture
def sm90():
    """Triton launches compile for sm_90 instead of running (parity_kernels.bench.gpu_code);
    the list each compiled kernel is appended to, as (compiled, run, args, kwargs)."""
    with compile_only_sm90() as compiled:
        yield compiled


@needs_cuobjdump
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_triton_combine_compiles_for_sm90_with_16_byte_rows(sm90, dtype):
    for name, launch in combine_launches(dtype):
        launch()
        binary = sm90[-1][0]
        ptx = binary.asm["ptx"]
        assert VECTOR_LOAD.search(ptx), f"{name}: no 16-byte loads of the rows"
        assert VECTOR_STORE.search(ptx), f"{name}: no 16-byte stores of the outputs"
        assert_no_stack_or_local({name: cubin_usage(binary)})


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_triton_combine_compiles_for_sm90_with_odd_rows(sm90, dtype):
    """Rows of 147 elements: no alignment to vectorise on, the masked scalar code compiles."""
    for name, launch in combine_launches(dtype, item=(3, 7, 7)):
        launch()
        assert not VECTOR_STORE.search(sm90[-1][0].asm["ptx"]), name


@needs_cuobjdump
@pytest.mark.parametrize("k,r", [(8, 1), (8, 2), (4, 6), (8, 10)])
def test_triton_combine_autotune_space_has_no_spills(sm90, k, r):
    """Every block size and warp count the autotuner may try at these k, r (float32: the
    largest accumulators and rows) compiles without spilling: the tuner measures each one
    on the GPU, and a spilling one costs that time for nothing."""
    from parity_kernels.triton import combine

    combine_launches(torch.float32, k=k, r=r)[0][1]()
    _, run, args, kwargs = sm90[-1]
    configs = combine._prune(combine._combine_tuned.configs, {}, **kwargs)
    assert configs
    for config in configs:
        binary = run(*args, grid=(1,), warmup=True, **{**kwargs, **config.kwargs, "num_warps": config.num_warps})
        assert_no_stack_or_local({str(config): cubin_usage(binary)})


@needs_cuobjdump
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gathered", [False, True], ids=["stacked", "gathered"])
def test_triton_concat_compiles_for_sm90_without_64_bit_division(sm90, dtype, gathered):
    """A 64-bit integer division is a ~70-instruction subroutine call on the GPU: with one
    per window bound, the kernel would spend ~10x its memory time on index arithmetic (15 of
    them per thread before image sizes became constants)."""
    concat_launch(dtype, gathered)
    binary = sm90[-1][0]
    assert not re.search(r"(div|rem)\.[su]64", binary.asm["ptx"])
    assert_no_stack_or_local({"concat": cubin_usage(binary)})


@needs_cuobjdump
def test_triton_concat_int64_positions_compile_for_sm90(sm90):
    """The variant for sides past 46340 pixels (WIDE), compiled from a 224-pixel launch's
    arguments (an image that large would not fit here)."""
    concat_launch(torch.float16, gathered=True)
    _, run, args, kwargs = sm90[-1]
    assert kwargs["WIDE"] is False
    wide = run(*args, grid=(1, 1), warmup=True, **{**kwargs, "WIDE": True})
    assert_no_stack_or_local({"concat WIDE": cubin_usage(wide)})


@needs_cuobjdump
def test_triton_concat_autotune_space_has_no_spills(sm90):
    from parity_kernels.triton import concat_downsample

    concat_launch(torch.float16, gathered=True)
    _, run, args, kwargs = sm90[-1]
    configs = concat_downsample._prune(concat_downsample._concat_tuned.configs, {}, **kwargs)
    assert len(configs) > 1
    for config in configs:
        binary = run(*args, grid=(1, 1), warmup=True, **{**kwargs, **config.kwargs, "num_warps": config.num_warps})
        assert_no_stack_or_local({str(config): cubin_usage(binary)})


# --- CUDA C++ ------------------------------------------------------------------------------


CUDA_LIBRARY = cuda_library()
needs_cuda_library = pytest.mark.skipif(CUDA_LIBRARY is None,
                                        reason="parity_kernels._C_cuda not built (no nvcc when installing)")


@needs_cuobjdump
@needs_cuda_library
def test_cuda_kernels_use_no_stack_or_local_memory():
    usage = resource_usage(CUDA_LIBRARY)
    if "sm_90" not in {name.split()[0] for name in usage}:
        pytest.skip("_C_cuda built without sm_90 (PARITY_KERNELS_CUDA_ARCHS)")
    assert any("combine_kernel" in name for name in usage) and any("concat_kernel" in name for name in usage)
    assert_no_stack_or_local(usage)


@needs_cuobjdump
@needs_cuda_library
def test_cuda_combine_vector_kernels_move_16_bytes_at_a_time():
    """combine_kernel<T, 16 / sizeof(T)> (every row aligned) loads and stores 16 bytes a
    time in sm_90 code: one LDG.E.128 per source read, one STG.E.128 per output written,
    and the loads of a batch of sources are all issued before the first add (a GPU warp
    issues in order: an add waiting for its load stalls every load behind it)."""
    sass = subprocess.run([CUOBJDUMP, "-sass", "-arch", "sm_90", CUDA_LIBRARY], capture_output=True, text=True,
                          check=True).stdout
    functions = re.split(r"\n\s*Function : ", sass)[1:]
    if not functions:
        pytest.skip("_C_cuda built without sm_90 (PARITY_KERNELS_CUDA_ARCHS)")
    vector_kernels = {f.split()[0]: f for f in functions
                      if re.search(r"combine_kernelI(fLi4|dLi2|6__halfLi8|13__nv_bfloat16Li8)E", f.split()[0])}
    assert len(vector_kernels) == 4, sorted(vector_kernels)
    for name, code in vector_kernels.items():
        assert "LDG.E.128" in code, f"{name}: no 16-byte loads"
        assert "STG.E.128" in code, f"{name}: no 16-byte stores"
        # kSourcesAtOnce (4) source loads in flight before the first add waits for one
        first_adds = re.split(r"\b[FD]FMA\b", code, maxsplit=1)[0]
        assert first_adds.count("LDG.E.128") >= 4, f"{name}: sources loaded one at a time"


def test_widest_access_in_ptx():
    from parity_kernels.bench.gpu_code import widest
    ptx = """
        @%p1 ld.global.v4.b32 { %r1, %r2, %r3, %r4 }, [ %rd1 + 0 ];
        ld.global.b16 %rs1, [%rd2];
        ld.global.L1::evict_last.v2.b32 { %r5, %r6 }, [ %rd3 + 0 ];
        st.global.b16 [%rd4], %rs2;
        st.global.v2.f64 [%rd5], {%fd1, %fd2};
        ld.param.u64 %rd9, [param_0];
    """
    assert widest(ptx, "ld") == 16
    assert widest(ptx, "st") == 16
    assert widest("ld.global.b16 %rs1, [%rd2]; st.global.b32 [%rd1], %r1;", "ld") == 2
    assert widest("ld.global.b16 %rs1, [%rd2]; st.global.b32 [%rd1], %r1;", "st") == 4
    assert widest("ld.param.u64 %rd9, [param_0];", "ld") == 0
