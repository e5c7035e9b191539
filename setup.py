"""Builds parity_kernels._C (CPU kernels, always) with plain pybind11: no torch headers."""

import os
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

cpu_sources = sorted(
    os.path.join("csrc", "cpu", name) for name in os.listdir(os.path.join("csrc", "cpu")) if name.endswith(".cpp")
)
openmp = [] if sys.platform == "darwin" else ["-fopenmp"]

ext_modules = [
    Pybind11Extension(
        "parity_kernels._C",
        cpu_sources,
        include_dirs=[os.path.join("csrc", "cpu")],
        cxx_std=17,
        extra_compile_args=["-O3", "-fno-math-errno"] + openmp,
        extra_link_args=openmp,
    )
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
