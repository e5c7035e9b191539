"""The CUDA C++ kernels (csrc/cuda) and their Python glue (backends/cuda.py), run on the CPU.

No GPU here, so the kernels' own code is compiled for the host by g++ with the CUDA
headers: each launch rewritten into a loop over every block and thread
(tests/cuda_on_host/emulation.h), the module built from the real bindings. CPU tensors then
go through ``backends.cuda`` (pointers, strides, the 16-byte alignment choice, decode by
pattern, launch plans) into those kernels, and the results are compared with the reference
as the GPU tests do. What this cannot show: anything about the device itself (memory
model, speed, streams); tests/test_gpu.py covers that where a GPU exists.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference
from parity_kernels.backends import dispatch, layout
from parity_kernels.bench.gpu_code import cuda_homes

from conftest import LAYOUTS, assert_matches, make_code, term_scale
from kernel_checks import (check_decode, check_encode, check_group_index_outside_the_batch,
                           check_nan_source_never_read, seed)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "cuda_on_host"
LAUNCH = re.compile(r"([\w:]+(?:<[^<>;]*>)?)<<<([^;]*?)>>>\(([^;]*)\);")


def _cuda_include() -> Path | None:
    """The CUDA headers' folder (in the toolkit folders setup.py looks in), or None."""
    for home in cuda_homes():
        include = Path(home) / "include"
        if (include / "cuda_fp16.h").exists() and (include / "cuda_runtime.h").exists():
            return include
    return None


def _pybind11_include() -> str | None:
    try:
        import pybind11
    except ImportError:
        return None
    return pybind11.get_include()


pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None or _cuda_include() is None or _pybind11_include() is None,
    reason="needs g++, the CUDA headers (cuda_fp16.h, cuda_runtime.h) and pybind11",
)


def host_source(text: str) -> str:
    """A .cu file's text with every kernel launch run by pk_emulation::launch."""
    def launch(match: re.Match) -> str:
        config = [part.strip() for part in match.group(2).split(",")]
        return f"pk_emulation::launch({config[0]}, {config[1]}, [&] {{ {match.group(1)}({match.group(3)}); }});"

    rewritten, launches = LAUNCH.subn(launch, text)
    rewritten = rewritten.replace("cudaGetLastError()", "pk_emulation::last_error()")
    assert launches > 0, "no <<<...>>> launch found to rewrite"
    return rewritten


def build_module(directory: Path) -> Path:
    """_C_cuda built for the host from csrc/cuda into ``directory``; returns the .so."""
    sources = []
    for cu in sorted((ROOT / "csrc" / "cuda").glob("*.cu")):
        target = directory / (cu.stem + "_host.cpp")
        target.write_text(host_source(cu.read_text()))
        sources.append(target)
    sources += [ROOT / "csrc" / "cuda" / "bindings.cpp", HERE / "runtime_stubs.cpp"]
    module = directory / ("_C_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))
    command = ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-include", str(HERE / "emulation.h"),
               "-I", str(ROOT / "csrc" / "cuda"), "-I", str(_cuda_include()), "-I", _pybind11_include(),
               "-I", sysconfig.get_paths()["include"], "-Wno-unknown-pragmas", "-Wno-attributes",
               *map(str, sources), "-o", str(module)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return module


@pytest.fixture(scope="module")
def host_module(tmp_path_factory):
    path = build_module(tmp_path_factory.mktemp("cuda_on_host"))
    spec = importlib.util.spec_from_file_location("_C_cuda", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cuda_on_cpu(host_module, monkeypatch):
    """CPU tensors take backends.cuda, whose launches reach the host-built kernels."""
    try:
        from parity_kernels.backends import cuda
    except ImportError:  # no _C_cuda built here: the glue imports the host one instead
        monkeypatch.setitem(sys.modules, "parity_kernels._C_cuda", host_module)
        from parity_kernels.backends import cuda
    monkeypatch.setattr(cuda, "_C_cuda", host_module)
    monkeypatch.setattr(cuda, "_stream", lambda index: 0)
    monkeypatch.setitem(dispatch._resolved, "cpu", cuda.BACKEND)
    yield cuda


DTYPES = [torch.float32, torch.float16, torch.bfloat16]
CASES = [("sum", 1, 1), ("sum", 4, 1), ("cauchy", 3, 2), ("cauchy", 5, 3), ("vandermonde", 2, 4),
         ("berrut", 3, 2), ("berrut", 6, 3), ("concat", 2, 1), ("concat", 3, 1), ("concat", 4, 1), ("concat", 9, 1)]


def test_cpu_tensors_take_the_cuda_glue(cuda_on_cpu):
    assert dispatch.backend_for("cpu") is cuda_on_cpu.BACKEND


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).replace("torch.", ""))
@pytest.mark.parametrize("name,k,r", CASES)
@pytest.mark.parametrize("item", [(3, 7), (4, 6)], ids=["rows_unaligned", "rows_16_byte"])
def test_cuda_kernels_match_reference(cuda_on_cpu, name, k, r, dtype, item, poisoned_outputs):
    """Every code, encode (stacked and gathered) and decode (random erasures, NaN in the
    missing slots), in every layout; rows of 21 elements take the element-wise kernel, of
    24 the 16-byte vectors where the layout allows."""
    code = make_code(name, k, r)
    gen = seed("cuda on host", name, k, r, str(dtype), item)
    check_encode(code, dtype, (2,) + item if name == "concat" else item, gen, layouts=LAYOUTS)
    if name != "concat":
        check_decode(code, dtype, gen, layouts=LAYOUTS)


def _one_element_in(shape, fill) -> torch.Tensor:
    """A dense tensor of ``shape`` starting one element into its storage (4 bytes off 16)."""
    flat = fill(shape.numel() + 1)
    return flat[1:].view(shape)


@pytest.mark.parametrize("numel,shifted,aligned", [
    (24, None, True), (1200, None, True),  # one block of threads per group, then several
    (21, None, False), (1001, None, False),  # rows of 84 / 4004 bytes
    (24, "inputs", False), (24, "extra", False), (24, "out", False),  # one operand 4 bytes off
])
def test_vector_choice_follows_row_alignment(cuda_on_cpu, numel, shifted, aligned, poisoned_outputs):
    """The glue picks 16-byte vectors exactly when every source and output row starts on
    16 bytes (a misaligned vector load faults on a GPU); either way every element is right."""
    make = {name: (lambda shape: _one_element_in(torch.Size(shape), torch.randn)) if shifted == name else
            (lambda shape: torch.randn(shape)) for name in ("inputs", "extra", "out")}
    # 4 groups: with 2 or 4 blocks of threads per group, a block-to-group mix-up shows
    x, extra, out = make["inputs"]((4, 4, numel)), make["extra"]((4, 2, numel)), make["out"]((4, 2, numel))
    coeffs = torch.randn(4, 2, 6)
    operands = layout.combine_operands(out, x, coeffs, None, extra)
    assert cuda_on_cpu._aligned(operands.kernel_args) == aligned
    torch.ops.parity_kernels.combine_out(x, coeffs, None, extra, out)
    scale = reference.combine(x.double().abs(), coeffs.double().abs(), None, extra.double().abs())
    assert_matches(out, reference.combine(x, coeffs, None, extra), scale, torch.float32)


def test_zero_coefficients_never_read(cuda_on_cpu, poisoned_outputs):
    check_nan_source_never_read()


@pytest.mark.parametrize("k", [2, 3, 4, 5, 9])
@pytest.mark.parametrize("size", [(8, 8), (7, 5), (17, 19)])
def test_concat_sizes(cuda_on_cpu, k, size, poisoned_outputs):
    """Odd image sizes, spare tiles (k = 3, 5), parity images over several blocks (17 x 19)."""
    x = torch.randn((2, k, 2) + size)
    got = pk.encode(x, pk.ConcatCode(k))
    assert_matches(got, reference.concat_downsample(x), reference.concat_downsample(x.double().abs()), torch.float32)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("size", [(2, 70001), (70001, 2)], ids=["wide", "tall"])
def test_concat_sides_past_32_bit_positions(cuda_on_cpu, k, size, poisoned_outputs):
    """A side over 46340 pixels takes the kernel's 64-bit in-plane positions: at 70001, a
    window's bound (local position x side) passes 2^31; k = 2: tiles side by side, k = 3:
    two rows of tiles."""
    x = torch.randn((1, k, 1) + size)
    got = pk.encode(x, pk.ConcatCode(k))
    assert_matches(got, reference.concat_downsample(x), reference.concat_downsample(x.double().abs()), torch.float32)


def test_launch_makes_the_tensors_device_current_and_gives_the_callers_back(host_module, poisoned_outputs):
    """The binding makes the device it is given current for the launch and restores the
    caller's after (the emulated runtime has devices 0 and 1, the caller on 0, and its
    cudaGetDevice fails when a guard left device 1 current); a device that does not exist is
    refused with the runtime's error, before anything is written."""
    x = torch.randn(2, 3, 8)
    coeffs = torch.randn(1, 3)
    out = torch.empty(2, 1, 8)
    args = layout.combine_operands(out, x, coeffs, None, None).kernel_args
    for device in (1, 0, 1, 1):
        out.fill_(float("nan"))
        host_module.combine(*args, 0, False, 0, device, 0, 0, 0)  # batch, aligned, stream, device, patterns
        assert_matches(out, reference.combine(x, coeffs), reference.combine(x.abs(), coeffs.abs()), torch.float32)
    out.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="cudaSetDevice"):
        host_module.combine(*args, 0, False, 0, 7, 0, 0, 0)
    assert out.isnan().all()

    images = torch.randn(1, 4, 2, 6, 6)
    parity = torch.empty(1, 1, 2, 6, 6)
    o = layout.concat_operands(parity, images, None)
    for device in (1, 0):
        parity.fill_(float("nan"))
        host_module.concat_downsample(o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, 0, 0, 4, 2, 6, 6,
                                      2, 2, parity.data_ptr(), 1, 0, device)
        assert_matches(parity, reference.concat_downsample(images), reference.concat_downsample(images.abs()),
                       torch.float32)
    with pytest.raises(RuntimeError, match="cudaSetDevice"):
        host_module.concat_downsample(o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, 0, 0, 4, 2, 6, 6,
                                      2, 2, parity.data_ptr(), 1, 0, -1)


def test_plans_replay_through_the_cuda_glue(cuda_on_cpu, poisoned_outputs):
    """A second call with the same metadata runs the launch plan (integers only) and still
    reads the new tensors."""
    code = pk.LinearCode.cauchy(4, 2)
    for _ in range(3):
        x = torch.randn(3, 4, 24)
        outputs = x.clone()
        available = torch.ones(3, 6, dtype=torch.bool)
        available[:, 1] = False
        outputs[:, 1] = float("nan")
        parity = pk.encode(x, code)
        assert_matches(parity, reference.encode(x, code), term_scale(x, code.encode_matrix()), torch.float32)
        y, ok = pk.decode(outputs, parity, available, code)
        want, want_ok = reference.decode(outputs, parity, available, code)
        assert torch.equal(ok, want_ok) and bool(ok.all())
        torch.testing.assert_close(y.double(), want, rtol=1e-4, atol=1e-4)
    assert code._plans, "the CUDA C++ glue kept no launch plan"
    concat = pk.ConcatCode(4)
    for _ in range(3):
        images = torch.randn(2, 4, 3, 6, 7)
        parity = pk.encode(images, concat)
        assert_matches(parity, reference.concat_downsample(images), reference.concat_downsample(images.abs()),
                       torch.float32)
    assert concat._plans, "the CUDA C++ glue kept no ConcatCode launch plan"


@pytest.mark.parametrize("bad", [-1, 10], ids=["negative", "past_the_batch"])
def test_group_index_outside_the_batch_gives_nan(cuda_on_cpu, bad, poisoned_outputs):
    """No host sync to raise with: the group's outputs are NaN (decode: ok False)."""
    check_group_index_outside_the_batch(bad)
