"""The Triton kernels as an op backend (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from ..backends import layout
from ..backends.kernel_backend import KernelBackend
from .combine import combine_into as _combine_into
from .combine import combine_patterns_into as _combine_patterns_into
from .concat_downsample import concat_downsample_into as _concat_into


def _check_cpu_index(rows: Tensor, index: Optional[Tensor]) -> None:
    """Group indices of CPU tensors (the interpreter) are range-checked, as the C++ kernels
    do; on CUDA raising would need a device sync: the kernels give such a group NaN."""
    if index is not None and rows.device.type == "cpu":
        layout.check_index_range(index, rows.shape[0])


def combine_into(out: Tensor, inputs: Tensor, coeffs: Tensor, index: Optional[Tensor],
                 extra: Optional[Tensor]) -> Optional[layout.CombineOperands]:
    _check_cpu_index(inputs, index)
    return _combine_into(out, inputs, coeffs, index, extra)


def combine_patterns_into(out: Tensor, ok: Tensor, inputs: Tensor, table: Tensor, ok_table: Tensor,
                          available: Tensor, index: Optional[Tensor] = None,
                          extra: Optional[Tensor] = None) -> layout.CombineOperands:
    _check_cpu_index(inputs, index)
    return _combine_patterns_into(out, ok, inputs, table, ok_table, available, index, extra)


def concat_downsample_into(out: Tensor, images: Tensor, index: Optional[Tensor]) -> None:
    _check_cpu_index(images, index)
    _concat_into(out, images, index)


BACKEND = KernelBackend("triton", combine_into, concat_downsample_into, combine_patterns_into)
