"""How tensors reach the compiled kernels: group/source strides and dense item rows.

The group and source dimensions may have any strides; each row's item dims must be
dense, else the rows are copied once to make them so.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


def dense_rows(t: torch.Tensor, lead: int) -> torch.Tensor:
    """t itself when every row (the dims from ``lead`` on) is dense, else a contiguous copy.

    Kernels then address row (i, j, ...) at data_ptr + sum(index * stride of the lead
    dims), with unit stride inside the row. Decided from shapes and strides only.
    """
    if t.is_contiguous():
        return t
    expected = 1
    for size, stride in zip(reversed(t.shape[lead:]), reversed(t.stride()[lead:])):
        if size != 1 and stride != expected:
            return t.contiguous()
        expected *= size
    return t


def sources(inputs: torch.Tensor, index: Optional[torch.Tensor]):
    """(rows tensor, stride_g, stride_s, contiguous index or None) of the data sources."""
    if index is None:
        x = dense_rows(inputs, 2)
        strides = x.stride()  # one call for all (stride(i) costs as much per dim)
        return x, strides[0], strides[1], None
    x = dense_rows(inputs, 1)
    return x, x.stride()[0], 0, index.contiguous()


def check_index_range(index: torch.Tensor, batch: int) -> None:
    """Raise ValueError for a group index outside [0, batch). Reads the index: CPU tensors only."""
    bad = (index < 0) | (index >= batch)
    if bool(bad.any()):
        position = int(bad.flatten().nonzero()[0])
        value = int(index.flatten()[position])
        raise ValueError(f"groups: index {value} at flat position {position} is outside [0, {batch})")


# Element type codes shared by the C++ and CUDA extensions (their DType enums).
DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float64: 3}


def _pointer(t: Optional[torch.Tensor]) -> int:
    return t.data_ptr() if t is not None else 0


def pattern_pointers(patterns) -> tuple:
    """(mask, ok_table, ok) pointers of decode-by-pattern tensors; zeros for None."""
    if patterns is None:
        return 0, 0, 0
    mask, ok_table, ok = patterns
    return mask.data_ptr(), ok_table.data_ptr(), ok.data_ptr()


class CombineOperands(NamedTuple):
    """Everything a combine launcher needs, in the kernels' terms (all worked out once)."""

    groups: int
    r: int
    k: int
    numel: int  # elements per row
    rows: torch.Tensor  # data sources: (G, k, numel) or a batch (B, numel)
    stride_g: int
    stride_s: int
    index: Optional[torch.Tensor]  # contiguous (G, k) int64, or None
    extra: Optional[torch.Tensor]  # (G, e, numel) with dense rows, or None
    coeffs: torch.Tensor  # contiguous (r, S) or (G, r, S)
    num_sources: int  # S = k + e
    coeff_stride_g: int  # r * S for per-group coefficients, 0 for shared ones
    dtype_code: int  # DTYPE_CODES of the rows
    index_ptr: int  # 0 without an index
    extra_args: tuple  # (pointer, stride_g, stride_s, count) of the extra sources, zeros without


def combine_operands(out: torch.Tensor, inputs: torch.Tensor, coeffs: torch.Tensor,
                     index: Optional[torch.Tensor], extra: Optional[torch.Tensor]) -> CombineOperands:
    """combine's arguments laid out for a kernel writing ``out`` (G, r, *S).

    On the path of every eager call: plain positional code, no per-field properties.
    """
    rows, stride_g, stride_s, idx = sources(inputs, index)
    groups, r = out.shape[:2]
    numel = out.numel() // (groups * r) if groups * r else 0
    coeffs = coeffs.contiguous()
    num_sources = coeffs.shape[-1]
    k = idx.shape[1] if idx is not None else inputs.shape[1]
    if extra is not None:
        extra = dense_rows(extra, 2)
        strides = extra.stride()
        extra_args = (extra.data_ptr(), strides[0], strides[1], num_sources - k)
    else:
        extra_args = (0, 0, 0, 0)
    return CombineOperands(
        groups, r, k, numel, rows, stride_g, stride_s, idx, extra, coeffs, num_sources,
        r * num_sources if coeffs.dim() == 3 else 0, DTYPE_CODES[rows.dtype],
        _pointer(idx), extra_args,
    )


class ConcatOperands(NamedTuple):
    """Everything a concat_downsample launcher needs."""

    groups: int
    k: int
    channels: int
    height: int
    width: int
    rows: torch.Tensor
    stride_g: int
    stride_s: int
    index: Optional[torch.Tensor]

    @property
    def dtype_code(self) -> int:
        return DTYPE_CODES[self.rows.dtype]

    @property
    def index_ptr(self) -> int:
        return _pointer(self.index)


def concat_operands(out: torch.Tensor, images: torch.Tensor, index: Optional[torch.Tensor]) -> ConcatOperands:
    """concat_downsample's arguments laid out for a kernel writing ``out`` (G, 1, C, H, W)."""
    groups, _, channels, height, width = out.shape
    rows, stride_g, stride_s, idx = sources(images, index)
    return ConcatOperands(groups, index.shape[1] if index is not None else images.shape[1],
                          channels, height, width, rows, stride_g, stride_s, idx)
