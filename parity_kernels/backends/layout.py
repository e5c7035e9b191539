"""How tensors reach the compiled kernels: group/source strides and dense item rows.

The group and source dimensions may have any strides; each row's item dims must be
dense, else the rows are copied once to make them so.
"""

from __future__ import annotations

from typing import Optional

import torch


def dense_rows(t: torch.Tensor, lead: int) -> torch.Tensor:
    """View t as (*t.shape[:lead], numel-per-row) with unit stride along the row (copy if needed)."""
    numel = 1
    for size in t.shape[lead:]:
        numel *= size
    flat = t.reshape(tuple(t.shape[:lead]) + (numel,))
    if numel > 1 and flat.stride(-1) != 1:
        flat = flat.contiguous()
    return flat


def sources(inputs: torch.Tensor, index: Optional[torch.Tensor]):
    """(rows tensor, stride_g, stride_s, contiguous index or None) of the data sources."""
    if index is None:
        x = dense_rows(inputs, 2)
        return x, x.stride(0), x.stride(1), None
    x = dense_rows(inputs, 1)
    return x, x.stride(0), 0, index.contiguous()


def check_index_range(index: torch.Tensor, batch: int) -> None:
    """Raise ValueError for a group index outside [0, batch). Reads the index: CPU tensors only."""
    bad = (index < 0) | (index >= batch)
    if bool(bad.any()):
        position = int(bad.flatten().nonzero()[0])
        value = int(index.flatten()[position])
        raise ValueError(f"groups: index {value} at flat position {position} is outside [0, {batch})")
