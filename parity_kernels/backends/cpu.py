"""CPU kernels from the C++ extension ``parity_kernels._C`` (OpenMP, GIL released).

Tensors reach the extension as raw pointers and element strides (see ``layout``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import _C  # ImportError here means the extension was not built
from . import layout
from ..codes import concat_grid
from .kernel_backend import KernelBackend

_DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float64: 3}


def combine_into(out: Tensor, inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None,
                 extra: Optional[Tensor] = None) -> None:
    """Write combine's result into ``out`` (G, r, *S): arguments validated by the caller."""
    if out.numel() == 0:
        return
    o = layout.combine_operands(out, inputs, coeffs, index, extra)
    ex = o.extra
    _C.combine(
        _DTYPE_CODES[inputs.dtype],
        o.rows.data_ptr(), o.stride_g, o.stride_s,
        o.index.data_ptr() if o.index is not None else 0, o.rows.shape[0], o.k,
        ex.data_ptr() if ex is not None else 0, ex.stride(0) if ex is not None else 0,
        ex.stride(1) if ex is not None else 0, o.num_sources - o.k,
        o.coeffs.data_ptr(), o.coeff_stride_g, o.r,
        out.data_ptr(), o.groups, o.numel, torch.get_num_threads(),
    )


def concat_downsample_into(out: Tensor, images: Tensor, index: Optional[Tensor] = None) -> None:
    """Write the parity images into ``out`` (G, 1, C, H, W): arguments validated by the caller."""
    if out.numel() == 0:
        return
    o = layout.concat_operands(out, images, index)
    rows, cols = concat_grid(o.k)
    _C.concat_downsample(
        _DTYPE_CODES[images.dtype], o.rows.data_ptr(), o.stride_g, o.stride_s,
        o.index.data_ptr() if o.index is not None else 0, o.rows.shape[0], o.k,
        o.channels, o.height, o.width, rows, cols, out.data_ptr(), o.groups, torch.get_num_threads(),
    )


BACKEND = KernelBackend("cpu", combine_into, concat_downsample_into)
