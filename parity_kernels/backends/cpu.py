"""CPU kernels from the C++ extension ``parity_kernels._C`` (OpenMP, GIL released).

Tensors reach the extension as raw pointers and element strides (see ``layout``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _C  # ImportError here means the extension was not built
from . import layout
from .kernel_backend import KernelBackend, combine_launchers, concat_integer_launchers, integer_plans


def _launch_args(kernel_args: tuple, batch: int, out: Tensor, patterns: tuple) -> None:
    """One _C.combine call from integers (``layout.CombineOperands.kernel_args``); ``batch``
    only serves the index range check; ``patterns``: the (mask, ok_table, ok) pointers."""
    _C.combine(*kernel_args, batch, torch.get_num_threads(), *patterns)


def _launch(out: Tensor, o: layout.CombineOperands, patterns) -> None:
    """One _C.combine call (see ``kernel_backend.combine_launchers``)."""
    _launch_args(o.kernel_args, o.batch, out, layout.pattern_pointers(patterns))


plan_state, replay_combine = integer_plans(_launch_args)
combine_into, combine_patterns_into = combine_launchers(_launch)


def _concat_args(kernel_args: tuple, out: Tensor) -> None:
    """One _C.concat_downsample call from integers (``kernel_backend.concat_integer_launchers``)."""
    _C.concat_downsample(*kernel_args, torch.get_num_threads())


concat_downsample_into, concat_plan_state, replay_concat = concat_integer_launchers(_concat_args)


BACKEND = KernelBackend("cpu", combine_into, concat_downsample_into, combine_patterns_into, plan_state, replay_combine,
                        concat_plan_state, replay_concat)
