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


NO_PATTERNS = (0, 0, 0)  # no decode by pattern: null mask, ok_table and ok pointers


def pattern_pointers(patterns) -> tuple:
    """(mask, ok_table, ok) pointers of decode-by-pattern tensors; zeros for None."""
    if patterns is None:
        return NO_PATTERNS
    mask, ok_table, ok = patterns
    return mask.data_ptr(), ok_table.data_ptr(), ok.data_ptr()


class CombineOperands(NamedTuple):
    """Everything a combine launcher needs, in the kernels' terms (all worked out once)."""

    kernel_args: tuple  # the integers both compiled kernels take first (csrc/*/bindings.cpp):
    # (dtype code, rows pointer, stride_g, stride_s, index pointer or 0, k, extra pointer or 0,
    #  extra stride_g, extra stride_s, extra count, coeffs pointer, coeff_stride_g, r,
    #  out pointer, groups, numel)
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

    @property
    def batch(self) -> int:
        """Rows of the gathered batch the index points into (its range bound); 0 without one."""
        return self.rows.shape[0] if self.index is not None else 0


def combine_operands(out: torch.Tensor, inputs: torch.Tensor, coeffs: torch.Tensor,
                     index: Optional[torch.Tensor], extra: Optional[torch.Tensor]) -> CombineOperands:
    """combine's arguments laid out for a kernel writing ``out`` (G, r, *S).

    On the path of every eager call: plain positional code, no per-field properties.
    """
    rows, stride_g, stride_s, idx = sources(inputs, index)
    out_shape = out.shape
    groups, r = out_shape[0], out_shape[1]
    numel = out.numel() // (groups * r) if groups * r else 0
    if not coeffs.is_contiguous():
        coeffs = coeffs.contiguous()
    coeff_shape = coeffs.shape
    num_sources = coeff_shape[-1]
    coeff_stride_g = r * num_sources if len(coeff_shape) == 3 else 0
    if idx is not None:
        k = idx.shape[1]
        index_ptr = idx.data_ptr()
    else:
        k = inputs.shape[1]
        index_ptr = 0
    if extra is not None:
        extra = dense_rows(extra, 2)
        strides = extra.stride()
        extra_ptr, extra_stride_g, extra_stride_s = extra.data_ptr(), strides[0], strides[1]
    else:
        extra_ptr = extra_stride_g = extra_stride_s = 0
    kernel_args = (DTYPE_CODES[rows.dtype], rows.data_ptr(), stride_g, stride_s, index_ptr, k, extra_ptr,
                   extra_stride_g, extra_stride_s, num_sources - k, coeffs.data_ptr(), coeff_stride_g, r,
                   out.data_ptr(), groups, numel)
    return CombineOperands(kernel_args, groups, r, k, numel, rows, stride_g, stride_s, idx, extra, coeffs,
                           num_sources, coeff_stride_g)


def with_pointers(kernel_args: tuple, rows: torch.Tensor, index: Optional[torch.Tensor],
                  extra: Optional[torch.Tensor], out: torch.Tensor) -> tuple:
    """``kernel_args`` of an earlier call with the same metadata, pointing at these tensors
    (the coefficients' pointer is kept: they belong to the code, not to a call)."""
    a = kernel_args
    return (a[0], rows.data_ptr(), a[2], a[3], index.data_ptr() if index is not None else 0, a[5],
            extra.data_ptr() if extra is not None else 0, a[7], a[8], a[9], a[10], a[11], a[12],
            out.data_ptr(), a[14], a[15])


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

    @property
    def batch(self) -> int:
        """Rows of the gathered batch the index points into (its range bound); 0 without one."""
        return self.rows.shape[0] if self.index is not None else 0


def concat_operands(out: torch.Tensor, images: torch.Tensor, index: Optional[torch.Tensor]) -> ConcatOperands:
    """concat_downsample's arguments laid out for a kernel writing ``out`` (G, 1, C, H, W)."""
    groups, _, channels, height, width = out.shape
    rows, stride_g, stride_s, idx = sources(images, index)
    return ConcatOperands(groups, index.shape[1] if index is not None else images.shape[1],
                          channels, height, width, rows, stride_g, stride_s, idx)
