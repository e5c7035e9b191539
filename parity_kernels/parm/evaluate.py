"""Accuracy of the deployed model, of predictions rebuilt in degraded mode, and baselines.

Degraded mode (as ParM measures it): coding groups of k test inputs; each of the k data
outputs is made unavailable in turn (never the parity) and rebuilt by
``parity_kernels.decode``; the rebuilt prediction is right when its argmax is the label.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

import parity_kernels as pk


@torch.no_grad()
def outputs_of(model: nn.Module, x: Tensor, batch: int = 512) -> Tensor:
    """model(x) in eval mode, batched: (N, *S) -> (N, C)."""
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((outputs_of(model, x).argmax(-1) == y).float().mean())


def default_accuracy(y_train: Tensor, y_test: Tensor) -> float:
    """Answering every query with the most frequent training class."""
    return float((y_test == torch.bincount(y_train).argmax()).float().mean())


def coding_groups(n: int, k: int, seed: int) -> Tensor:
    """(n // k, k) int64: a random split of n inputs into groups of k."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[: (n // k) * k].view(-1, k)


@torch.no_grad()
def degraded_accuracy(deployed: nn.Module, parity_models: Union[nn.Module, Sequence[nn.Module]], code: pk.Code,
                      x: Tensor, y: Tensor, seed: int = 0, reference: Optional[Tensor] = None) -> float:
    """Accuracy of rebuilt predictions, each of the k data outputs lost in turn.

    parity_models: one model per parity row of ``code`` (a single model for SumCode and
    ConcatCode); every parity output is available. ``reference`` (N,) compares against
    other labels (e.g. the deployed model's own argmax: reconstruction accuracy).
    """
    models = [parity_models] if isinstance(parity_models, nn.Module) else list(parity_models)
    if len(models) != code.num_coded:
        raise ValueError(f"parity_models: expected {code.num_coded} for {code!r}, got {len(models)}")
    k = code.k
    groups = coding_groups(len(y), k, seed)
    outputs = outputs_of(deployed, x)[groups]  # (G, k, C)
    queries = pk.encode(x, code, groups=groups)  # (G, r, *S)
    parity = torch.stack([outputs_of(m, queries[:, j]) for j, m in enumerate(models)], dim=1)
    target = (y if reference is None else reference)[groups]
    hits = []
    for lost in range(k):
        available = torch.ones(len(groups), code.num_sources, dtype=torch.bool)
        available[:, lost] = False
        rebuilt, ok = pk.decode(outputs, parity, available, code)
        assert bool(ok.all())
        hits.append(rebuilt[:, lost].argmax(-1) == target[:, lost])
    return float(torch.stack(hits).float().mean())


@torch.no_grad()
def berrut_degraded_accuracy(deployed: nn.Module, k: int, x: Tensor, y: Tensor, seed: int = 0) -> float:
    """The no-training baseline: BerrutCode(k, k + 1) with the deployed model on every coded
    query, each coded output lost in turn; accuracy of all k approximate predictions."""
    code = pk.BerrutCode(k, k + 1)
    groups = coding_groups(len(y), k, seed)
    coded = pk.encode(x, code, groups=groups)  # (G, n, *S)
    coded_out = outputs_of(deployed, coded.flatten(0, 1)).view(len(groups), code.n, -1)
    hits = []
    for lost in range(code.n):
        available = torch.ones(len(groups), code.n, dtype=torch.bool)
        available[:, lost] = False
        rebuilt, _ = pk.decode(None, coded_out, available, code)
        hits.append(rebuilt.argmax(-1) == y[groups])
    return float(torch.stack(hits).float().mean())


def overall_accuracy(deployed_accuracy: float, degraded: float, unavailable: float) -> float:
    """Expected accuracy when each prediction is unavailable with probability
    ``unavailable`` and then answered by its rebuilt prediction."""
    return (1.0 - unavailable) * deployed_accuracy + unavailable * degraded
