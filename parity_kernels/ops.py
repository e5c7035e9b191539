"""torch.library ops: schemas, fake (meta) kernels, autograd, and the default kernel.

``torch.ops.parity_kernels.combine(inputs, coeffs, index=None, extra=None)``
    out[g, j] = sum_s coeffs[(g,) j, s] * source[g, s], shape (G, r, *S), inputs' dtype.
    Sources are the k rows of ``inputs`` — stacked (G, k, *S), or gathered from a batch
    (B, *S) through ``index`` (G, k) int64 — followed by the rows of ``extra`` (G, e, *S).
    ``coeffs`` is (r, k + e) shared or (G, r, k + e) per group: float32 (float64 for
    float64 inputs). A zero coefficient never reads its source (it may hold NaN).

``torch.ops.parity_kernels.concat_downsample(images, index=None)``
    ConcatCode's parity image: (G, k, C, H, W) (or a batch (B, C, H, W) + index (G, k))
    -> (G, 1, C, H, W).

``combine_out`` / ``concat_downsample_out`` write the same results into a caller's
contiguous buffer ``out`` (for serving loops that reuse memory; no autograd).

Each backend registers its kernel per device (``backends/``); a device without one runs
the pure-PyTorch kernels of ``backends/eager.py`` after a one-time warning.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

from .backends import eager

__all__ = [
    "combine", "concat_downsample", "combine_out", "concat_downsample_out",
    "SUPPORTED_DTYPES", "combine_shapes", "concat_shapes", "check_out", "register_kernels",
]

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

_warned_devices: set = set()


def _warn_fallback(device: torch.device) -> None:
    if device.type not in _warned_devices:
        _warned_devices.add(device.type)
        warnings.warn(
            f"parity_kernels: no compiled kernel for device '{device.type}'; using the pure-PyTorch "
            "path (correct, slower). On CPU, build the C++ extension: pip install -e .",
            RuntimeWarning,
            stacklevel=3,
        )


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
    cols = math.isqrt(k - 1) + 1 if k > 1 else 1
    rows = -(-k // cols)
    if chw[1] < rows or chw[2] < cols:
        raise ValueError(
            f"images: H x W = {chw[1]} x {chw[2]} is smaller than the {rows} x {cols} tile grid of k = {k}"
        )
    return int(groups), int(k), chw  # type: ignore[return-value]


# ---------------------------------------------------------------------------- combine


@torch.library.custom_op("parity_kernels::combine", mutates_args=())
def combine(
    inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None, extra: Optional[Tensor] = None
) -> Tensor:
    """Default kernel (devices without a registered one): pure PyTorch, warned once."""
    combine_shapes(inputs, coeffs, index, extra)
    _warn_fallback(inputs.device)
    return eager.combine(inputs, coeffs, index, extra)


@combine.register_fake
def _combine_fake(inputs, coeffs, index=None, extra=None):
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    return inputs.new_empty((groups, r) + item)


def _combine_setup_context(ctx, inputs, output):
    x, coeffs, index, extra = inputs
    ctx.save_for_backward(x, coeffs, index, extra)


def _combine_backward(ctx, grad):
    x, coeffs, index, extra = ctx.saved_tensors
    # needs_input_grad covers only the arguments actually passed; pad for the defaults.
    need_x, need_c, _, need_extra = (tuple(ctx.needs_input_grad) + (False,) * 4)[:4]
    k = index.shape[1] if index is not None else x.shape[1]
    grad_x = grad_c = grad_extra = None
    if need_x or need_extra:
        # d out[g, j] / d source[g, s] = coeffs[g, j, s]: a combine with the transpose.
        grad_sources = combine(grad, coeffs.transpose(-1, -2).contiguous())
        if need_x:
            grad_rows = grad_sources[:, :k]
            if index is None:
                grad_x = grad_rows
            else:
                grad_x = torch.zeros_like(x).index_add_(0, index.reshape(-1), grad_rows.reshape((-1,) + tuple(x.shape[1:])))
        if need_extra:
            grad_extra = grad_sources[:, k:]
    if need_c:
        rows = x if index is None else x[index]
        if extra is not None:
            rows = torch.cat([rows, extra], dim=1)
        acc = coeffs.dtype
        g = grad.reshape(grad.shape[0], grad.shape[1], -1).to(acc)
        r = rows.reshape(rows.shape[0], rows.shape[1], -1).to(acc)
        grad_c = g @ r.transpose(1, 2)  # (G, r, sources)
        if coeffs.dim() == 2:
            grad_c = grad_c.sum(0)
    return grad_x, grad_c, None, grad_extra


combine.register_autograd(_combine_backward, setup_context=_combine_setup_context)


# ---------------------------------------------------------------------- concat_downsample


@torch.library.custom_op("parity_kernels::concat_downsample", mutates_args=())
def concat_downsample(images: Tensor, index: Optional[Tensor] = None) -> Tensor:
    """Default kernel (devices without a registered one): pure PyTorch, warned once."""
    concat_shapes(images, index)
    _warn_fallback(images.device)
    return eager.concat_downsample(images, index)


@concat_downsample.register_fake
def _concat_fake(images, index=None):
    groups, _, chw = concat_shapes(images, index)
    return images.new_empty((groups, 1) + chw)


def _concat_setup_context(ctx, inputs, output):
    images, index = inputs
    ctx.save_for_backward(index)
    ctx.images_shape = tuple(images.shape)


def _concat_backward(ctx, grad):
    (index,) = ctx.saved_tensors
    k = index.shape[1] if index is not None else ctx.images_shape[1]
    grad_rows = eager.concat_downsample_backward(grad, k)  # (G, k, C, H, W)
    if index is None:
        return grad_rows, None
    grad_images = grad.new_zeros(ctx.images_shape)
    return grad_images.index_add_(0, index.reshape(-1), grad_rows.reshape((-1,) + ctx.images_shape[1:])), None


concat_downsample.register_autograd(_concat_backward, setup_context=_concat_setup_context)


# ------------------------------------------------------------------------- out= variants


def check_out(out: Tensor, shape: Tuple[int, ...], like: Tensor) -> None:
    """``out`` must be a contiguous tensor of the result's shape, dtype and device."""
    if not isinstance(out, Tensor):
        raise TypeError(f"out: expected a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape) or out.dtype != like.dtype or out.device != like.device:
        raise ValueError(
            f"out: expected shape {tuple(shape)}, {like.dtype} on {like.device}; "
            f"got {tuple(out.shape)}, {out.dtype} on {out.device}"
        )
    if not out.is_contiguous():
        raise ValueError("out: expected a contiguous tensor")


@torch.library.custom_op("parity_kernels::combine_out", mutates_args=("out",))
def combine_out(inputs: Tensor, coeffs: Tensor, index: Optional[Tensor], extra: Optional[Tensor], out: Tensor) -> None:
    """``combine`` written into a caller's buffer ``out`` (no autograd). Default kernel."""
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    check_out(out, (groups, r) + item, inputs)
    _warn_fallback(inputs.device)
    out.copy_(eager.combine(inputs, coeffs, index, extra))


@combine_out.register_fake
def _combine_out_fake(inputs, coeffs, index, extra, out):
    groups, _, r, item = combine_shapes(inputs, coeffs, index, extra)
    check_out(out, (groups, r) + item, inputs)


@torch.library.custom_op("parity_kernels::concat_downsample_out", mutates_args=("out",))
def concat_downsample_out(images: Tensor, index: Optional[Tensor], out: Tensor) -> None:
    """``concat_downsample`` written into a caller's buffer ``out`` (no autograd). Default kernel."""
    groups, _, chw = concat_shapes(images, index)
    check_out(out, (groups, 1) + chw, images)
    _warn_fallback(images.device)
    out.copy_(eager.concat_downsample(images, index))


@concat_downsample_out.register_fake
def _concat_out_fake(images, index, out):
    groups, _, chw = concat_shapes(images, index)
    check_out(out, (groups, 1) + chw, images)


def register_kernels(device_type: str, backend) -> None:
    """Attach a backend's kernels to every op for one device type ('cpu', 'cuda').

    ``backend`` has ``combine``, ``concat_downsample``, ``combine_out`` and
    ``concat_downsample_out`` with the ops' signatures.
    """
    combine.register_kernel(device_type)(backend.combine)
    concat_downsample.register_kernel(device_type)(backend.concat_downsample)
    combine_out.register_kernel(device_type)(backend.combine_out)
    concat_downsample_out.register_kernel(device_type)(backend.concat_downsample_out)
