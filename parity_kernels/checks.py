"""Argument checks of the ops, from metadata only (shapes, dtypes, devices, addresses): no
data reads."""

from __future__ import annotations

from typing import NoReturn, Optional, Tuple

import torch
from torch import Tensor

from .codes import concat_grid

__all__ = ["SUPPORTED_DTYPES", "combine_shapes", "concat_shapes", "check_out", "check_out_apart", "byte_span_length",
           "spans_overlap", "refuse_overlap"]

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def combine_shapes(
    inputs: Tensor, coeffs: Tensor, index: Optional[Tensor], extra: Optional[Tensor]
) -> Tuple[int, int, int, Tuple[int, ...]]:
    """Validate combine's arguments from metadata; return (groups, k, r, item_shape)."""
    if inputs.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"inputs: expected float32, float16, bfloat16 or float64, got {inputs.dtype}")
    want_coeff = torch.float64 if inputs.dtype == torch.float64 else torch.float32
    if coeffs.dtype != want_coeff:
        raise TypeError(f"coeffs: expected {want_coeff} for {inputs.dtype} inputs, got {coeffs.dtype}")
    if coeffs.device != inputs.device:
        raise ValueError(f"coeffs: expected device {inputs.device}, got {coeffs.device}")
    if index is not None:
        if index.dtype != torch.int64:
            raise TypeError(f"index: expected torch.int64, got {index.dtype}")
        if index.dim() != 2:
            raise ValueError(f"index: expected shape (G, k), got {tuple(index.shape)}")
        if index.device != inputs.device:
            raise ValueError(f"index: expected device {inputs.device}, got {index.device}")
        if inputs.dim() < 1:
            raise ValueError("inputs: expected a batch (B, *S) when index is given")
        groups, k = index.shape
        item = tuple(inputs.shape[1:])
    else:
        if inputs.dim() < 2:
            raise ValueError(f"inputs: expected stacked groups (G, k, *S), got {tuple(inputs.shape)}")
        groups, k = inputs.shape[0], inputs.shape[1]
        item = tuple(inputs.shape[2:])
    num_extra = 0
    if extra is not None:
        if extra.dtype != inputs.dtype or extra.device != inputs.device:
            raise TypeError(f"extra: expected {inputs.dtype} on {inputs.device}, got {extra.dtype} on {extra.device}")
        if extra.dim() != len(item) + 2 or extra.shape[0] != groups or tuple(extra.shape[2:]) != item:
            raise ValueError(f"extra: expected shape ({groups}, e, {', '.join(map(str, item))}), got {tuple(extra.shape)}")
        num_extra = extra.shape[1]
    sources = k + num_extra
    if coeffs.dim() == 2:
        ok = coeffs.shape[1] == sources
    elif coeffs.dim() == 3:
        ok = coeffs.shape[0] == groups and coeffs.shape[2] == sources
    else:
        ok = False
    if not ok:
        raise ValueError(
            f"coeffs: expected (r, {sources}) or ({groups}, r, {sources}), got {tuple(coeffs.shape)}"
        )
    return int(groups), int(k), int(coeffs.shape[-2]), item


def concat_shapes(images: Tensor, index: Optional[Tensor]) -> Tuple[int, int, Tuple[int, int, int]]:
    """Validate concat_downsample's arguments; return (groups, k, (C, H, W))."""
    if images.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"images: expected float32, float16, bfloat16 or float64, got {images.dtype}")
    if index is not None:
        if index.dtype != torch.int64 or index.dim() != 2 or index.device != images.device:
            raise TypeError(f"index: expected a (G, k) torch.int64 tensor on {images.device}")
        if images.dim() != 4:
            raise ValueError(f"images: expected a batch (B, C, H, W), got {tuple(images.shape)}")
        groups, k = index.shape
        chw = tuple(images.shape[1:])
    else:
        if images.dim() != 5:
            raise ValueError(f"images: expected (G, k, C, H, W), got {tuple(images.shape)}")
        groups, k = images.shape[:2]
        chw = tuple(images.shape[2:])
    if k < 1:
        raise ValueError("images: expected k >= 1 images per group")
    rows, cols = concat_grid(k)
    if chw[1] < rows or chw[2] < cols:
        raise ValueError(
            f"images: H x W = {chw[1]} x {chw[2]} is smaller than the {rows} x {cols} tile grid of k = {k}"
        )
    return int(groups), int(k), chw  # type: ignore[return-value]


def check_out(out: Tensor, shape: Tuple[int, ...], like: Tensor) -> None:
    """``out`` must be a contiguous tensor of the result's shape, dtype and device, not a
    negative view (results written through one would read back negated)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"out: expected a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape) or out.dtype != like.dtype or out.device != like.device:
        raise ValueError(
            f"out: expected shape {tuple(shape)}, {like.dtype} on {like.device}; "
            f"got {tuple(out.shape)}, {out.dtype} on {out.device}"
        )
    if not out.is_contiguous():
        raise ValueError("out: expected a contiguous tensor")
    if not torch.compiler.is_compiling() and out.is_neg():  # is_neg() does not trace
        raise ValueError("out: expected a plain tensor, got a negative view (is_neg()); write into a plain tensor")


def _byte_span(t: Tensor) -> Tuple[int, int]:
    """(address of ``t``'s first element, bytes from it to past its last; 0 when empty)."""
    first = t.data_ptr()
    if t.is_contiguous():
        return first, t.nbytes
    if t.numel() == 0:
        return first, 0
    last = sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    return first, (last + 1) * t.element_size()


def byte_span_length(t: Tensor) -> int:
    """Bytes from ``t``'s first element to past its last (0 when empty): the same for every
    tensor of its shape, strides and dtype."""
    return _byte_span(t)[1]


def spans_overlap(first: int, length: int, other_first: int, other_length: int) -> bool:
    """Whether two non-empty byte ranges [first, first + length) share an address."""
    return 0 < length and 0 < other_length and first < other_first + other_length and other_first < first + length


def refuse_overlap() -> NoReturn:
    """The error of ``check_out_apart`` (and of plans' own check)."""
    raise ValueError("out: overlaps the memory of an input; write the result into a separate buffer")


def check_out_apart(out: Tensor, *inputs: Optional[Tensor]) -> None:
    """``out`` (real tensors, read by address) must not share memory with any of ``inputs``
    (None skipped): the kernels read inputs while writing ``out``, so an overlap would give
    wrong results silently. Conservative: a strided input whose address range encloses
    ``out`` without touching its elements is refused too. ~0.3 us a contiguous input."""
    out_first, out_length = _byte_span(out)
    for t in inputs:
        if t is None:
            continue
        if spans_overlap(out_first, out_length, *_byte_span(t)) and t.device == out.device:
            refuse_overlap()
