"""The Triton backend's host-side launch arithmetic (no kernel runs here)."""

from __future__ import annotations

import pytest

triton = pytest.importorskip("triton")

from parity_kernels.triton import cdiv, next_power_of_2  # noqa: E402


def test_launch_arithmetic_matches_triton():
    """Plain-Python next_power_of_2 and cdiv (triton's are constexpr_functions costing ~5 us
    a call from Python) give triton's values wherever launches use them."""
    for n in list(range(1, 4100)) + [2**20 - 1, 2**20, 2**20 + 1, 150528, 2**31 + 5]:
        assert next_power_of_2(n) == triton.next_power_of_2(n), n
        for b in (1, 2, 3, 16, 64, 256, 1000):
            assert cdiv(n, b) == triton.cdiv(n, b), (n, b)
    assert cdiv(0, 7) == triton.cdiv(0, 7) == 0
