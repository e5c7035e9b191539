"""CUDA C++ kernels from ``parity_kernels._C_cuda``, launched on torch's current stream.

Rows are moved in 16-byte vectors when every source and output row starts on 16 bytes,
else element by element. Nothing here synchronises with the device.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import _C_cuda  # ImportError here means the CUDA extension was not built
from . import layout
from ..codes import concat_grid
from .kernel_backend import KernelBackend, combine_launchers

def _aligned(element_size: int, *rows) -> bool:
    """True when every row (tensor, stride_g, stride_s) starts on a 16-byte boundary."""
    for t, *strides in rows:
        if t is None:
            continue
        if t.data_ptr() % 16 or any((s * element_size) % 16 for s in strides):
            return False
    return True


def _stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def _launch(out: Tensor, o: layout.CombineOperands, patterns) -> None:
    ex = o.extra
    aligned = _aligned(o.rows.element_size(), (o.rows, o.stride_g, o.stride_s), (out, o.numel),
                       (ex, ex.stride(0), ex.stride(1)) if ex is not None else (None,))
    with torch.cuda.device(out.device):
        _C_cuda.combine(
            o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, o.index_ptr, o.k,
            *o.extra_args, o.coeffs.data_ptr(), o.coeff_stride_g, o.r,
            out.data_ptr(), o.groups, o.numel, aligned, _stream(out.device),
            *layout.pattern_pointers(patterns),
        )


combine_into, combine_patterns_into = combine_launchers(_launch)


def concat_downsample_into(out: Tensor, images: Tensor, index: Optional[Tensor] = None) -> None:
    """Launch the CUDA concat_downsample into ``out`` (G, 1, C, H, W) contiguous."""
    if out.numel() == 0:
        return
    o = layout.concat_operands(out, images, index)
    rows, cols = concat_grid(o.k)
    with torch.cuda.device(out.device):
        _C_cuda.concat_downsample(
            o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, o.index_ptr, o.k,
            o.channels, o.height, o.width, rows, cols, out.data_ptr(), o.groups, _stream(out.device),
        )


BACKEND = KernelBackend("cuda", combine_into, concat_downsample_into, combine_patterns_into)
