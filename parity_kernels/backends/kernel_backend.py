"""One backend = two ``*_into`` launchers; this wraps them into the four op kernels."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from ..checks import check_out, combine_shapes, concat_shapes


class KernelBackend:
    """The ops' kernels for one backend, from its launchers.

    ``combine_into(out, inputs, coeffs, index, extra)`` and
    ``concat_downsample_into(out, images, index)`` write into a contiguous ``out`` whose
    arguments were validated here. ``combine_patterns_into(out, ok, inputs, table,
    ok_table, available, index, extra)``, where a backend has it, is decode in one launch:
    each group's coefficients looked up in a table by its availability pattern (the
    eager API calls it directly; it is not an op).
    """

    def __init__(self, name: str, combine_into: Callable, concat_downsample_into: Callable,
                 combine_patterns_into: Optional[Callable] = None) -> None:
        self.name = name
        self.combine_into = combine_into
        self.concat_downsample_into = concat_downsample_into
        self.combine_patterns_into = combine_patterns_into

    def combine(self, inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None,
                extra: Optional[Tensor] = None) -> Tensor:
        groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
        out = torch.empty((groups, r) + item, dtype=inputs.dtype, device=inputs.device)
        self.combine_into(out, inputs, coeffs, index, extra)
        return out

    def concat_downsample(self, images: Tensor, index: Optional[Tensor] = None) -> Tensor:
        groups, _, chw = concat_shapes(images, index)
        out = torch.empty((groups, 1) + chw, dtype=images.dtype, device=images.device)
        self.concat_downsample_into(out, images, index)
        return out

    def combine_out(self, inputs, coeffs, index, extra, out) -> None:
        groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
        check_out(out, (groups, r) + item, inputs)
        self.combine_into(out, inputs, coeffs, index, extra)

    def concat_downsample_out(self, images, index, out) -> None:
        groups, _, chw = concat_shapes(images, index)
        check_out(out, (groups, 1) + chw, images)
        self.concat_downsample_into(out, images, index)
