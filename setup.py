"""Builds the kernels with plain pybind11: no torch headers, no torch in the build.

* ``parity_kernels._C``: CPU kernels (always).
* ``parity_kernels._C_cuda``: CUDA kernels, whenever nvcc is found (``$CUDA_HOME/bin`` or
  PATH), for sm_80 and sm_90 (+ PTX for newer GPUs), with the CUDA runtime linked
  statically. ``PARITY_KERNELS_NO_CUDA=1`` skips it; without nvcc the build succeeds
  without it. ``PARITY_KERNELS_CUDA_ARCHS="80;90"`` picks other architectures.
"""

import os
import shutil
import subprocess
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup


def sources(folder, suffix):
    path = os.path.join("csrc", folder)
    return sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(suffix))


def find_cuda():
    """(nvcc, CUDA home with include/cuda_runtime.h) or (None, None)."""
    if os.environ.get("PARITY_KERNELS_NO_CUDA") == "1":
        return None, None
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc_on_path = shutil.which("nvcc")
    if nvcc_on_path:
        homes.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc_on_path))))
    for home in filter(None, homes):
        nvcc = os.path.join(home, "bin", "nvcc")
        if os.path.exists(nvcc) and os.path.exists(os.path.join(home, "include", "cuda_runtime.h")):
            return nvcc, home
    return None, None


openmp = [] if sys.platform == "darwin" else ["-fopenmp"]
ext_modules = [
    Pybind11Extension(
        "parity_kernels._C",
        sources("cpu", ".cpp"),
        include_dirs=[os.path.join("csrc", "cpu")],
        cxx_std=17,
        extra_compile_args=["-O3", "-fno-math-errno"] + openmp,
        extra_link_args=openmp,
    )
]

NVCC, cuda_home = find_cuda()
if NVCC:
    lib_dirs = [d for d in (os.path.join(cuda_home, "lib64"), os.path.join(cuda_home, "lib")) if os.path.isdir(d)]
    ext_modules.append(
        Pybind11Extension(
            "parity_kernels._C_cuda",
            sources("cuda", ".cpp"),
            include_dirs=[os.path.join("csrc", "cuda"), os.path.join(cuda_home, "include")],
            library_dirs=lib_dirs,
            libraries=["cudart_static", "dl", "rt", "pthread"],
            cxx_std=17,
            extra_compile_args=["-O3"],
        )
    )


class BuildExt(build_ext):
    """pybind11's build_ext, plus nvcc for the .cu files of _C_cuda."""

    def build_extension(self, ext):
        if ext.name.endswith("_C_cuda"):
            ext.extra_objects = self._compile_cuda(ext)
        super().build_extension(ext)

    def _compile_cuda(self, ext):
        archs = os.environ.get("PARITY_KERNELS_CUDA_ARCHS", "80;90").split(";")
        flags = ["-O3", "-std=c++17", "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr"]
        for arch in archs:
            flags += ["-gencode", f"arch=compute_{arch},code=sm_{arch}"]
        flags += ["-gencode", f"arch=compute_{archs[-1]},code=compute_{archs[-1]}"]
        out_dir = os.path.join(self.build_temp, "cuda")
        os.makedirs(out_dir, exist_ok=True)
        objects = []
        for source in sources("cuda", ".cu"):
            obj = os.path.join(out_dir, os.path.basename(source) + ".o")
            if not (os.path.exists(obj) and os.path.getmtime(obj) >= max(
                    os.path.getmtime(p) for p in [source] + sources("cuda", ".cuh"))):
                cmd = [NVCC, "-c", source, "-o", obj, "-I", os.path.join("csrc", "cuda")] + flags
                print(" ".join(cmd))
                subprocess.check_call(cmd)
            objects.append(obj)
        return objects


setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
