"""CPU kernels from the C++ extension ``parity_kernels._C`` (OpenMP, GIL released).

Tensors reach the extension as raw pointers and element strides: the group and source
dimensions may have any strides; each row's item dims must be dense, else the row data
is copied once to make them so.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import _C  # ImportError here means the extension was not built
from ..ops import check_out, combine_shapes, concat_shapes
from .eager import grid

_DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float64: 3}


def _dense_rows(t: Tensor, lead: int) -> Tensor:
    """View t as (*t.shape[:lead], numel-per-row) with unit stride along the row."""
    numel = 1
    for size in t.shape[lead:]:
        numel *= size
    flat = t.reshape(tuple(t.shape[:lead]) + (numel,))
    if numel > 1 and flat.stride(-1) != 1:
        flat = flat.contiguous()
    return flat


def _source_layout(inputs: Tensor, index: Optional[Tensor]):
    """(tensor, stride_g, stride_s, index pointer, batch) of the data sources."""
    if index is None:
        x = _dense_rows(inputs, 2)
        return x, x.stride(0), x.stride(1), 0, 0, None
    x = _dense_rows(inputs, 1)
    idx = index.contiguous()
    return x, x.stride(0), 0, idx.data_ptr(), x.shape[0], idx


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
    ex = _dense_rows(extra, 2) if extra is not None else None
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


def combine(inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None, extra: Optional[Tensor] = None) -> Tensor:
    """CPU kernel of ``parity_kernels::combine``."""
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    out = torch.empty((groups, r) + item, dtype=inputs.dtype, device=inputs.device)
    combine_into(out, inputs, coeffs, index, extra)
    return out


def concat_downsample(images: Tensor, index: Optional[Tensor] = None) -> Tensor:
    """CPU kernel of ``parity_kernels::concat_downsample``."""
    groups, _, chw = concat_shapes(images, index)
    out = torch.empty((groups, 1) + chw, dtype=images.dtype, device=images.device)
    concat_downsample_into(out, images, index)
    return out


def combine_out(inputs, coeffs, index, extra, out) -> None:
    """CPU kernel of ``parity_kernels::combine_out``."""
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    check_out(out, (groups, r) + item, inputs)
    combine_into(out, inputs, coeffs, index, extra)


def concat_downsample_out(images, index, out) -> None:
    """CPU kernel of ``parity_kernels::concat_downsample_out``."""
    groups, _, chw = concat_shapes(images, index)
    check_out(out, (groups, 1) + chw, images)
    concat_downsample_into(out, images, index)
