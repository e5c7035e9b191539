"""Bad input raises ValueError/TypeError naming the argument and what was expected."""

from __future__ import annotations

import pytest
import torch

import parity_kernels as pk

X = torch.randn(2, 3, 4)
CODE = pk.LinearCode.cauchy(3, 2)
OUT = torch.randn(2, 3, 5)
CODED = torch.randn(2, 2, 5)
AVAIL = torch.ones(2, 5, dtype=torch.bool)


@pytest.mark.parametrize(
    "call,error,words",
    [
        (lambda: pk.encode(torch.randn(2, 4, 4), CODE), ValueError, r"x: expected shape \(G, 3, \*S\)"),
        (lambda: pk.encode(torch.randn(3), CODE), ValueError, "x: expected at least 2 dims"),
        (lambda: pk.encode(X.to(torch.int32), CODE), TypeError, "x: expected float32"),
        (lambda: pk.encode(X.numpy(), CODE), TypeError, "x: expected a torch.Tensor"),
        (lambda: pk.encode(X, "sum"), TypeError, "code: expected a parity_kernels code"),
        (lambda: pk.encode(X, CODE, groups=torch.tensor([[0, 1, 2]], dtype=torch.int32)), TypeError,
         "groups: expected dtype torch.int64"),
        (lambda: pk.encode(X, CODE, groups=torch.tensor([[0, 1]])), ValueError, r"groups: expected shape \(G, 3\)"),
        (lambda: pk.encode(X, CODE, groups=torch.tensor([[0, 1, 2]], device="meta")), ValueError,
         "groups: expected device cpu"),
        (lambda: pk.encode(X, CODE, groups=torch.tensor([[0, 1, 1], [1, 0, 9]])), ValueError,
         r"groups: index 9 .* outside \[0, 2\)"),
        (lambda: pk.encode(X, CODE, groups=torch.tensor([[0, -1, 1]])), ValueError, "groups: index -1"),
        (lambda: pk.decode(OUT, CODED, AVAIL.int(), CODE), TypeError, "available: expected a bool tensor"),
        (lambda: pk.decode(OUT, CODED, AVAIL[:, :4], CODE), ValueError, r"available: expected shape \(2, 5\)"),
        (lambda: pk.decode(OUT, CODED[:, :1], AVAIL, CODE), ValueError, r"coded_outputs: expected shape \(G, 2, \*O\)"),
        (lambda: pk.decode(OUT[:, :, :4], CODED, AVAIL, CODE), ValueError, r"outputs: expected shape \(2, 3, 5\)"),
        (lambda: pk.decode(OUT.double(), CODED, AVAIL, CODE), TypeError, "outputs: expected torch.float32"),
        (lambda: pk.decode(None, CODED, AVAIL, CODE), ValueError, "outputs: expected the data outputs"),
        (lambda: pk.decode(OUT, torch.randn(2, 5, 5), AVAIL, pk.BerrutCode(3, 5)), ValueError,
         "outputs: BerrutCode is not systematic"),
        (lambda: pk.decode(OUT, CODED, AVAIL.to("meta"), CODE), ValueError, "available: expected device cpu"),
        (lambda: pk.decode(torch.randn(7, 5), CODED, AVAIL, CODE, groups=torch.tensor([[0, 1, 2]])), ValueError,
         r"outputs/groups: expected a batch"),
    ],
)
def test_bad_input_raises_a_named_error(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_ops_validate_their_own_arguments():
    combine = torch.ops.parity_kernels.combine
    with pytest.raises(TypeError, match="coeffs: expected torch.float32"):
        combine(X, torch.ones(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"coeffs: expected \(r, 3\)"):
        combine(X, torch.ones(1, 4))
    with pytest.raises(TypeError, match="index: expected torch.int64"):
        combine(X[0], torch.ones(1, 3), torch.zeros(1, 3, dtype=torch.int32))


def test_float64_is_cpu_only():
    x = torch.randn(2, 3, 4, dtype=torch.float64, device="meta")
    with pytest.raises(TypeError, match="float64 is supported on CPU only"):
        pk.encode(x, CODE)
