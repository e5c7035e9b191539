"""Pure-PyTorch oracle of every kernel and of encode/decode. Written to be obvious.

Everything here computes in float64 and returns float64. Tests compare the kernels to
these functions; do not edit them to agree with a kernel. Loops are deliberate: one
group, one term at a time, the way the math reads in DESIGN.md §1.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .codes import BerrutCode, Code, ConcatCode, LinearCode

__all__ = ["combine", "concat_downsample", "encode", "decode", "gather_rows"]


def gather_rows(inputs: Tensor, index: Optional[Tensor]) -> Tensor:
    """Stacked (G, k, *S) as is; or batch (B, *S) gathered through index (G, k)."""
    if index is None:
        return inputs
    return torch.stack([torch.stack([inputs[int(b)] for b in row]) for row in index])


def combine(
    inputs: Tensor, coeffs: Tensor, index: Optional[Tensor] = None, extra: Optional[Tensor] = None
) -> Tensor:
    """out[g, j] = sum_s coeffs[(g,) j, s] * source[g, s]; a zero coefficient never reads its source.

    sources: the rows of ``inputs`` (stacked, or gathered by ``index``), then the rows of
    ``extra`` (G, e, *S). coeffs: (r, k + e) shared or (G, r, k + e) per group.
    Returns (G, r, *S) float64.
    """
    sources = gather_rows(inputs, index).double()
    if extra is not None:
        sources = torch.cat([sources, extra.double()], dim=1)
    groups, num_sources = sources.shape[0], sources.shape[1]
    c = coeffs.double()
    if c.dim() == 2:
        c = c.unsqueeze(0).expand(groups, -1, -1)
    out = torch.zeros((groups, c.shape[1]) + tuple(sources.shape[2:]), dtype=torch.float64, device=sources.device)
    for g in range(groups):
        for j in range(c.shape[1]):
            for s in range(num_sources):
                weight = float(c[g, j, s])
                if weight != 0.0:
                    out[g, j] += weight * sources[g, s]
    return out


def concat_downsample(images: Tensor, index: Optional[Tensor] = None) -> Tensor:
    """(G, k, C, H, W) (or batch + index) -> parity image (G, 1, C, H, W) float64.

    Image i is area-downsampled (adaptive average pooling) onto tile i of the
    ``ConcatCode(k)`` grid; empty tiles are zero.
    """
    x = gather_rows(images, index).double()
    groups, k, channels, height, width = x.shape
    code = ConcatCode(k)
    ys, xs = code.tile_bounds(height, width)
    out = torch.zeros(groups, 1, channels, height, width, dtype=torch.float64, device=x.device)
    for i in range(k):
        t, u = divmod(i, code.cols)
        y0, y1, x0, x1 = ys[t], ys[t + 1], xs[u], xs[u + 1]
        out[:, 0, :, y0:y1, x0:x1] = F.adaptive_avg_pool2d(x[:, i], (y1 - y0, x1 - x0))
    return out


def encode(x: Tensor, code: Code, groups: Optional[Tensor] = None) -> Tensor:
    """Coded queries (G, num_coded, *S) float64 for stacked x (G, k, *S) or batch + groups."""
    if isinstance(code, ConcatCode):
        return concat_downsample(x, groups)
    if isinstance(code, BerrutCode):
        return combine(x, berrut_encode_matrix(code).to(x.device), groups)
    return combine(x, code.encode_matrix(x.device), groups)


def berrut_encode_matrix(code: BerrutCode) -> Tensor:
    """W[j, i] = w_i(beta_j), term by term; weight 1 where beta_j coincides with alpha_i."""
    w = torch.zeros(code.n, code.k, dtype=torch.float64)
    for j in range(code.n):
        z = float(code.beta[j])
        exact = [i for i in range(code.k) if abs(z - float(code.alpha[i])) < 1e-12]
        if exact:
            w[j, exact[0]] = 1.0
            continue
        terms = [(-1) ** i / (z - float(code.alpha[i])) for i in range(code.k)]
        for i in range(code.k):
            w[j, i] = terms[i] / sum(terms)
    return w


def decode(
    outputs: Optional[Tensor],
    coded_outputs: Tensor,
    available: Tensor,
    code: Code,
    groups: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """Rebuild the k outputs of each group, one group at a time. Returns (y float64, ok bool).

    Slots that cannot be rebuilt (ok False) are 0; available data outputs are copied.
    """
    if isinstance(code, BerrutCode):
        return _decode_berrut(coded_outputs.double(), available, code)
    data = gather_rows(outputs, groups).double()
    coded = coded_outputs.double()
    k = code.k
    y = torch.zeros_like(data)
    ok = torch.zeros(data.shape[0], dtype=torch.bool, device=data.device)
    w = code.encode_matrix(data.device) if isinstance(code, LinearCode) else None
    for g in range(data.shape[0]):
        have = [i for i in range(k) if bool(available[g, i])]
        missing = [i for i in range(k) if not bool(available[g, i])]
        parities = [j for j in range(code.num_coded) if bool(available[g, k + j])]
        for i in have:
            y[g, i] = data[g, i]
        if not missing:
            ok[g] = True
            continue
        if len(parities) < len(missing):
            continue
        w_re = w[parities][:, missing]  # W[R, E]
        if int(torch.linalg.matrix_rank(w_re)) < len(missing):
            continue
        rhs = torch.stack([coded[g, j] for j in parities]).flatten(1)  # z_R
        for i in have:
            rhs = rhs - w[parities][:, i : i + 1] * data[g, i].flatten()[None]
        solution = torch.linalg.lstsq(w_re, rhs).solution  # (|E|, numel)
        for e, i in enumerate(missing):
            y[g, i] = solution[e].reshape(data.shape[2:])
        ok[g] = True
    return y, ok


def _decode_berrut(coded: Tensor, available: Tensor, code: BerrutCode) -> Tuple[Tensor, Tensor]:
    groups = coded.shape[0]
    y = torch.zeros((groups, code.k) + tuple(coded.shape[2:]), dtype=torch.float64, device=coded.device)
    ok = torch.zeros(groups, dtype=torch.bool, device=coded.device)
    for g in range(groups):
        points = [j for j in range(code.n) if bool(available[g, j])]
        if not points:
            continue
        ok[g] = True
        for i in range(code.k):
            z = float(code.alpha[i])
            exact = [j for j in points if abs(z - float(code.beta[j])) < 1e-12]
            if exact:
                y[g, i] = coded[g, exact[0]]
                continue
            terms = [(-1) ** m / (z - float(code.beta[j])) for m, j in enumerate(points)]
            total = sum(terms)
            for t, j in zip(terms, points):
                y[g, i] += (t / total) * coded[g, j]
    return y, ok
