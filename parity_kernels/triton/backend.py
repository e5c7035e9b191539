"""The Triton kernels as an op backend (CUDA tensors; CPU tensors under TRITON_INTERPRET=1)."""

from __future__ import annotations

from ..backends.kernel_backend import KernelBackend
from .combine import combine_into, combine_patterns_into, plan_state, replay_combine
from .concat_downsample import concat_downsample_into, concat_plan_state, replay_concat

BACKEND = KernelBackend("triton", combine_into, concat_downsample_into, combine_patterns_into, plan_state,
                        replay_combine, concat_plan_state, replay_concat)
