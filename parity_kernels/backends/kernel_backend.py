"""One backend = its ``*_into`` launchers; this wraps them into the four op kernels."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from ..checks import check_out, check_out_apart, combine_shapes, concat_shapes
from ..codes import concat_grid
from . import layout


def combine_launchers(launch: Callable) -> Tuple[Callable, Callable]:
    """A backend's ``combine_into`` and ``combine_patterns_into`` from its one launcher
    ``launch(out, operands, patterns)``: operands from ``layout.combine_operands``,
    patterns None or (available (G, S) contiguous bool, ok_table (2**S,) bool, ok (G,) bool)."""

    def combine_into(out: Tensor, inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None,
                     extra: Optional[Tensor] = None) -> Optional[layout.CombineOperands]:
        """Write combine's result into ``out`` (G, r, *S): arguments validated by the caller.
        Returns the operands launched (None for an empty ``out``)."""
        if out.numel() == 0:
            return None
        operands = layout.combine_operands(out, inputs, coeffs, index, extra)
        launch(out, operands, None)
        return operands

    def combine_patterns_into(out: Tensor, ok: Tensor, inputs: Tensor, table: Tensor, ok_table: Tensor,
                              available: Tensor, index: Optional[Tensor] = None,
                              extra: Optional[Tensor] = None) -> layout.CombineOperands:
        """Decode in one launch: group g's coefficients are ``table`` (2**S, r, S)'s entry for
        its row of ``available`` (G, S) bool, and ``ok[g]`` is ``ok_table``'s. Arguments
        validated by the caller; ``out`` has at least one element per row. Returns the
        operands launched."""
        operands = layout.combine_operands(out, inputs, table, index, extra)
        launch(out, operands, (available.contiguous(), ok_table, ok))
        return operands

    return combine_into, combine_patterns_into


def integer_plans(launch_args: Callable) -> Tuple[Callable, Callable]:
    """``plan_state`` and ``replay_combine`` (see ``KernelBackend``) of a backend whose
    kernels take ``layout.CombineOperands.kernel_args``: a plan keeps those integers and the
    gathered batch's length, a replay puts the new call's pointers in.
    ``launch_args(kernel_args, batch, out, patterns)`` launches from integers (``patterns``:
    the (mask, ok_table, ok) pointers, ``layout.pattern_pointers``)."""

    def plan_state(o: layout.CombineOperands, by_pattern: bool) -> tuple:
        return o.kernel_args, o.batch  # by pattern or not: its pointers come at launch

    def replay_combine(state: tuple, out: Tensor, inputs: Tensor, index: Optional[Tensor],
                       extra: Optional[Tensor], patterns: Optional[tuple]) -> None:
        kernel_args, batch = state
        launch_args(layout.with_pointers(kernel_args, inputs, index, extra, out), batch, out,
                    layout.pattern_pointers(patterns))

    return plan_state, replay_combine


def concat_integer_launchers(launch_args: Callable) -> Tuple[Callable, Callable, Callable]:
    """A C++ backend's ``concat_downsample_into``, ``concat_plan_state`` and
    ``replay_concat`` (see ``KernelBackend``) from its launch from integers
    ``launch_args(kernel_args, out)``. kernel_args: (dtype code, rows pointer, stride_g,
    stride_s, index pointer or 0, batch, k, channels, height, width, grid rows, grid
    columns, out pointer, groups), what both compiled concat kernels take first
    (csrc/*/bindings.cpp); a plan keeps them, a replay puts the new call's pointers in."""

    def kernel_args(o: layout.ConcatOperands, out_ptr: int) -> tuple:
        grid_rows, grid_cols = concat_grid(o.k)
        return (o.dtype_code, o.rows.data_ptr(), o.stride_g, o.stride_s, o.index_ptr, o.batch, o.k, o.channels,
                o.height, o.width, grid_rows, grid_cols, out_ptr, o.groups)

    def concat_downsample_into(out: Tensor, images: Tensor,
                               index: Optional[Tensor] = None) -> Optional[layout.ConcatOperands]:
        """Write the parity images into ``out`` (G, 1, C, H, W): arguments validated by the
        caller. Returns the operands launched (None for an empty ``out``)."""
        if out.numel() == 0:
            return None
        o = layout.concat_operands(out, images, index)
        launch_args(kernel_args(o, out.data_ptr()), out)
        return o

    def concat_plan_state(o: layout.ConcatOperands) -> tuple:
        return kernel_args(o, 0)

    def replay_concat(state: tuple, out: Tensor, images: Tensor, index: Optional[Tensor]) -> None:
        a = state
        launch_args((a[0], images.data_ptr(), a[2], a[3], index.data_ptr() if index is not None else 0, a[5], a[6],
                     a[7], a[8], a[9], a[10], a[11], out.data_ptr(), a[13]), out)

    return concat_downsample_into, concat_plan_state, replay_concat


class KernelBackend:
    """The ops' kernels for one backend, from its launchers.

    ``combine_into(out, inputs, coeffs, index, extra)`` and
    ``concat_downsample_into(out, images, index)`` write into a contiguous ``out`` whose
    arguments were validated here. ``combine_patterns_into(out, ok, inputs, table,
    ok_table, available, index, extra)``, where a backend has it, is decode in one launch:
    each group's coefficients looked up in a table by its availability pattern (the
    eager API calls it directly; it is not an op).
    ``plan_state(operands, by_pattern)`` and ``replay_combine(state, out, inputs, index,
    extra, patterns)``, where a backend has them, are what ``plans`` keeps and replays: the
    state of a launch of ``layout.CombineOperands`` (everything but the call's tensors;
    ``by_pattern``: decode by pattern), and that launch again for tensors of the same
    metadata (``patterns`` None or (available, ok_table, ok) as for
    ``combine_patterns_into``). ``concat_plan_state(operands)`` and ``replay_concat(state,
    out, images, index)`` are the same for concat_downsample (``layout.ConcatOperands``).
    Triton launches all go through its replays, so the path plans take is the one every
    test runs; the C++ backends' replays differ from their launches only in putting the
    new pointers into the kept integers.
    """

    def __init__(self, name: str, combine_into: Callable, concat_downsample_into: Callable,
                 combine_patterns_into: Optional[Callable] = None,
                 plan_state: Optional[Callable] = None, replay_combine: Optional[Callable] = None,
                 concat_plan_state: Optional[Callable] = None, replay_concat: Optional[Callable] = None) -> None:
        self.name = name
        self.combine_into = combine_into
        self.concat_downsample_into = concat_downsample_into
        self.combine_patterns_into = combine_patterns_into
        self.plan_state = plan_state
        self.replay_combine = replay_combine
        self.concat_plan_state = concat_plan_state
        self.replay_concat = replay_concat

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
        check_out_apart(out, inputs, extra)
        self.combine_into(out, inputs, coeffs, index, extra)

    def concat_downsample_out(self, images, index, out) -> None:
        groups, _, chw = concat_shapes(images, index)
        check_out(out, (groups, 1) + chw, images)
        check_out_apart(out, images)
        self.concat_downsample_into(out, images, index)
