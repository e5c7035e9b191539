"""CUDA C++ kernels from ``parity_kernels._C_cuda``, launched on torch's current stream of
the tensors' device (the binding makes that device current for the launch).

Rows are moved in 16-byte vectors when every source and output row starts on 16 bytes,
else element by element. Nothing here synchronises with the device: a gathered group with
an index outside the batch gets NaN outputs (and ok False) from the kernel instead of the
CPU's ValueError.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _C_cuda  # ImportError here means the CUDA extension was not built
from . import layout
from .kernel_backend import KernelBackend, combine_launchers, concat_integer_launchers, integer_plans

# log2 of each element type's size (2, 4 or 8 bytes): a stride in bytes is stride << shift
_ELEMENT_SHIFTS = {code: torch.empty(0, dtype=dtype).element_size().bit_length() - 1
                   for dtype, code in layout.DTYPE_CODES.items()}


def _aligned(kernel_args: tuple) -> bool:
    """True when every source and output row of a combine starts on a 16-byte boundary
    (``layout.CombineOperands.kernel_args``: pointers and element strides): the pointers
    and the byte strides (rows, extra and out; group and source strides; the row length)
    OR-ed together have no bit below 16. On every CUDA C++ launch: one expression."""
    a = kernel_args
    return not ((a[1] | a[6] | a[13] | ((a[2] | a[3] | a[7] | a[8] | a[15]) << _ELEMENT_SHIFTS[a[0]])) & 15)


def _device_index(device: torch.device) -> int:
    """The index of a tensor's CUDA device (a CUDA tensor's device always has one)."""
    return device.index or 0


def _stream(index: int) -> int:
    """torch's current stream on device ``index``, as the raw handle (no Stream object)."""
    return torch._C._cuda_getCurrentRawStream(index)


def _launch_args(kernel_args: tuple, batch: int, out: Tensor, patterns: tuple) -> None:
    """One _C_cuda.combine launch from integers on the current stream of ``out``'s device;
    ``batch``: the gathered batch's rows (0 without an index); ``patterns``: the (mask,
    ok_table, ok) pointers."""
    index = _device_index(out.device)  # made current by the binding for the launch
    _C_cuda.combine(*kernel_args, batch, _aligned(kernel_args), _stream(index), index, *patterns)


def _launch(out: Tensor, o: layout.CombineOperands, patterns) -> None:
    _launch_args(o.kernel_args, o.batch, out, layout.pattern_pointers(patterns))


plan_state, replay_combine = integer_plans(_launch_args)
combine_into, combine_patterns_into = combine_launchers(_launch)


def _concat_args(kernel_args: tuple, out: Tensor) -> None:
    """One _C_cuda.concat_downsample launch from integers (``kernel_backend.concat_integer_launchers``)
    on the current stream of ``out``'s device."""
    index = _device_index(out.device)  # made current by the binding for the launch
    _C_cuda.concat_downsample(*kernel_args, _stream(index), index)


concat_downsample_into, concat_plan_state, replay_concat = concat_integer_launchers(_concat_args)


BACKEND = KernelBackend("cuda", combine_into, concat_downsample_into, combine_patterns_into, plan_state, replay_combine,
                        concat_plan_state, replay_concat)
