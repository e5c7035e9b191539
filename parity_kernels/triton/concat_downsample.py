"""Triton kernel of ``parity_kernels::concat_downsample`` (one launch per call).

One program per (BLOCK_Y x BLOCK_X parity pixels of one group's channel). Each parity
pixel finds its tile and its input window with integer arithmetic (tile row
t = ((y + 1) * rows - 1) // H, window [floor(o * H / e), ceil((o + 1) * H / e)) of a tile e
pixels high, likewise for columns), averages the window in fp32 and is written once. Image
sizes and channels are compile-time constants, so every division is by a constant (a tile
is floor or ceil of H / rows high: one constant each); a row's quantities are computed once
per row of the block, a column's once per column. A gathered group with an index outside
[0, batch) reads nothing and gets NaN in every pixel (raising would need a device sync).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Tuple

import torch
import triton
import triton.language as tl
from triton.runtime import driver

from ..backends import layout
from ..codes import concat_grid
from . import INTERPRET, cdiv, combine, direct, next_power_of_2
from .combine import AUTOTUNE_MIN_ELEMENTS, bad_group


@triton.jit
def _window(o, SIZE: tl.constexpr, TILES: tl.constexpr):
    """Tile, first input position and input length of output position(s) o along an axis
    of SIZE positions split into TILES tiles (adaptive average pooling of each tile)."""
    tile = ((o + 1) * TILES - 1) // SIZE
    start = tile * SIZE // TILES
    local = o - start
    narrow = (tile + 1) * SIZE // TILES - start == SIZE // TILES  # else SIZE // TILES + 1 long
    lo = tl.where(narrow, local * SIZE // (SIZE // TILES), local * SIZE // (SIZE // TILES + 1))
    hi = tl.where(narrow, ((local + 1) * SIZE + SIZE // TILES - 1) // (SIZE // TILES),
                  ((local + 1) * SIZE + SIZE // TILES) // (SIZE // TILES + 1))
    return tile, lo, hi - lo


# batch (the gathered batch's rows, for the index check) changes from call to call in serving:
# not specialised on (a new compile each time it crossed a multiple of 16 or was 1).
@triton.jit(do_not_specialize=["batch"])
def _concat_kernel(
    in_ptr, in_stride_g, in_stride_s, index_ptr, batch, out_ptr,
    CHANNELS: tl.constexpr, HEIGHT: tl.constexpr, WIDTH: tl.constexpr,
    K: tl.constexpr, K_PAD: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr, WIN_Y: tl.constexpr, WIN_X: tl.constexpr,
    HAS_INDEX: tl.constexpr, WIDE: tl.constexpr, BLOCK_Y: tl.constexpr, BLOCK_X: tl.constexpr,
):
    # Program (gc * row blocks + row block, column block) of plane gc = g * CHANNELS + c.
    # WIDE: positions in int64 (sizes whose products overflow int32).
    row_blocks: tl.constexpr = (HEIGHT + BLOCK_Y - 1) // BLOCK_Y
    pid = tl.program_id(0).to(tl.int64)
    gc = pid // row_blocks
    g = gc // CHANNELS
    c = gc % CHANNELS
    oy = ((pid % row_blocks) * BLOCK_Y).to(tl.int32) + tl.arange(0, BLOCK_Y)[:, None]
    ox = tl.program_id(1) * BLOCK_X + tl.arange(0, BLOCK_X)[None, :]
    if WIDE:
        oy = oy.to(tl.int64)
        ox = ox.to(tl.int64)
    valid = (oy < HEIGHT) & (ox < WIDTH)
    t, lo_y, rows_in = _window(oy, HEIGHT, ROWS)  # (BLOCK_Y, 1)
    u, lo_x, cols_in = _window(ox, WIDTH, COLS)  # (1, BLOCK_X)
    s = t * COLS + u
    has = valid & (s < K)
    bad = g < 0  # false; true below when one of the group's indices is outside the batch
    if HAS_INDEX:
        bad = bad_group(index_ptr, g, batch, K, K_PAD)
        has = tl.where(bad, False, has)
        image = tl.load(index_ptr + g * K + s, mask=has, other=0)
        base = image * in_stride_g
    else:
        base = g * in_stride_g + s * in_stride_s
    first = in_ptr + base + c * (HEIGHT * WIDTH) + lo_y * WIDTH + lo_x
    acc = tl.zeros((BLOCK_Y, BLOCK_X), dtype=tl.float32)
    for dy in tl.static_range(WIN_Y):
        for dx in tl.static_range(WIN_X):
            m = has & (rows_in > dy) & (cols_in > dx)
            acc += tl.load(first + dy * WIDTH + dx, mask=m, other=0.0).to(tl.float32)
    result = tl.where(has, acc / (rows_in * cols_in).to(tl.float32), 0.0)
    result = tl.where(bad, float("nan"), result)
    tl.store(out_ptr + gc * (HEIGHT * WIDTH) + oy * WIDTH + ox, result.to(out_ptr.dtype.element_ty), mask=valid)


def _prune(configs, named_args, **kwargs):
    """Blocks no wider than the image (rounded up) with 1 or 2 pixels a thread: at 4, sm_90
    code of gathered float16 images has a 24-88-byte stack frame, at 16 it spills
    (tests/test_gpu_code.py)."""
    widest = max(next_power_of_2(kwargs.get("WIDTH", named_args.get("WIDTH", 1))), 64)
    kept = [c for c in configs if c.kwargs["BLOCK_X"] <= widest
            and 32 * c.num_warps <= c.kwargs["BLOCK_Y"] * c.kwargs["BLOCK_X"] <= 64 * c.num_warps]
    return kept or configs[:1]


_concat_tuned = triton.autotune(
    configs=[triton.Config({"BLOCK_Y": y, "BLOCK_X": x}, num_warps=w)
             for y in (1, 2, 4) for x in (64, 128, 256) for w in (2, 4, 8)],
    key=["CHANNELS", "HEIGHT", "WIDTH", "K", "HAS_INDEX"],
    prune_configs_by={"early_config_prune": _prune},
)(_concat_kernel)


@functools.lru_cache(maxsize=None)
def window(size: int, tiles: int) -> int:
    """Longest input window of one output position along an axis of ``size`` split into
    ``tiles`` tiles (tiles are floor or ceil of size / tiles long)."""
    longest = 0
    for tile in {size // tiles, -(-size // tiles)}:
        for o in range(tile):
            longest = max(longest, -(-(o + 1) * size // tile) - o * size // tile)
    return longest


# Sides up to this many pixels keep positions in int32 (products of two sides stay < 2**31).
INT32_SIDE = 46340


def fixed_blocks(height: int, width: int) -> Tuple[int, int]:
    """(rows, columns) a program of the untuned launch covers: one row of up to 256 columns
    (the width rounded up to a power of two); in the interpreter, which runs programs one
    by one, up to 16 x 64 pixels."""
    if INTERPRET:
        return min(16, next_power_of_2(height)), min(64, next_power_of_2(width))
    return 1, max(16, min(256, next_power_of_2(width)))


class ConcatLaunch(NamedTuple):
    """A concat_downsample launch but its tensors (and what a launch plan keeps, ``plans``)."""

    kernel: object  # _concat_kernel (fixed blocks) or _concat_tuned
    grid: object  # the grid, or (tuned) the function of the chosen config that gives it
    scalars: tuple  # stride_g, stride_s, batch
    consts: dict  # constexprs (and the fixed blocks' BLOCK_Y, BLOCK_X, num_warps)
    compiled: object  # the list where the kernel launched is kept (``direct.remember``), or None


def concat_plan_state(o: layout.ConcatOperands) -> ConcatLaunch:
    """``concat_launch_state`` for a plan (as ``combine.plan_state``)."""
    state = concat_launch_state(o)
    return state if state.compiled is not None else state._replace(compiled=[])


def concat_launch_state(o: layout.ConcatOperands) -> ConcatLaunch:
    """The launch of ``o`` but its tensors; ``compiled`` is the cell of its launch key
    (``direct.cell_for``; as ``combine.launch_state``)."""
    groups, channels, height, width = o.groups, o.channels, o.height, o.width
    rows, cols = concat_grid(o.k)
    consts = dict(CHANNELS=channels, HEIGHT=height, WIDTH=width, K=o.k, K_PAD=next_power_of_2(o.k),
                  ROWS=rows, COLS=cols, WIN_Y=window(height, rows), WIN_X=window(width, cols),
                  HAS_INDEX=o.index is not None, WIDE=max(height, width) > INT32_SIDE)
    scalars = (o.stride_g, o.stride_s, o.batch)
    planes = groups * channels
    if INTERPRET or planes * height * width < AUTOTUNE_MIN_ELEMENTS:
        block_y, block_x = fixed_blocks(height, width)
        consts.update(BLOCK_Y=block_y, BLOCK_X=block_x, num_warps=max(1, min(4, block_y * block_x // 64)))
        kernel, grid = _concat_kernel, (planes * cdiv(height, block_y), cdiv(width, block_x))
    else:
        kernel = _concat_tuned
        grid = lambda meta: (planes * cdiv(height, meta["BLOCK_Y"]), cdiv(width, meta["BLOCK_X"]))  # noqa: E731
    cell = direct.cell_for(("concat", kernel, groups, scalars, tuple(consts.items()), o.rows.dtype,
                            None if o.index is None else o.index.dtype, o.rows.get_device()))
    return ConcatLaunch(kernel, grid, scalars, consts, cell)


def replay_concat(state: ConcatLaunch, out: torch.Tensor, images: torch.Tensor,
                  index: Optional[torch.Tensor]) -> None:
    """The launch of ``state`` reading ``images`` (its rows) and ``index``, writing ``out``:
    on CUDA on ``out``'s device, directly where ``state`` launched before (as
    ``combine.replay_combine``); CPU tensors (the interpreter) have their group indices
    range-checked (``combine.check_cpu_index``)."""
    combine.check_cpu_index(images, index)
    stride_g, stride_s, batch = state.scalars
    x = images.data_ptr()
    pointers = (x, index.data_ptr() if index is not None else x, out.data_ptr())
    if not INTERPRET:
        device, current = out.get_device(), driver.active.get_current_device()
        if device != current and device >= 0:
            with torch.cuda.device(device):
                return replay_concat(state, out, images, index)
        if direct.launch(state.compiled, current, pointers, (x, stride_g, stride_s, pointers[1], batch, pointers[2])):
            return
    arguments = (images, stride_g, stride_s, index if index is not None else images, batch, out)
    compiled = state.kernel[state.grid](*arguments, **state.consts)
    direct.remember(state.compiled, compiled, state.kernel, state.grid, arguments, state.consts, pointers)


def concat_downsample_into(out: torch.Tensor, images: torch.Tensor,
                           index: Optional[torch.Tensor]) -> Optional[layout.ConcatOperands]:
    """Launch the kernel; ``out`` (G, 1, C, H, W) contiguous, arguments validated by the
    caller. Returns the operands launched (None for an empty ``out``)."""
    if out.numel() == 0:
        return None
    o = layout.concat_operands(out, images, index)
    replay_concat(concat_launch_state(o), out, o.rows, o.index)  # through the JIT once a launch key, then direct
    return o
