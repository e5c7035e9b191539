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
from .kernel_backend import KernelBackend, combine_launchers, integer_plans


def _launch_args(kernel_args: tuple, batch: int, out: Tensor, patterns: tuple) -> None:
    """One _C.combine call from integers (``layout.CombineOperands.kernel_args``); ``batch``
    only serves the index range check; ``patterns``: the (mask, ok_table, ok) pointers."""
    _C.combine(*kernel_args, batch, torch.get_num_threads(), *patterns)


def _launch(out: Tensor, o: layout.CombineOperands, patterns) -> None:
    """One _C.combine call (see ``kernel_backend.combine_launchers``)."""
    _launch_args(o.kernel_args, o.batch, out, layout.pattern_pointers(patterns))


plan_state, replay_combine = integer_plans(_launch_args)
combine_into, combine_patterns_into = combine_launchers(_launch)


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


BACKEND = KernelBackend("cpu", combine_into, concat_downsample_into, combine_patterns_into, plan_state, replay_combine)
