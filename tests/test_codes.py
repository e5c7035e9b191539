"""The codes' math: weights, decode coefficients, node coincidences, device-only computation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import parity_kernels as pk
from parity_kernels import reference
from parity_kernels.codes import berrut_weights


@pytest.mark.parametrize("k,r", [(k, r) for k in range(1, 9) for r in range(1, 5)])
def test_cauchy_every_square_submatrix_is_invertible(k, r):
    w = pk.LinearCode.cauchy(k, r).weights
    for m in range(1, min(k, r) + 1):
        for rows in itertools.combinations(range(r), m):
            for cols in itertools.combinations(range(k), m):
                sub = w[list(rows)][:, list(cols)]
                assert torch.linalg.matrix_rank(sub) == m


def test_vandermonde_first_row_is_the_sum():
    w = pk.LinearCode.vandermonde(5, 3).weights
    assert torch.equal(w[0], torch.ones(5, dtype=torch.float64))
    assert torch.equal(w[2], torch.arange(1, 6, dtype=torch.float64) ** 2)


def test_sum_code_is_one_row_of_ones():
    assert torch.equal(pk.SumCode(4).encode_matrix(), torch.ones(1, 4, dtype=torch.float64))


@pytest.mark.parametrize("k,n", [(1, 2), (2, 3), (3, 5), (4, 6), (5, 9), (8, 12)])
def test_berrut_encoder_matches_the_termwise_formula(k, n):
    code = pk.BerrutCode(k, n)
    torch.testing.assert_close(code.encode_matrix(), reference.berrut_encode_matrix(code))
    # Interpolation weights form a partition of unity.
    torch.testing.assert_close(code.encode_matrix().sum(1), torch.ones(n, dtype=torch.float64))


def test_berrut_nodes_are_chebyshev_points():
    code = pk.BerrutCode(3, 4)
    i = torch.arange(3, dtype=torch.float64)
    torch.testing.assert_close(code.alpha, torch.cos((2 * i + 1) * math.pi / 6))
    torch.testing.assert_close(code.beta, torch.cos(torch.arange(4, dtype=torch.float64) * math.pi / 3))


def test_coinciding_node_takes_the_interpolating_limit():
    # Odd k and odd n share the node 0 (cos(pi/2)): weight 1 on it, no division by zero.
    code = pk.BerrutCode(3, 5)
    w = code.encode_matrix()
    assert torch.isfinite(w).all()
    assert torch.equal(w[2], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    coeffs, ok = code.decode_coefficients(torch.ones(1, 5, dtype=torch.bool))
    assert torch.isfinite(coeffs).all() and ok.all()
    assert torch.equal(coeffs[0, 1], torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    # Exactly equal point and node.
    out = berrut_weights(torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64),
                         torch.ones(1, 3, dtype=torch.bool))
    assert torch.equal(out[0, 0], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("code", [pk.SumCode(4), pk.LinearCode.cauchy(4, 2), pk.BerrutCode(4, 6), pk.ConcatCode(3)],
                         ids=repr)
def test_unavailable_sources_get_exact_zero_coefficients(code):
    gen = torch.Generator().manual_seed(1)
    available = torch.rand(64, code.num_sources, generator=gen) < 0.6
    coeffs, ok = code.decode_coefficients(available)
    assert coeffs.shape == (64, code.k, code.num_sources) and coeffs.dtype == torch.float64
    assert (coeffs.transpose(1, 2)[~available] == 0).all()
    assert torch.isfinite(coeffs).all()
    if code.systematic:  # available data slots are copied as they are
        have = available[:, : code.k]
        diag = coeffs.diagonal(dim1=1, dim2=2)
        assert (diag[have] == 1).all()


def test_decode_coefficients_stay_on_the_masks_device():
    available = torch.ones(2, 6, dtype=torch.bool, device="meta")
    for code in (pk.LinearCode.cauchy(4, 2), pk.SumCode(5), pk.BerrutCode(3, 6)):
        coeffs, ok = code.decode_coefficients(available)
        assert coeffs.device.type == "meta" and ok.device.type == "meta"


def test_concat_grid_shapes():
    assert (pk.ConcatCode(1).rows, pk.ConcatCode(1).cols) == (1, 1)
    assert (pk.ConcatCode(2).rows, pk.ConcatCode(2).cols) == (1, 2)
    assert (pk.ConcatCode(3).rows, pk.ConcatCode(3).cols) == (2, 2)
    assert (pk.ConcatCode(4).rows, pk.ConcatCode(4).cols) == (2, 2)
    assert (pk.ConcatCode(5).rows, pk.ConcatCode(5).cols) == (2, 3)
    assert (pk.ConcatCode(9).rows, pk.ConcatCode(9).cols) == (3, 3)


@pytest.mark.parametrize("make", [lambda: pk.SumCode(0), lambda: pk.LinearCode.cauchy(3, 0),
                                  lambda: pk.BerrutCode(3, 1), lambda: pk.LinearCode([[1.0, float("nan")]]),
                                  lambda: pk.LinearCode(torch.ones(3)), lambda: pk.codes.code_from_name("rs", 2, 1)])
def test_bad_code_parameters_raise(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("code", [pk.SumCode(5), pk.LinearCode.cauchy(6, 3), pk.LinearCode.vandermonde(8, 4),
                                  pk.BerrutCode(5, 9), pk.ConcatCode(4)], ids=repr)
def test_pattern_table_agrees_with_the_direct_solve(code):
    every = (torch.arange(2**code.num_sources)[:, None] >> torch.arange(code.num_sources)) & 1
    every = every.to(torch.bool)
    table, table_ok = code.decode_coefficients(every)
    direct, direct_ok = code.solve_coefficients(every)
    assert torch.equal(table_ok, direct_ok)
    assert torch.equal(table, direct)


def test_codes_with_more_sources_than_the_table_solve_per_call():
    code = pk.LinearCode.cauchy(10, 4)
    assert code.num_sources > pk.codes.TABLE_SOURCES
    gen = torch.Generator().manual_seed(3)
    available = torch.rand(20, 14, generator=gen) < 0.75
    outputs = torch.randn(20, 10, 3, generator=gen, dtype=torch.float64)
    coded = torch.randn(20, 4, 3, generator=gen, dtype=torch.float64)
    y, ok = pk.decode(outputs, coded, available, code)
    want, want_ok = reference.decode(outputs, coded, available, code)
    assert torch.equal(ok, want_ok) and ok.any() and not ok.all()
    torch.testing.assert_close(y, want, rtol=1e-9, atol=1e-9)
    assert not [key for key in code._matrix_cache if key[0] == "patterns"]
