"""Walkthrough: encode coding groups with each code, run a model, drop outputs, decode.

Prints one row per code: how many coded queries it sends, which outputs were dropped,
how many groups were fully recovered, and the relative error of the rebuilt outputs for
two models: a linear one (where F itself is an exact parity model) and a small nonlinear
MLP with F itself standing in for the parity model (learned parity models come from
``parity_kernels.parm``; BerrutCode needs none by design).
"""

from __future__ import annotations

import time

import torch

from . import api
from .codes import BerrutCode, Code, ConcatCode, LinearCode, SumCode


def _models(in_features: int, classes: int, gen: torch.Generator, device):
    linear_w = torch.randn(in_features, classes, generator=gen).to(device) / in_features**0.5
    hidden_w = torch.randn(in_features, 64, generator=gen).to(device) / in_features**0.5
    out_w = torch.randn(64, classes, generator=gen).to(device) / 8

    def linear(x):
        return x.flatten(-3) @ linear_w

    def mlp(x):
        return torch.tanh(x.flatten(-3) @ hidden_w) @ out_w

    return {"linear F": linear, "MLP F": mlp}


def _erasures(code: Code, groups: int, gen: torch.Generator, device):
    """Drop as many outputs as the code can rebuild: r data outputs, or n - k for Berrut."""
    available = torch.ones(groups, code.num_sources, dtype=torch.bool)
    if code.systematic:
        drop = min(code.num_coded, code.k)
        order = torch.rand(groups, code.k, generator=gen).argsort(1)[:, :drop]
        available[torch.arange(groups)[:, None], order] = False
        label = f"{drop} of {code.k} outputs"
    else:
        drop = code.num_coded - code.k
        order = torch.rand(groups, code.num_coded, generator=gen).argsort(1)[:, :drop]
        available[torch.arange(groups)[:, None], order] = False
        label = f"{drop} of {code.num_coded} coded"
    return available.to(device), label


def _relative_error(code, model, x, available):
    truth = model(x)  # (G, k, classes)
    coded_out = model(api.encode(x, code))
    if code.systematic:
        damaged = truth.masked_fill(~available[:, : code.k, None], float("nan"))
        y, ok = api.decode(damaged, coded_out, available, code)
        rebuilt = ~available[:, : code.k]
    else:
        y, ok = api.decode(None, coded_out, available, code)
        rebuilt = torch.ones_like(available[:, : code.k])
    error = (y - truth)[rebuilt].norm() / truth[rebuilt].norm()
    return float(error), float(ok.float().mean())


def run(device: str | None = None, groups: int = 256, seed: int = 0) -> list[dict]:
    """Run the walkthrough; return its rows (also printed as a table)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator().manual_seed(seed)
    k = 4
    images = torch.randn(groups, k, 3, 32, 32, generator=gen).to(device)
    models = _models(3 * 32 * 32, 10, gen, device)
    codes = [SumCode(k), LinearCode.cauchy(k, 2), LinearCode.vandermonde(k, 2), BerrutCode(k, k + 2), ConcatCode(k)]
    print(f"parity_kernels walkthrough: {groups} coding groups of k = {k} images 3x32x32 on {device}")
    header = f"{'code':<36}{'coded':>6}  {'dropped':<16}{'recovered':>10}" + "".join(f"{m:>16}" for m in models)
    print(header)
    print("-" * len(header))
    rows = []
    start = time.perf_counter()
    for code in codes:
        available, label = _erasures(code, groups, gen, device)
        row = {"code": repr(code), "coded": code.num_coded, "dropped": label}
        for name, model in models.items():
            row[name], row["recovered"] = _relative_error(code, model, images, available)
        rows.append(row)
        print(f"{row['code']:<36}{row['coded']:>6}  {label:<16}{row['recovered']:>10.0%}"
              + "".join(f"{row[m]:>16.2e}" for m in models))
    print(f"\nrelative error of the rebuilt outputs; {time.perf_counter() - start:.2f} s in all.")
    print("Linear F: SumCode and LinearCode rebuild exactly (rounding only). With F itself as the parity")
    print("model, ConcatCode (any F) and the linear codes on a nonlinear F need a learned parity model")
    print("(ParM). BerrutCode needs no training but only approximates: coarsely for unrelated queries.")
    return rows
