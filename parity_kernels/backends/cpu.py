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

def combine_into(out: Tensor, inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None,
                 extra: Optional[Tensor] = None) -> None:
    """Write combine's result into ``out`` (G, r, *S): arguments validated by the caller."""
    if out.numel() == 0:
        return
    _launch(out, layout.combine_operands(out, inputs, coeffs, index, extra), (0, 0, 0))


def combine_patterns_into(out: Tensor, ok: Tensor, inputs: Tensor, table: Tensor, ok_table: Tensor,
                          available: Tensor, index: Optional[Tensor] = None, extra: Optional[Tensor] = None) -> None:
    """Decode in one call: each group's coefficients are the entry of ``table`` (2**S, r, S)
    for its row of ``available`` (G, S) bool; ``ok`` (G,) bool gets ``ok_table``'s entry.
    Arguments validated by the caller; ``out`` has at least one element per row."""
    o = layout.combine_operands(out, inputs, table, index, extra)
    _launch(out, o, (available.contiguous().data_ptr(), ok_table.data_ptr(), ok.data_ptr()))


def _launch(out: Tensor, o: layout.CombineOperands, patterns) -> None:
    """One _C.combine call; ``patterns``: (mask, ok_table, ok) pointers, or zeros."""
    _C.combine(
        o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, o.index_ptr, o.rows.shape[0], o.k,
        *o.extra_args, o.coeffs.data_ptr(), o.coeff_stride_g, o.r,
        out.data_ptr(), o.groups, o.numel, torch.get_num_threads(), *patterns,
    )


def concat_downsample_into(out: Tensor, images: Tensor, index: Optional[Tensor] = None) -> None:
    """Write the parity images into ``out`` (G, 1, C, H, W): arguments validated by the caller."""
    if out.numel() == 0:
        return
    o = layout.concat_operands(out, images, index)
    rows, cols = concat_grid(o.k)
    _C.concat_downsample(
        o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, o.index_ptr, o.rows.shape[0], o.k,
        o.channels, o.height, o.width, rows, cols, out.data_ptr(), o.groups, torch.get_num_threads(),
    )


BACKEND = KernelBackend("cpu", combine_into, concat_downsample_into, combine_patterns_into)
