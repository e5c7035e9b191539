"""The GPU code as compiled for an H200 (sm_90), read on a machine without a GPU.

What neither Triton's interpreter nor the host build of the CUDA C++ kernels can show: that
the Triton kernels compile through Triton's real backend, and how the compiled code moves
memory. Checked here, per kernel: rows read and written 16 bytes at a time where combine
has a vector path, and no stack frame or local memory (spilled registers, or an array
indexed at run time), each of which would cost a bandwidth-bound kernel its speed.

- Triton: the launchers of combine and concat_downsample called as on CUDA, through a
  stand-in driver that reports an sm_90 target and never launches (the kernels are only
  compiled); the PTX and the cubin's resource usage are read. Uses this machine's triton,
  which need not be the GPU machine's.
- CUDA C++: the sm_80 and sm_90 code nvcc put into ``parity_kernels._C_cuda``, read with
  cuobjdump (skipped where the package was built without nvcc).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, List

import pytest
import torch

triton = pytest.importorskip("triton")

VECTOR_LOAD = re.compile(r"ld\.global(?:\.[\w:]+)*\.v4\.")
VECTOR_STORE = re.compile(r"st\.global(?:\.[\w:]+)*\.v4\.")
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
DTYPE_IDS = ["float32", "float16", "bfloat16"]


def _cuobjdump() -> str | None:
    """cuobjdump: Triton's own copy, else a CUDA toolkit's."""
    try:
        path = triton.knobs.nvidia.cuobjdump.path
    except Exception:  # another triton layout
        path = None
    if path and os.path.exists(path):
        return path
    home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    return shutil.which("cuobjdump") or shutil.which("cuobjdump", path=os.path.join(home, "bin"))


CUOBJDUMP = _cuobjdump()
needs_cuobjdump = pytest.mark.skipif(CUOBJDUMP is None, reason="no cuobjdump (Triton's or a CUDA toolkit's)")


def resource_usage(binary: str) -> Dict[str, Dict[str, int]]:
    """``{"<arch> <function>": {"REG": n, "STACK": n, "LOCAL": n, ...}}`` of a cubin or of
    a library's fat binaries, from ``cuobjdump -res-usage``."""
    text = subprocess.run([CUOBJDUMP, "-res-usage", binary], capture_output=True, text=True, check=True).stdout
    usage, arch, function = {}, "?", None
    for line in text.splitlines():
        if m := re.match(r"\s*arch = (\w+)", line):
            arch = m.group(1)
        elif m := re.match(r"\s*Function (\S+):", line):
            function = m.group(1)
        elif function and "REG:" in line:
            usage[f"{arch} {function}"] = {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", line)}
            function = None
    assert usage, text[-2000:]
    return usage


def assert_no_stack_or_local(usage: Dict[str, Dict[str, int]]) -> None:
    spilling = {name: u for name, u in usage.items() if u["STACK"] or u["LOCAL"]}
    assert not spilling, f"kernels with a stack frame or local memory: {spilling}"


# --- Triton -------------------------------------------------------------------------------


class Sm90CompileOnly:
    """Enough of a Triton driver to compile for an H200 (sm_90, 32-thread warps) without one.
    Device -90 keeps these compiled kernels apart from a real GPU's in Triton's caches."""

    def get_current_target(self):
        from triton.backends.compiler import GPUTarget
        return GPUTarget("cuda", 90, 32)

    def get_current_device(self):
        return -90

    def get_current_stream(self, device=None):
        return 0


@pytest.fixture
def sm90(monkeypatch):
    """Triton launches compile for sm_90 instead of running; returns the list the compiled
    kernels are appended to, each with the launch's (args, kwargs) for recompiling."""
    from triton.runtime import driver

    from parity_kernels.triton import combine, concat_downsample

    # (raising=False: a triton that keeps its driver elsewhere compiles for its own GPU)
    monkeypatch.setattr(driver, "_active", Sm90CompileOnly(), raising=False)
    compiled: List = []
    for kernel in (combine._combine_kernel, concat_downsample._concat_kernel):
        def compile_only(*args, grid, warmup, _run=kernel.run, **kwargs):
            binary = _run(*args, grid=grid, warmup=True, **kwargs)
            compiled.append((binary, _run, args, kwargs))
            return binary
        monkeypatch.setattr(kernel, "run", compile_only)
    return compiled


def cubin_usage(binary) -> Dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(binary.asm["cubin"])
        f.flush()
        (usage,) = resource_usage(f.name).values()
    return usage


def combine_launches(dtype, item=(3, 16, 16), k=4, r=2):
    """(name, launcher call) for each way combine runs: encode, gathered groups, decode by
    pattern with an extra (parity) row. 16-byte aligned rows when ``item`` has a multiple
    of 16 elements (of 4 bytes or less)."""
    from parity_kernels.triton import combine

    groups = 3
    x = torch.randn(groups, k, *item).to(dtype)
    out = torch.empty(groups, r, *item, dtype=dtype)
    rows = torch.randn(groups * k, *item).to(dtype)
    index = torch.randperm(groups * k).view(groups, k)
    table = torch.randn(2 ** (k + 1), r, k + 1)
    ok_table = torch.ones(2 ** (k + 1), dtype=torch.bool)
    available = torch.rand(groups, k + 1) < 0.7
    parity = torch.randn(groups, 1, *item).to(dtype)
    ok = torch.empty(groups, dtype=torch.bool)
    return [
        ("encode", lambda: combine.combine_into(out, x, torch.randn(groups, r, k), None, None)),
        ("gathered", lambda: combine.combine_into(out, rows, torch.randn(groups, r, k), index, None)),
        ("by pattern", lambda: combine.combine_patterns_into(out, ok, x, table, ok_table, available, None, parity)),
    ]


@needs_cuobjdump
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_triton_combine_compiles_for_sm90_with_16_byte_rows(sm90, dtype):
    for name, launch in combine_launches(dtype):
        launch()
        binary = sm90[-1][0]
        ptx = binary.asm["ptx"]
        assert VECTOR_LOAD.search(ptx), f"{name}: no 16-byte loads of the rows"
        assert VECTOR_STORE.search(ptx), f"{name}: no 16-byte stores of the outputs"
        usage = cubin_usage(binary)
        assert usage["STACK"] == 0 and usage["LOCAL"] == 0, (name, usage)


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
        usage = cubin_usage(binary)
        assert usage["STACK"] == 0 and usage["LOCAL"] == 0, (config, usage)


def concat_launch(dtype, gathered, k=8, groups=2):
    """concat_downsample's launcher on 224 x 224 RGB images (the untuned launch: small)."""
    from parity_kernels.triton import concat_downsample

    out = torch.empty(groups, 1, 3, 224, 224, dtype=dtype)
    if gathered:
        images, index = torch.randn(groups * k, 3, 224, 224).to(dtype), torch.arange(groups * k).view(groups, k)
    else:
        images, index = torch.randn(groups, k, 3, 224, 224).to(dtype), None
    concat_downsample.concat_downsample_into(out, images, index)


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
    usage = cubin_usage(binary)
    assert usage["STACK"] == 0 and usage["LOCAL"] == 0, usage


@needs_cuobjdump
def test_triton_concat_autotune_space_has_no_spills(sm90):
    from parity_kernels.triton import concat_downsample

    concat_launch(torch.float16, gathered=True)
    _, run, args, kwargs = sm90[-1]
    configs = concat_downsample._prune(concat_downsample._concat_tuned.configs, {}, **kwargs)
    assert len(configs) > 1
    for config in configs:
        binary = run(*args, grid=(1, 1), warmup=True, **{**kwargs, **config.kwargs, "num_warps": config.num_warps})
        usage = cubin_usage(binary)
        assert usage["STACK"] == 0 and usage["LOCAL"] == 0, (config, usage)


# --- CUDA C++ ------------------------------------------------------------------------------


def _cuda_library() -> str | None:
    spec = importlib.util.find_spec("parity_kernels._C_cuda")
    return spec.origin if spec else None


CUDA_LIBRARY = _cuda_library()
needs_cuda_library = pytest.mark.skipif(CUDA_LIBRARY is None,
                                        reason="parity_kernels._C_cuda not built (no nvcc when installing)")


@needs_cuobjdump
@needs_cuda_library
def test_cuda_kernels_use_no_stack_or_local_memory():
    usage = resource_usage(CUDA_LIBRARY)
    assert {name.split()[0] for name in usage} >= {"sm_80", "sm_90"}
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
    vector_kernels = {f.split()[0]: f for f in functions
                      if re.search(r"combine_kernelI(fLi4|dLi2|6__halfLi8|13__nv_bfloat16Li8)E", f.split()[0])}
    assert len(vector_kernels) == 4, sorted(vector_kernels)
    for name, code in vector_kernels.items():
        assert "LDG.E.128" in code, f"{name}: no 16-byte loads"
        assert "STG.E.128" in code, f"{name}: no 16-byte stores"
        # kSourcesAtOnce (4) source loads in flight before the first add waits for one
        first_adds = re.split(r"\b[FD]FMA\b", code, maxsplit=1)[0]
        assert first_adds.count("LDG.E.128") >= 4, f"{name}: sources loaded one at a time"
