"""End-to-end recovery through a model: exact for linear F, approximate for Berrut."""

from __future__ import annotations

import itertools

import pytest
import torch

import parity_kernels as pk


def _patterns(num_sources: int, max_missing: int) -> torch.Tensor:
    rows = []
    for m in range(max_missing + 1):
        for missing in itertools.combinations(range(num_sources), m):
            row = torch.ones(num_sources, dtype=torch.bool)
            row[list(missing)] = False
            rows.append(row)
    return torch.stack(rows)


def _linear_model(dim_in=6, dim_out=5, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    matrix = torch.randn(dim_in, dim_out, generator=gen, dtype=torch.float64).to(dtype)
    return lambda x: x @ matrix


# float64: exact up to rounding. float32: the model's own rounding differs between
# F(encode(x)) and sum W F(x), and decode amplifies it by the code's conditioning.
RECOVERY_TOL = {torch.float64: 1e-9, torch.float32: 2e-3}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("k,r", [(k, r) for k in range(1, 7) for r in range(1, 4)])
def test_cauchy_recovers_every_pattern_of_at_most_r_exactly(k, r, dtype):
    code = pk.LinearCode.cauchy(k, r)
    model = _linear_model(seed=k * 10 + r, dtype=dtype)
    recoverable = _patterns(k + r, r)
    # Patterns with r + 1 missing data outputs (and every parity present) cannot be rebuilt.
    too_many = [row for row in _patterns(k + r, r + 1) if (~row).sum() == r + 1 and (~row[:k]).sum() == r + 1]
    available = torch.cat([recoverable] + ([torch.stack(too_many)] if too_many else []))
    groups = available.shape[0]
    x = torch.randn(groups, k, 6, dtype=dtype)
    outputs = model(x)
    coded = model(pk.encode(x, code))  # a linear F serves as its own parity model
    damaged = outputs.clone()
    damaged[~available[:, :k]] = float("nan")
    y, ok = pk.decode(damaged, coded, available, code)
    n_ok = recoverable.shape[0]
    assert ok[:n_ok].all()
    assert not ok[n_ok:].any()
    tol = RECOVERY_TOL[dtype]
    torch.testing.assert_close(y[:n_ok], outputs[:n_ok], rtol=tol, atol=tol)
    # Unrecoverable groups: available slots copied, missing slots 0, nothing else touched.
    have = available[n_ok:, :k]
    torch.testing.assert_close(y[n_ok:][have], outputs[n_ok:][have])
    assert (y[n_ok:][~have] == 0).all()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 8])
def test_sum_code_rebuilds_one_missing_output_of_a_linear_model(k):
    code = pk.SumCode(k)
    model = _linear_model(seed=k)
    x = torch.randn(k, k, 6)
    outputs = model(x)
    parity = model(pk.encode(x, code))
    available = torch.ones(k, k + 1, dtype=torch.bool)
    available[torch.arange(k), torch.arange(k)] = False  # group g loses output g
    damaged = outputs.clone()
    damaged[~available[:, :k]] = float("nan")
    y, ok = pk.decode(damaged, parity, available, code)
    assert ok.all()
    torch.testing.assert_close(y, outputs, rtol=1e-5, atol=1e-5)


def test_sum_code_cannot_rebuild_two_missing_outputs():
    code = pk.SumCode(3)
    available = torch.tensor([[False, False, True, True]])
    outputs = torch.tensor([[[float("nan")] * 2, [float("nan")] * 2, [3.0, 4.0]]])
    y, ok = pk.decode(outputs, torch.ones(1, 1, 2), available, code)
    assert not ok.any()
    assert torch.equal(y, torch.tensor([[[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]]]))


def test_berrut_error_falls_as_more_outputs_arrive():
    torch.manual_seed(0)
    k, n, groups = 4, 12, 400
    code = pk.BerrutCode(k, n)
    weights = torch.randn(8, 3) / 3

    def model(x):  # smooth, nonlinear
        return torch.tanh(x @ weights)

    x = torch.randn(groups, k, 8) * 0.5
    truth = model(x)
    coded = model(pk.encode(x, code))
    errors = []
    for count in (4, 8, 12):
        keep = torch.rand(groups, n).argsort(1) < count
        y, ok = pk.decode(None, coded, keep, code)
        assert ok.all()
        errors.append((y - truth).norm() / truth.norm())
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.5


def test_berrut_with_nothing_available_is_not_ok():
    code = pk.BerrutCode(3, 5)
    available = torch.zeros(2, 5, dtype=torch.bool)
    available[1, 2] = True
    coded = torch.randn(2, 5, 4)
    y, ok = pk.decode(None, coded, available, code)
    assert ok.tolist() == [False, True]
    assert (y[0] == 0).all()
    # One point: the interpolant is constant.
    torch.testing.assert_close(y[1], coded[1, 2].expand(3, 4))
