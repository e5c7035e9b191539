"""Triton kernel of ``parity_kernels::combine`` (one launch per call).

Grid: one program per (group, chunk of BLOCK elements), flattened into axis 0. Each
program reads every source row of its chunk once (skipping the load when the source's
coefficients are all zero, so a NaN there is never read), accumulates all r outputs in
fp32 as an (R_PAD, BLOCK) tile and writes each output element once. A gathered group with
an index outside [0, batch) reads nothing and writes NaN (decode: ok False); raising would
need a device sync. Block size and warps are autotuned for large problems (per size class
of numel, sources, rows); small ones and the interpreter launch one fixed block.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from triton.runtime import driver

from ..backends import layout
from ..backends.kernel_backend import combine_launchers
from . import INTERPRET, cdiv, direct, next_power_of_2


@triton.jit
def bad_group(index_ptr, g, batch, K: tl.constexpr, K_PAD: tl.constexpr):
    """True when one of group g's K indices (index_ptr: (G, K) int64) lies outside
    [0, batch); K_PAD: a power of two >= K."""
    images = tl.arange(0, K_PAD)
    rows_read = tl.load(index_ptr + g * K + images, mask=images < K, other=0)
    return tl.sum(((rows_read < 0) | (rows_read >= batch)).to(tl.int32), axis=0) > 0


# batch (the gathered batch's rows, for the index check) changes from call to call in serving:
# not specialised on (a new compile each time it crossed a multiple of 16 or was 1).
@triton.jit(do_not_specialize=["batch"])
def _combine_kernel(
    in_ptr, in_stride_g, in_stride_s,
    index_ptr, batch,
    extra_ptr, ex_stride_g, ex_stride_s,
    coeff_ptr, coeff_stride_g,
    out_ptr, numel, r, size_class,
    mask_ptr, ok_table_ptr, ok_ptr,
    K: tl.constexpr, NUM_SOURCES: tl.constexpr, R_PAD: tl.constexpr,
    HAS_INDEX: tl.constexpr, BY_PATTERN: tl.constexpr, S_PAD: tl.constexpr, BLOCK: tl.constexpr,
):
    # size_class (numel's bit length) only keys the autotuning cache.
    pid = tl.program_id(0)
    blocks_per_group = tl.cdiv(numel, BLOCK)
    g = (pid // blocks_per_group).to(tl.int64)
    chunk = (pid % blocks_per_group).to(tl.int64)
    offs = chunk * BLOCK + tl.arange(0, BLOCK)
    in_bounds = offs < numel
    rows = tl.arange(0, R_PAD)
    row_ok = rows < r
    coeff_base = coeff_ptr + g * coeff_stride_g
    bad = g < 0  # false; true below when one of the group's indices is outside the batch
    if HAS_INDEX:
        bad = bad_group(index_ptr, g, batch, K, S_PAD)  # S_PAD >= K
    if BY_PATTERN:  # decode: this group's entry of the pattern table, and its ok flag
        srcs = tl.arange(0, S_PAD)
        bits = tl.load(mask_ptr + g * NUM_SOURCES + srcs, mask=srcs < NUM_SOURCES, other=0)
        pattern = tl.sum((bits != 0).to(tl.int64) << srcs.to(tl.int64), axis=0)
        coeff_base = coeff_ptr + pattern * (r * NUM_SOURCES)
        ok = tl.where(bad, 0, tl.load(ok_table_ptr + pattern))
        tl.store(ok_ptr + g, ok.to(ok_ptr.dtype.element_ty), mask=chunk == 0)
    acc = tl.zeros((R_PAD, BLOCK), dtype=tl.float32)
    for s in tl.static_range(NUM_SOURCES):
        c = tl.load(coeff_base + rows * NUM_SOURCES + s, mask=row_ok, other=0.0)
        c = c.to(tl.float32)
        # Read only if some coefficient is non-zero (limit 0 masks the whole load), and
        # nothing of a group with a bad index.
        limit = tl.where((tl.sum((c != 0).to(tl.int32), axis=0) > 0) & (bad == 0), numel, 0)
        if s < K:
            if HAS_INDEX:
                row = tl.where(bad, 0, tl.load(index_ptr + g * K + s))
                base = in_ptr + row * in_stride_g
            else:
                base = in_ptr + g * in_stride_g + s * in_stride_s
        else:
            base = extra_ptr + g * ex_stride_g + (s - K) * ex_stride_s
        x = tl.load(base + offs, mask=offs < limit, other=0.0).to(tl.float32)
        acc += tl.where(c[:, None] != 0, c[:, None] * x[None, :], 0.0)
    acc = tl.where(bad, float("nan"), acc)
    out_ptrs = out_ptr + (g * r + rows[:, None]) * numel + offs[None, :]
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & in_bounds[None, :])


# Problems at least this large (elements in all outputs) are autotuned; smaller ones,
# serving's common case, launch one fixed config with no tuning pass.
AUTOTUNE_MIN_ELEMENTS = 1 << 20
# Accumulator tile (R_PAD x BLOCK fp32) kept within registers.
MAX_TILE = 8192
# Accumulator values one thread holds at most in a tuned config (R_PAD * BLOCK over the
# warps' threads). At 64, sm_90 code of 8 sources spills (BLOCK 4096, 4 warps, r = 2:
# 255 registers and a 552-byte stack, tests/test_gpu_code.py) or takes up to 243 registers
# a thread; the same block with 8 warps stays in the space.
MAX_ACC_PER_THREAD = 32


def _prune(configs, named_args, **kwargs):
    r_pad = kwargs.get("R_PAD", named_args.get("R_PAD", 1))
    kept = [c for c in configs if c.kwargs["BLOCK"] * r_pad <= MAX_TILE
            and c.kwargs["BLOCK"] * r_pad <= MAX_ACC_PER_THREAD * 32 * c.num_warps]
    return kept or configs[:1]


_combine_tuned = triton.autotune(
    configs=[triton.Config({"BLOCK": b}, num_warps=w) for b in (256, 512, 1024, 2048, 4096) for w in (4, 8)],
    key=["size_class", "r", "NUM_SOURCES", "R_PAD", "HAS_INDEX", "BY_PATTERN"],
    prune_configs_by={"early_config_prune": _prune},
)(_combine_kernel)


def fixed_block(numel: int, r_pad: int) -> int:
    """The block of the untuned launch: a power of two, at most MAX_TILE / R_PAD."""
    if INTERPRET:  # the interpreter runs programs one by one: keep them small
        return max(16, 256 // r_pad)
    return max(64, min(1024, MAX_TILE // r_pad, next_power_of_2(numel)))


def check_cpu_index(rows: torch.Tensor, index) -> None:
    """Group indices of CPU tensors (the interpreter) are range-checked, as the C++ kernels
    do; on CUDA raising would need a device sync: the kernels give such a group NaN."""
    if index is not None and rows.device.type == "cpu":
        layout.check_index_range(index, rows.shape[0])


class LaunchState(NamedTuple):
    """A combine launch but its tensors (and what a launch plan keeps, ``plans``)."""

    kernel: object  # _combine_kernel (one fixed block) or _combine_tuned
    grid: object  # the grid, or (tuned) the function of the chosen config that gives it
    scalars: tuple  # stride_g, stride_s, batch, extra's stride_g and stride_s, coeff_stride_g, numel, r, size_class
    consts: dict  # the kernel's constexprs (BLOCK too for the fixed block)
    coeffs: torch.Tensor  # the coefficients or, decoding by pattern, the table (a plan's: the code's own)
    compiled: object  # the list where the kernel launched is kept (``direct.remember``), or None


def plan_state(o: layout.CombineOperands, by_pattern: bool) -> LaunchState:
    """``launch_state`` for a plan: where direct launches are off, a cell of its own (filled
    once they are on again)."""
    state = launch_state(o, by_pattern)
    return state if state.compiled is not None else state._replace(compiled=[])


def launch_state(o: layout.CombineOperands, by_pattern: bool) -> LaunchState:
    """The launch of ``o`` but its tensors; ``by_pattern``: decode by pattern. ``compiled``
    is the cell of its launch key (``direct.cell_for``), shared by every launch with that
    key: kernel, groups (the grid), integer arguments, constexprs, the pointers' dtypes
    (``out``'s is the rows'), device."""
    ex = o.extra
    r_pad = next_power_of_2(o.r)
    scalars = (o.stride_g, o.stride_s, o.batch, ex.stride(0) if ex is not None else 0,
               ex.stride(1) if ex is not None else 0, o.coeff_stride_g, o.numel, o.r, o.numel.bit_length())
    consts = dict(K=o.k, NUM_SOURCES=o.num_sources, R_PAD=r_pad, HAS_INDEX=o.index is not None,
                  BY_PATTERN=by_pattern, S_PAD=next_power_of_2(o.num_sources))
    groups, numel = o.groups, o.numel
    if INTERPRET or groups * o.r * numel < AUTOTUNE_MIN_ELEMENTS:
        block = fixed_block(numel, r_pad)
        consts["BLOCK"] = block
        kernel, grid = _combine_kernel, (groups * cdiv(numel, block),)
    else:
        kernel, grid = _combine_tuned, lambda meta: (groups * cdiv(numel, meta["BLOCK"]),)
    cell = direct.cell_for(("combine", kernel, groups, scalars, tuple(consts.items()), o.rows.dtype,
                            None if o.index is None else o.index.dtype, None if ex is None else ex.dtype,
                            o.coeffs.dtype, by_pattern, o.rows.get_device()))
    return LaunchState(kernel, grid, scalars, consts, o.coeffs, cell)


def replay_combine(state: LaunchState, out: torch.Tensor, inputs: torch.Tensor, index, extra, patterns) -> None:
    """The launch of ``state`` reading ``inputs`` (its rows), ``index``, ``extra`` and
    writing ``out``; ``patterns``: None or (available, ok_table, ok). On CUDA, on ``out``'s
    device (Triton launches on the current one), directly where ``state`` launched before
    (``direct``); CPU tensors (the interpreter) have their group indices range-checked
    (``check_cpu_index``)."""
    check_cpu_index(inputs, index)
    x = inputs.data_ptr()
    pointers = (x, index.data_ptr() if index is not None else x, extra.data_ptr() if extra is not None else x,
                state.coeffs.data_ptr(), out.data_ptr()) + (
        (patterns[0].data_ptr(), patterns[1].data_ptr(), patterns[2].data_ptr()) if patterns is not None else (x, x, x))
    stride_g, stride_s, batch, ex_stride_g, ex_stride_s, coeff_stride_g, numel, r, size_class = state.scalars
    if not INTERPRET:
        device, current = out.get_device(), driver.active.get_current_device()
        if device != current and device >= 0:
            with torch.cuda.device(device):
                return replay_combine(state, out, inputs, index, extra, patterns)
        x, i, e, c, o, mask, table, ok = pointers
        if direct.launch(state.compiled, current, pointers, (x, stride_g, stride_s, i, batch, e, ex_stride_g,
                                                             ex_stride_s, c, coeff_stride_g, o, numel, r, size_class,
                                                             mask, table, ok)):
            return
    # bool tensors as uint8 for Triton; without patterns, unused placeholders
    mask, ok_table, ok = (t.view(torch.uint8) for t in patterns) if patterns is not None else (inputs,) * 3
    arguments = (inputs, stride_g, stride_s, index if index is not None else inputs, batch,
                 extra if extra is not None else inputs, ex_stride_g, ex_stride_s, state.coeffs, coeff_stride_g,
                 out, numel, r, size_class, mask, ok_table, ok)
    compiled = state.kernel[state.grid](*arguments, **state.consts)
    direct.remember(state.compiled, compiled, state.kernel, state.grid, arguments, state.consts, pointers)


def _launch(out: torch.Tensor, o: layout.CombineOperands, patterns) -> None:
    """A launch without a plan: through the JIT the first time for its launch key, then
    directly (``launch_state``)."""
    replay_combine(launch_state(o, patterns is not None), out, o.rows, o.index, o.extra, patterns)


combine_into, combine_patterns_into = combine_launchers(_launch)
