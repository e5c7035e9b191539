"""Pure-PyTorch kernels: the ops' default on devices without a compiled kernel.

Vectorised over groups (no host synchronisation, so they run on CUDA too); fp32
accumulation (fp64 for float64), output in the input dtype. Not the test oracle: that is
``parity_kernels.reference``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..codes import concat_grid
from .kernel_backend import KernelBackend


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def combine(inputs: Tensor, coeffs: Tensor, index: Optional[Tensor], extra: Optional[Tensor]) -> Tensor:
    """See ``parity_kernels.ops.combine``."""
    rows = inputs[index] if index is not None else inputs
    groups, k = rows.shape[0], rows.shape[1]
    item = tuple(rows.shape[2:])
    num_sources = coeffs.shape[-1]
    acc = _acc_dtype(inputs.dtype)
    c = coeffs.to(acc)
    if c.dim() == 2:
        c = c.unsqueeze(0).expand(groups, -1, -1)
    c = c.reshape(c.shape + (1,) * len(item))  # (G, r, sources, 1...)
    out = torch.zeros((groups, c.shape[1]) + item, dtype=acc, device=inputs.device)
    for s in range(num_sources):
        source = rows[:, s] if s < k else extra[:, s - k]
        weight = c[:, :, s]
        # where() keeps a NaN in an unread (zero-weight) source out of the sum.
        out = out + torch.where(weight != 0, weight * source.unsqueeze(1).to(acc), 0.0)
    return out.to(inputs.dtype)


def _tiles(k: int, height: int, width: int):
    rows, cols = concat_grid(k)
    for i in range(k):
        t, u = divmod(i, cols)
        yield i, t * height // rows, (t + 1) * height // rows, u * width // cols, (u + 1) * width // cols


def concat_downsample(images: Tensor, index: Optional[Tensor]) -> Tensor:
    """See ``parity_kernels.ops.concat_downsample``."""
    rows = images[index] if index is not None else images
    groups, k, channels, height, width = rows.shape
    acc = _acc_dtype(images.dtype)
    out = torch.zeros(groups, 1, channels, height, width, dtype=images.dtype, device=images.device)
    for i, y0, y1, x0, x1 in _tiles(k, height, width):
        tile = torch.nn.functional.adaptive_avg_pool2d(rows[:, i].to(acc), (y1 - y0, x1 - x0))
        out[:, 0, :, y0:y1, x0:x1] = tile.to(images.dtype)
    return out


def concat_downsample_backward(grad: Tensor, k: int) -> Tensor:
    """Gradient of concat_downsample w.r.t. its stacked images: (G, 1, C, H, W) -> (G, k, C, H, W)."""
    groups, _, channels, height, width = grad.shape
    template = grad.new_empty(groups, channels, height, width)
    parts = []
    for _, y0, y1, x0, x1 in _tiles(k, height, width):
        tile_grad = grad[:, 0, :, y0:y1, x0:x1].contiguous()
        parts.append(torch.ops.aten._adaptive_avg_pool2d_backward(tile_grad, template))
    return torch.stack(parts, dim=1)


def _combine_into(out, inputs, coeffs, index, extra):
    out.copy_(combine(inputs, coeffs, index, extra))


def _concat_into(out, images, index):
    out.copy_(concat_downsample(images, index))


BACKEND = KernelBackend("eager", _combine_into, _concat_into)
