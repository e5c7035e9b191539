"""parity_kernels: fused encode/decode for erasure-coded ML prediction serving (ParM).

    import parity_kernels as pk
    code = pk.SumCode(k=2)
    p = pk.encode(x, code)                        # (G, k, *S) -> (G, r, *S)
    y, ok = pk.decode(outputs, coded, available, code)
"""

from __future__ import annotations

from . import ops, reference
from .api import decode, encode
from .codes import BerrutCode, Code, ConcatCode, LinearCode, SumCode

__version__ = "0.1.0"
__all__ = ["encode", "decode", "set_backend", "get_backend", "using_backend", "Code", "SumCode", "LinearCode", "BerrutCode", "ConcatCode", "ops", "reference"]

from .backends import dispatch
from .backends.dispatch import get_backend, set_backend, using_backend

HAS_CPU_EXTENSION = not isinstance(dispatch._load(".cpu"), ImportError)
for _device_type in ("cpu", "cuda"):
    ops.register_kernels(_device_type, dispatch.DeviceKernels(_device_type))
