"""Triton kernel of ``parity_kernels::concat_downsample`` (one launch per call).

One program per (group, channel, BLOCK parity pixels). Each parity pixel finds its tile
and its input window with integer arithmetic (tile row t = ((y + 1) * rows - 1) // H,
window [floor(o * H / e), ceil((o + 1) * H / e)) of a tile e pixels high, likewise for
columns), averages the window in fp32 and is written once. A gathered group with an index
outside [0, batch) reads nothing and gets NaN in every pixel (raising would need a device
sync).
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from ..backends import layout
from ..codes import concat_grid
from . import INTERPRET
from .combine import AUTOTUNE_MIN_ELEMENTS, bad_group


# batch (the gathered batch's rows, for the index check) changes from call to call in serving:
# not specialised on (a new compile each time it crossed a multiple of 16 or was 1).
@triton.jit(do_not_specialize=["batch"])
def _concat_kernel(
    in_ptr, in_stride_g, in_stride_s, index_ptr, batch, out_ptr, channels, height, width,
    K: tl.constexpr, K_PAD: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr, WIN_Y: tl.constexpr, WIN_X: tl.constexpr,
    HAS_INDEX: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    plane = height * width
    blocks = tl.cdiv(plane, BLOCK)
    gc = (pid // blocks).to(tl.int64)
    g = gc // channels
    c = gc % channels
    p = (pid % blocks).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    valid = p < plane
    oy = p // width
    ox = p % width
    t = ((oy + 1) * ROWS - 1) // height
    u = ((ox + 1) * COLS - 1) // width
    y0 = t * height // ROWS
    tile_h = (t + 1) * height // ROWS - y0
    x0 = u * width // COLS
    tile_w = (u + 1) * width // COLS - x0
    ly = oy - y0
    lx = ox - x0
    safe_h = tl.where(valid, tile_h, 1)
    safe_w = tl.where(valid, tile_w, 1)
    lo_y = ly * height // safe_h
    hi_y = ((ly + 1) * height + safe_h - 1) // safe_h
    lo_x = lx * width // safe_w
    hi_x = ((lx + 1) * width + safe_w - 1) // safe_w
    s = t * COLS + u
    has = valid & (s < K)
    bad = g < 0  # false; true below when one of the group's indices is outside the batch
    if HAS_INDEX:
        bad = bad_group(index_ptr, g, batch, K, K_PAD)
        has = tl.where(bad, False, has)
        row = tl.load(index_ptr + g * K + s, mask=has, other=0)
        base = row * in_stride_g + c * plane
    else:
        base = g * in_stride_g + s * in_stride_s + c * plane
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for dy in tl.static_range(WIN_Y):
        for dx in tl.static_range(WIN_X):
            yy = lo_y + dy
            xx = lo_x + dx
            m = has & (yy < hi_y) & (xx < hi_x)
            acc += tl.load(in_ptr + base + yy * width + xx, mask=m, other=0.0).to(tl.float32)
    count = tl.where(has, (hi_y - lo_y) * (hi_x - lo_x), 1).to(tl.float32)
    result = tl.where(has, acc / count, 0.0)
    result = tl.where(bad, float("nan"), result)
    tl.store(out_ptr + gc * plane + p, result.to(out_ptr.dtype.element_ty), mask=valid)


_concat_tuned = triton.autotune(
    configs=[triton.Config({"BLOCK": b}, num_warps=w) for b in (256, 512, 1024) for w in (4, 8)],
    key=["channels", "height", "width", "K", "HAS_INDEX"],
)(_concat_kernel)


def window(size: int, tiles: int) -> int:
    """Largest adaptive-pooling window along an axis of ``size`` split into ``tiles`` tiles."""
    smallest_tile = size // tiles
    return -(-size // smallest_tile) + 1


def concat_downsample_into(out: torch.Tensor, images: torch.Tensor, index: Optional[torch.Tensor]) -> None:
    """Launch the kernel; ``out`` (G, 1, C, H, W) contiguous, arguments validated by the caller."""
    if out.numel() == 0:
        return
    o = layout.concat_operands(out, images, index)
    groups, channels, height, width = o.groups, o.channels, o.height, o.width
    rows, cols = concat_grid(o.k)
    args = (o.rows, o.stride_g, o.stride_s, o.index if o.index is not None else o.rows, o.rows.shape[0], out,
            channels, height, width)
    consts = dict(K=o.k, K_PAD=triton.next_power_of_2(o.k), ROWS=rows, COLS=cols, WIN_Y=window(height, rows), WIN_X=window(width, cols),
                  HAS_INDEX=o.index is not None)
    plane = height * width
    if INTERPRET or out.numel() < AUTOTUNE_MIN_ELEMENTS:
        block = 64 if INTERPRET else 256
        _concat_kernel[(groups * channels * triton.cdiv(plane, block),)](*args, **consts, BLOCK=block)
    else:
        _concat_tuned[lambda meta: (groups * channels * triton.cdiv(plane, meta["BLOCK"]),)](*args, **consts)
