"""Which backend runs an op, chosen per call from the tensor's device and the setting.

CUDA tensors: Triton (default) or CUDA C++ (``set_backend("cuda")`` or
``PARITY_KERNELS_BACKEND=cuda``). CPU tensors: the C++ extension; with backend "triton"
and ``TRITON_INTERPRET=1`` set before import, the Triton kernels in the interpreter, so
tests here exercise the very path a GPU takes. A missing backend falls back to pure
PyTorch with a one-time warning, except an explicitly chosen CUDA C++ backend that was
not built, which raises.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from typing import Iterator

from .eager import BACKEND as EAGER

BACKENDS = ("triton", "cuda")
_state = {"backend": os.environ.get("PARITY_KERNELS_BACKEND", "triton")}
_loaded: dict = {}
_warned: set = set()
_resolved: dict = {}  # device type -> backend, for the current setting

if _state["backend"] not in BACKENDS:
    raise ValueError(f"PARITY_KERNELS_BACKEND: expected one of {BACKENDS}, got {_state['backend']!r}")


def set_backend(name: str) -> None:
    """Pick the backend for CUDA tensors: "triton" (default) or "cuda" (CUDA C++)."""
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    _state["backend"] = name
    _resolved.clear()


@contextlib.contextmanager
def using_backend(name: str) -> Iterator[None]:
    """Within the block, ``set_backend(name)``; the previous choice comes back after."""
    previous = _state["backend"]
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def get_backend() -> str:
    """The backend chosen for CUDA tensors (and CPU tensors under TRITON_INTERPRET=1)."""
    return _state["backend"]


def _load(module: str):
    """The BACKEND of a backend module, or the ImportError that stopped it."""
    if module not in _loaded:
        try:
            _loaded[module] = importlib.import_module(module, __package__).BACKEND
        except ImportError as error:
            _loaded[module] = error
    return _loaded[module]


def _fallback(reason) -> object:
    key = str(reason)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"parity_kernels: {reason}; using the pure-PyTorch kernels (correct, slower)",
                      RuntimeWarning, stacklevel=4)
    return EAGER


def cuda_extension_built() -> bool:
    """The CUDA C++ kernels (``parity_kernels._C_cuda``) import: backend "cuda" can run."""
    return not isinstance(_load(".cuda"), ImportError)


def interpreting() -> bool:
    """Triton's interpreter was asked for (TRITON_INTERPRET=1 at import)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def backend_for(device_type: str):
    """The KernelBackend that runs ops on tensors of this device type now (cached per setting)."""
    backend = _resolved.get(device_type)
    if backend is None:
        backend = _resolved[device_type] = _resolve(device_type)
    return backend


def _resolve(device_type: str):
    name = _state["backend"]
    if device_type == "cuda" or (device_type == "cpu" and name == "triton" and interpreting()):
        if name == "cuda" and device_type == "cuda":
            backend = _load(".cuda")
            if isinstance(backend, ImportError):
                raise RuntimeError(f"parity_kernels: backend 'cuda' was chosen but the CUDA extension "
                                   f"is missing ({backend}); build with nvcc present, or set_backend('triton')")
            return backend
        backend = _load("..triton.backend")
        return backend if not isinstance(backend, ImportError) else _fallback(f"Triton unavailable ({backend})")
    if device_type == "cpu":
        backend = _load(".cpu")
        return backend if not isinstance(backend, ImportError) else _fallback(f"C++ extension unavailable ({backend})")
    return _fallback(f"no compiled kernel for device '{device_type}'")


class DeviceKernels:
    """The four op kernels for one device type (None: each tensor's own), dispatching per call."""

    def __init__(self, device_type) -> None:
        self.device_type = device_type

    def _backend(self, tensor):
        return backend_for(self.device_type or tensor.device.type)

    def combine(self, inputs, coeffs, index=None, extra=None):
        return self._backend(inputs).combine(inputs, coeffs, index, extra)

    def concat_downsample(self, images, index=None):
        return self._backend(images).concat_downsample(images, index)

    def combine_out(self, inputs, coeffs, index, extra, out):
        self._backend(inputs).combine_out(inputs, coeffs, index, extra, out)

    def concat_downsample_out(self, images, index, out):
        self._backend(images).concat_downsample_out(images, index, out)
