"""The C++ timing harnesses (bench/harness, `make harness`) build and run on tiny inputs:
every output element written, usage errors refused. Their timings are not checked."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or shutil.which("g++") is None or shutil.which("make") is None,
    reason="the harnesses are x86-64 C++ built with g++ by make",
)


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("harness")
    subprocess.run(["make", "-s", "-C", str(ROOT), "harness", f"HARNESS={out}"], check=True, timeout=300,
                   capture_output=True)
    return out


def run(binary: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_kernel_ratio_runs_every_mode(harness, dtype):
    # odd sizes: vector loops and tails; ConcatCode k = 5 leaves a spare tile
    combine = run(harness / "kernel_ratio", "combine", 2, 3, 2, 1, dtype, 1037, 2)
    concat = run(harness / "kernel_ratio", "concat", 2, 5, 1, dtype, 13, 2)
    moves = [run(harness / "kernel_ratio", "moves", 2, 3, 4, 1, dtype, stores, 1037, 2) for stores in ("plain", "streamed")]
    moves.append(run(harness / "kernel_ratio", "moves", 2, 3, 4, 1, dtype, "plain", 1037, 2, 300))  # items of 300 columns
    for result in (combine, concat, *moves):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "copy_fraction" in result.stdout and "UNWRITTEN" not in result.stdout


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_kernel_ratio_avx512_runs_or_says_why(harness, dtype):
    """The AVX-512 build of combine: every output written where the CPU has AVX-512F, a clear
    refusal (exit 3) where it has not."""
    from parity_kernels import _C

    result = run(harness / "kernel_ratio_avx512", "combine", 2, 9, 10, 1, dtype, 1037, 2)
    cpuinfo = Path("/proc/cpuinfo")
    if _C.cpu_isa().startswith("avx512") or (cpuinfo.exists() and " avx512f" in cpuinfo.read_text()):
        assert result.returncode == 0 and "copy_fraction" in result.stdout, result.stdout + result.stderr
        assert "UNWRITTEN" not in result.stdout
    else:
        assert result.returncode == 3 and "no AVX-512F" in result.stderr


def test_kernel_ratio_avx512bf16_runs_or_says_why(harness):
    """The AVX-512 build with bfloat16 rounded by AVX512_BF16: every output written where the
    CPU has it, a clear refusal (exit 3) where it has not."""
    from parity_kernels import _C

    combine = run(harness / "kernel_ratio_avx512bf16", "combine", 2, 9, 10, 1, "bfloat16", 1037, 2)
    concat = run(harness / "kernel_ratio_avx512bf16", "concat", 1, 8, 1, "bfloat16", 224, 2)  # three-apart tiles
    cpuinfo = Path("/proc/cpuinfo")
    for result in (combine, concat):
        if _C.cpu_isa() == "avx512bf16" or (cpuinfo.exists() and " avx512_bf16" in cpuinfo.read_text()):
            assert result.returncode == 0 and "copy_fraction" in result.stdout, result.stdout + result.stderr
            assert "UNWRITTEN" not in result.stdout
        else:
            assert result.returncode == 3 and "no AVX512_BF16" in result.stderr


def test_kernel_ratio_refuses_bad_arguments(harness):
    assert run(harness / "kernel_ratio", "combine", 2, 3).returncode == 2
    assert run(harness / "kernel_ratio", "combine", 2, 3, 2, 1, "int8").returncode == 2
    assert run(harness / "kernel_ratio", "concat", 0, 5, 1, "float32").returncode == 2
    assert run(harness / "kernel_ratio", "moves", 2, 3, 4, 1, "float32", "cached").returncode == 2


def test_overlap_probe_runs(harness):
    result = run(harness / "overlap", 32, 1)
    assert result.returncode == 0, result.stderr
    assert "memory_over_sum" in result.stdout
    assert run(harness / "overlap", 33, 1).returncode == 2
