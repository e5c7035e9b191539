"""CPU kernels from the C++ extension ``parity_kernels._C`` (OpenMP, GIL released).

Tensors reach the extension as raw pointers and element strides (see ``layout``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import _C  # ImportError here means the extension was not built
from . import layout
from .eager import grid
from .kernel_backend import KernelBackend

_DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float64: 3}


def _source_layout(inputs: Tensor, index: Optional[Tensor]):
    """(tensor, stride_g, stride_s, index pointer, batch, index tensor) of the data sources."""
    x, stride_g, stride_s, idx = layout.sources(inputs, index)
    return x, stride_g, stride_s, idx.data_ptr() if idx is not None else 0, x.shape[0] if idx is not None else 0, idx


def combine_into(out: Tensor, inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None,
                 extra: Optional[Tensor] = None) -> None:
    """Write combine's result into ``out`` (G, r, *S): arguments validated by the caller."""
    groups, r = out.shape[0], out.shape[1]
    k = index.shape[1] if index is not None else inputs.shape[1]
    if out.numel() == 0:
        return
    x, stride_g, stride_s, index_ptr, batch, idx = _source_layout(inputs, index)
    c = coeffs.contiguous()
    num_sources = c.shape[-1]
    ex = layout.dense_rows(extra, 2) if extra is not None else None
    _C.combine(
        _DTYPE_CODES[inputs.dtype],
        x.data_ptr(), stride_g, stride_s, index_ptr, batch, k,
        ex.data_ptr() if ex is not None else 0,
        ex.stride(0) if ex is not None else 0,
        ex.stride(1) if ex is not None else 0,
        num_sources - k,
        c.data_ptr(), r * num_sources if c.dim() == 3 else 0, r,
        out.data_ptr(), groups, out[0, 0].numel(), torch.get_num_threads(),
    )
    del idx


def concat_downsample_into(out: Tensor, images: Tensor, index: Optional[Tensor] = None) -> None:
    """Write the parity images into ``out`` (G, 1, C, H, W): arguments validated by the caller."""
    groups, _, channels, height, width = out.shape
    k = index.shape[1] if index is not None else images.shape[1]
    if out.numel() == 0:
        return
    x, stride_g, stride_s, index_ptr, batch, idx = _source_layout(images, index)
    rows, cols = grid(k)
    _C.concat_downsample(
        _DTYPE_CODES[images.dtype], x.data_ptr(), stride_g, stride_s, index_ptr, batch, k,
        channels, height, width, rows, cols, out.data_ptr(), groups, torch.get_num_threads(),
    )
    del idx


BACKEND = KernelBackend("cpu", combine_into, concat_downsample_into)
