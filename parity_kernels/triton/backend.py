"""The Triton kernels as an op backend (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from ..backends.kernel_backend import KernelBackend
from . import combine as _combine
from .combine import combine_into, combine_patterns_into, plan_state, replay_combine
from .concat_downsample import concat_downsample_into as _concat_into


def concat_downsample_into(out: Tensor, images: Tensor, index: Optional[Tensor]) -> None:
    _combine.check_cpu_index(images, index)
    _concat_into(out, images, index)


BACKEND = KernelBackend("triton", combine_into, concat_downsample_into, combine_patterns_into, plan_state,
                        replay_combine)
