"""Backend choice: set_backend / PARITY_KERNELS_BACKEND, per-device dispatch, the CUDA build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import parity_kernels as pk
from parity_kernels.backends import dispatch


def test_default_backend_and_cpu_path():
    assert pk.get_backend() in dispatch.BACKENDS
    if os.environ.get("TRITON_INTERPRET") != "1":
        assert dispatch.backend_for("cpu").name == "cpu"


def test_set_backend_validates_and_switches():
    previous = pk.get_backend()
    with pk.using_backend("cuda"):
        assert pk.get_backend() == "cuda"
        with pytest.raises(ValueError, match="backend: expected one of"):
            pk.set_backend("opencl")
        assert pk.get_backend() == "cuda"
    assert pk.get_backend() == previous


def _run(code: str, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **env))


def test_environment_variable_picks_the_backend():
    result = _run("import parity_kernels as pk; print(pk.get_backend())", PARITY_KERNELS_BACKEND="cuda")
    assert result.returncode == 0 and result.stdout.strip() == "cuda", result.stderr
    result = _run("import parity_kernels", PARITY_KERNELS_BACKEND="fortran")
    assert result.returncode != 0 and "PARITY_KERNELS_BACKEND: expected one of" in result.stderr


@pytest.mark.skipif(shutil.which("nvcc") is None and not os.environ.get("CUDA_HOME"), reason="no nvcc here")
def test_cuda_extension_is_built_where_nvcc_exists():
    """CI compiles the CUDA kernels even though nothing can run them without a GPU."""
    with pk.using_backend("cuda"):
        assert dispatch.backend_for("cuda").name == "cuda"


def test_cuda_tensors_go_to_triton_by_default():
    with pk.using_backend("triton"):
        assert dispatch.backend_for("cuda").name == "triton"
