"""Decode against the true outputs (not the reference): within the first-order bound of
the parities' rounding, in every dtype; ill-conditioned solves declined as documented."""

from __future__ import annotations

import itertools

import pytest
import torch

import parity_kernels as pk
from parity_kernels.bench import accuracy


@pytest.mark.parametrize("dtype", accuracy.DTYPES, ids=str)
@pytest.mark.parametrize("name, k, r", [("sum", 4, 1), ("cauchy", 4, 2), ("cauchy", 8, 4), ("vandermonde", 4, 2)])
def test_rebuilt_outputs_within_the_rounding_bound(name, k, r, dtype):
    code = pk.codes.code_from_name(name, k, r)
    results = accuracy.decode_errors(code, dtype, numel=257, seed=k * r)
    assert len(results) == len(list(itertools.combinations(range(k), min(k, r))))
    for p in results:
        assert p.ok, p
        assert p.error <= p.bound, p
    # the bound is not vacuous: the worst pattern comes within 20x of it
    assert max(p.error / p.bound for p in results) > 0.05


def test_linear_code_declines_solves_float64_cannot_reproduce():
    """LinearCode's docstring: vandermonde(7, 10) without its data outputs is full rank
    (condition ~7e8) yet declined; cauchy rebuilds every pattern up to k = r = 10."""
    code = pk.LinearCode.vandermonde(7, 10)
    available = torch.tensor([[False] * 10 + [True] * 7])  # parities 3..9 only
    w = code.encode_matrix()[3:]
    assert int(torch.linalg.matrix_rank(w)) == 7
    _, ok = code.decode_coefficients(available)
    assert not ok.any()
    y, ok = pk.decode(torch.full((1, 7, 3), float("nan")), torch.randn(1, 10, 3), available, code)
    assert not ok.any() and torch.equal(y, torch.zeros_like(y))  # unrecovered slots are 0

    for k, r in ((8, 4), (10, 10), (6, 9)):
        code = pk.LinearCode.cauchy(k, r)
        masks = []
        for missing in itertools.combinations(range(k), min(k, r)):
            for parities in itertools.islice(itertools.combinations(range(r), min(k, r)), 12):
                mask = torch.zeros(k + r, dtype=torch.bool)
                mask[:k] = True
                mask[list(missing)] = False
                mask[[k + j for j in parities]] = True
                masks.append(mask)
        _, ok = code.decode_coefficients(torch.stack(masks))
        assert ok.all(), (k, r)
