"""parity_kernels: fused encode/decode for erasure-coded ML prediction serving (ParM).

    import parity_kernels as pk
    code = pk.SumCode(k=2)
    p = pk.encode(x, code)                        # (G, k, *S) -> (G, r, *S)
    y, ok = pk.decode(outputs, coded, available, code)
"""

from __future__ import annotations

import warnings

from . import ops, reference
from .api import decode, encode
from .codes import BerrutCode, Code, ConcatCode, LinearCode, SumCode

__version__ = "0.1.0"
__all__ = ["encode", "decode", "Code", "SumCode", "LinearCode", "BerrutCode", "ConcatCode", "ops", "reference"]

try:
    from .backends import cpu as _cpu_backend
except ImportError as _error:  # extension not built: ops fall back to pure PyTorch
    HAS_CPU_EXTENSION = False
    warnings.warn(
        f"parity_kernels: C++ extension not available ({_error}); CPU ops use pure PyTorch",
        RuntimeWarning,
        stacklevel=2,
    )
else:
    HAS_CPU_EXTENSION = True
    ops.register_kernels("cpu", _cpu_backend)
