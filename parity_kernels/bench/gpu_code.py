"""The GPU code as compiled for an H200 (sm_90), read on any machine with triton (and nvcc for
the CUDA C++ kernels): registers, stack, and how each kernel moves memory. No GPU needed,
no timing: what the compiled code is, not how fast it runs.

``python -m parity_kernels.bench.gpu_code`` prints, for the Triton kernels at serving shapes
(untuned launches) and for the CUDA C++ kernels in ``parity_kernels._C_cuda``, registers a
thread, stack bytes, and the widest global loads and stores. tests/test_gpu_code.py holds
the properties that must stay true (16-byte rows, no stack, no 64-bit division).

Triton kernels are compiled through their real launchers, with CPU tensors standing in for
device ones, by a stand-in driver that reports an sm_90 target and never launches.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, Iterator, List, Optional

import torch


def cuda_homes() -> List[str]:
    """Folders a CUDA toolkit may be in, in the order setup.py's ``find_cuda`` tries them:
    $CUDA_HOME, $CUDA_PATH, /usr/local/cuda, the folder above nvcc's on PATH."""
    nvcc = shutil.which("nvcc")
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
             os.path.dirname(os.path.dirname(os.path.realpath(nvcc))) if nvcc else None]
    return [home for home in homes if home]


@functools.lru_cache(maxsize=None)
def cuobjdump() -> Optional[str]:
    """cuobjdump: Triton's bundled copy, else a CUDA toolkit's; None when neither exists."""
    try:
        import triton
        path = triton.knobs.nvidia.cuobjdump.path
    except Exception:  # no triton, or another layout of it
        path = None
    if path and os.path.exists(path):
        return path
    return shutil.which("cuobjdump") or next(
        (found for home in cuda_homes() if (found := shutil.which("cuobjdump", path=os.path.join(home, "bin")))), None)


def resource_usage(binary: str) -> Dict[str, Dict[str, int]]:
    """``{"<arch> <function>": {"REG": n, "STACK": n, "LOCAL": n, ...}}`` of a cubin or of a
    library's fat binaries, from ``cuobjdump -res-usage``."""
    text = subprocess.run([cuobjdump(), "-res-usage", binary], capture_output=True, text=True, check=True).stdout
    usage, arch, function = {}, "?", None
    for line in text.splitlines():
        if m := re.match(r"\s*arch = (\w+)", line):
            arch = m.group(1)
        elif m := re.match(r"\s*Function (\S+):", line):
            function = m.group(1)
        elif function and "REG:" in line:
            usage[f"{arch} {function}"] = {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", line)}
            function = None
    if not usage:
        raise RuntimeError(f"no resource usage in cuobjdump's output: {text[-500:]}")
    return usage


def cubin_usage(compiled) -> Dict[str, int]:
    """Resource usage of one compiled Triton kernel (its cubin)."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        (usage,) = resource_usage(f.name).values()
    return usage


def widest(ptx: str, op: str) -> int:
    """Bytes of the widest global ``op`` ("ld" or "st") in PTX (0: none): a ``.v4.b32`` moves
    16, a ``.b16`` 2."""
    widths = [(int(vec[1:]) if vec else 1) * int(bits) // 8
              for vec, bits in re.findall(rf"\b{op}\.global(?:\.[\w:]+?)*?(?:\.(v[248]))?\.[bfsu](\d+)\b", ptx)]
    return max(widths, default=0)


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


def _make_active(stand_in):
    """Make ``stand_in`` Triton's active driver; returns a function that puts back the one
    before (Triton 3.5 on keep it in ``driver._active``, 3.4 in ``driver.active``)."""
    from triton.runtime import driver

    name = "_active" if "_active" in vars(driver) or "active" not in vars(driver) else "active"
    saved = vars(driver).get(name)
    driver.set_active(stand_in)
    return lambda: setattr(driver, name, saved)


@contextlib.contextmanager
def compile_only_sm90() -> Iterator[List]:
    """Within it, the Triton kernels' launches compile for sm_90 instead of running. Yields
    the list each compiled kernel is appended to, as (compiled, run, args, kwargs): ``run(*args,
    grid=..., warmup=True, **kwargs)`` compiles it again (other block sizes, warps)."""
    from ..triton import combine, concat_downsample

    kernels = (combine._combine_kernel, concat_downsample._concat_kernel)
    compiled: List = []
    restore_driver = _make_active(Sm90CompileOnly())
    for kernel in kernels:
        def compile_only(*args, grid, warmup, _run=kernel.run, **kwargs):
            binary = _run(*args, grid=grid, warmup=True, **kwargs)
            compiled.append((binary, _run, args, kwargs))
            return binary
        kernel.run = compile_only
    try:
        yield compiled
    finally:
        for kernel in kernels:
            del kernel.run  # the class's own run again
        restore_driver()


class RecordedLaunches:
    """A Triton launcher that records each call's arguments in ``RecordedLaunches.calls``
    instead of launching (the stand-in driver's ``launcher_cls``)."""

    calls: list = []

    def __init__(self, src, metadata):
        pass

    def __call__(self, *arguments):
        RecordedLaunches.calls.append(arguments)


class _StandInUtils:
    def load_binary(self, name, kernel, shared, device):
        return 1, 2, 32, 0, 1024  # module, function, registers, spills, threads a block at most

    def get_device_properties(self, device):
        return {"max_shared_mem": 232448, "multiprocessor_count": 132, "max_num_regs": 65536, "warpSize": 32}

    def unload_module(self, module):
        pass


class Sm90Recording(Sm90CompileOnly):
    """``Sm90CompileOnly`` whose launches load nothing and only record their arguments
    (``RecordedLaunches``), with CPU tensors for device ones: Triton's whole launch path
    but the device. Current device -1 (what CPU tensors report; settable), stream 7.
    Autotuning: the second config it is asked to time takes 1.0, every other one 2.0."""

    utils = _StandInUtils()
    launcher_cls = RecordedLaunches

    def __init__(self):
        self.device = -1
        self.timings = itertools.count()

    def get_current_device(self):
        return self.device

    def get_current_stream(self, device=None):
        return 7

    def get_benchmarker(self):
        def bench(kernel_call, quantiles):
            kernel_call()
            t = 1.0 if next(self.timings) == 1 else 2.0
            return [t, t, t]
        return bench


@contextlib.contextmanager
def recording_sm90() -> Iterator[Sm90Recording]:
    """Within it, Triton launches compile for sm_90 and record instead of running (yields the
    stand-in driver); afterwards the kernels compiled for it, what launches without a plan
    kept of them (``triton.direct``) and the autotuners' choices made meanwhile are dropped."""
    from ..triton import combine, concat_downsample, direct

    stand_in = Sm90Recording()
    tuners = (combine._combine_tuned, concat_downsample._concat_tuned)
    tuned = [dict(tuner.cache) for tuner in tuners]  # choices made on the stand-in's timings are not kept
    restore_driver = _make_active(stand_in)
    RecordedLaunches.calls = []
    try:
        yield stand_in
    finally:
        RecordedLaunches.calls = []
        direct._BY_KEY.clear()
        for tuner, cache in zip(tuners, tuned):
            tuner.cache.clear()
            tuner.cache.update(cache)
        for kernel in (combine._combine_kernel, concat_downsample._concat_kernel):
            kernel.device_caches.pop(stand_in.device, None)
            kernel.device_caches.pop(-1, None)
        gc.collect()  # compiled kernels unload through the active driver: the stand-in's
        restore_driver()


def combine_launches(dtype, item=(3, 16, 16), k=4, r=2):
    """(name, launcher call) for each way the Triton combine runs: encode, gathered groups,
    decode by pattern with an extra (parity) row; 3 groups of ``item``. Rows are 16-byte
    aligned when ``item`` has a multiple of 16 elements (of 4 bytes or less)."""
    from ..triton import combine

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


def concat_launch(dtype, gathered, k=8, groups=2, size=224):
    """The Triton concat_downsample launcher on ``groups`` of k RGB images of size x size."""
    from ..triton import concat_downsample

    out = torch.empty(groups, 1, 3, size, size, dtype=dtype)
    if gathered:
        images, index = torch.randn(groups * k, 3, size, size).to(dtype), torch.arange(groups * k).view(groups, k)
    else:
        images, index = torch.randn(groups, k, 3, size, size).to(dtype), None
    concat_downsample.concat_downsample_into(out, images, index)


def cuda_library() -> Optional[str]:
    """The path of parity_kernels._C_cuda, or None where it was not built."""
    import importlib.util
    spec = importlib.util.find_spec("parity_kernels._C_cuda")
    return spec.origin if spec else None


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _cell(binary) -> str:
    """"registers/stack bytes/widest load B,widest store B" of one compiled Triton kernel."""
    usage, ptx = cubin_usage(binary), binary.asm["ptx"]
    return f"{usage['REG']}/{usage['STACK']}/{widest(ptx, 'ld')}B,{widest(ptx, 'st')}B"


def main() -> int:
    import triton

    if cuobjdump() is None:
        print("no cuobjdump (Triton's or a CUDA toolkit's): nothing to read")
        return 1
    print(f"Triton {triton.__version__}, target sm_90; registers / stack bytes / bytes of the widest global "
          "load, store a thread")
    print(f"{'kernel':<10}{'case':<34}" + "".join(f"{name:>22}" for name in DTYPES))
    with compile_only_sm90() as compiled:
        for k, r in ((2, 1), (4, 1), (4, 2), (4, 6), (8, 1), (8, 2), (8, 10)):
            cells = []
            for dtype in DTYPES.values():
                combine_launches(dtype, item=(3, 32, 32), k=k, r=r)[0][1]()  # untuned: < 1 M outputs
                binary, _, _, kwargs = compiled[-1]
                cells.append(_cell(binary))
            case = f"k={k} r={r} BLOCK={kwargs['BLOCK']} warps={binary.metadata.num_warps}"
            print(f"{'combine':<10}{case:<34}" + "".join(f"{c:>22}" for c in cells))
        for k in (2, 4, 8):
            for gathered in (False, True):
                cells = []
                for dtype in DTYPES.values():
                    concat_launch(dtype, gathered, k=k)
                    binary, _, _, kwargs = compiled[-1]
                    cells.append(_cell(binary))
                case = (f"k={k} {'gathered' if gathered else 'stacked'} 224px "
                        f"{kwargs['BLOCK_Y']}x{kwargs['BLOCK_X']} warps={binary.metadata.num_warps}")
                print(f"{'concat':<10}{case:<34}" + "".join(f"{c:>22}" for c in cells))
    library = cuda_library()
    if library is None:
        print("parity_kernels._C_cuda not built: no CUDA C++ kernels to read")
        return 0
    print(f"\nCUDA C++ ({os.path.basename(library)}): registers / stack bytes / local bytes")
    for name, u in resource_usage(library).items():
        arch, function = name.split(" ", 1)
        short = re.sub(r"^_ZN14parity_kernels4cuda\d+_GLOBAL__N__\w+?_\d+_(\w+?)_cu_[0-9a-f]+\d+", r"\1 ", function)
        print(f"{arch:<7}{short[:90]:<92}{u['REG']:>4} {u['STACK']:>4} {u['LOCAL']:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
