"""ConcatCode's image encoder: grids, sizes that do not divide, exact tile contents."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import parity_kernels as pk
from parity_kernels import reference

from conftest import DTYPES, assert_matches


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("k", [2, 3, 4, 8, 9])
# (10, 36): k = 2, 4 tiles of 18 even pairs (the vectorised pair sums, 8 at a time, and a tail)
@pytest.mark.parametrize("size", [(8, 8), (7, 5), (9, 13), (3, 3), (31, 29), (10, 36)])
def test_concat_matches_reference(k, size, dtype, poisoned_outputs):
    code = pk.ConcatCode(k)
    x = torch.randn((2, k, 3) + size, dtype=torch.float64).to(dtype)
    got = pk.encode(x, code)
    assert_matches(got, reference.concat_downsample(x), reference.concat_downsample(x.double().abs()), dtype)


def test_k2_is_two_half_width_images_side_by_side():
    x = torch.randn(1, 2, 3, 4, 6, dtype=torch.float64)
    p = pk.encode(x, pk.ConcatCode(2))[:, 0]
    halves = [(x[:, i, :, :, 0::2] + x[:, i, :, :, 1::2]) / 2 for i in range(2)]
    torch.testing.assert_close(p, torch.cat(halves, dim=-1))


def test_k4_is_four_quadrants_row_major():
    x = torch.randn(1, 4, 2, 6, 8, dtype=torch.float64)
    p = pk.encode(x, pk.ConcatCode(4))[:, 0]
    pooled = [F.avg_pool2d(x[:, i], 2) for i in range(4)]
    torch.testing.assert_close(p[..., :3, :4], pooled[0])
    torch.testing.assert_close(p[..., :3, 4:], pooled[1])
    torch.testing.assert_close(p[..., 3:, :4], pooled[2])
    torch.testing.assert_close(p[..., 3:, 4:], pooled[3])


def test_k3_leaves_the_last_tile_zero():
    x = torch.randn(2, 3, 1, 6, 6, dtype=torch.float64)
    p = pk.encode(x, pk.ConcatCode(3))
    assert (p[..., 3:, 3:] == 0).all()
    assert (p[..., :3, :3] != 0).all()


def test_uneven_sizes_split_as_documented():
    # H = 7 over 2 tile rows: rows [0, 3) and [3, 7); W = 5 over 2 tile columns: [0, 2), [2, 5).
    code = pk.ConcatCode(4)
    assert code.tile_bounds(7, 5) == ([0, 3, 7], [0, 2, 5])
    x = torch.randn(1, 4, 1, 7, 5, dtype=torch.float64)
    p = pk.encode(x, code)[0, 0, 0]
    torch.testing.assert_close(p[3:, 2:], F.adaptive_avg_pool2d(x[0, 3], (4, 3))[0])
    torch.testing.assert_close(p[:3, :2], F.adaptive_avg_pool2d(x[0, 0], (3, 2))[0])


def test_channels_stay_separate():
    x = torch.zeros(1, 2, 3, 4, 4)
    x[:, :, 1] = 1.0  # only channel 1 is non-zero in every image
    p = pk.encode(x, pk.ConcatCode(2))
    assert (p[:, :, 1] == 1).all() and (p[:, :, 0] == 0).all() and (p[:, :, 2] == 0).all()


def test_gathered_images(poisoned_outputs):
    batch = torch.randn(10, 3, 9, 9)
    groups = torch.tensor([[9, 0, 4], [1, 1, 2]])
    got = pk.encode(batch, pk.ConcatCode(3), groups=groups)
    assert_matches(got, reference.concat_downsample(batch, groups),
                   reference.concat_downsample(batch.double().abs(), groups), torch.float32)


def test_image_smaller_than_the_grid_is_refused():
    with pytest.raises(ValueError, match="smaller than"):
        pk.encode(torch.randn(1, 9, 3, 2, 8), pk.ConcatCode(9))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        pk.encode(torch.randn(1, 4, 8, 8), pk.ConcatCode(4))


@pytest.mark.parametrize("k", [9, 16, 25])
def test_wide_windows_and_full_size_images(k, poisoned_outputs):
    """224-pixel images (k = 9: overlapping 3- and 4-wide windows, each read from the
    window-sum rows) and grids of 4 and 5 columns (windows up to 6 wide: the general loop)."""
    code = pk.ConcatCode(k)
    x = torch.randn(1, k, 2, 224, 224)
    got = pk.encode(x, code)
    assert_matches(got, reference.concat_downsample(x), reference.concat_downsample(x.double().abs()), torch.float32)


@pytest.mark.parametrize("k", [4, 9])
def test_nan_stays_in_the_windows_that_cover_it(k):
    """A NaN pixel makes NaN exactly the parity pixels whose window covers it (window sums
    never mix in an element outside their window, not even times zero)."""
    code = pk.ConcatCode(k)
    x = torch.randn(2, k, 1, 40, 37)
    x[1, k - 1, 0, 17, 22] = float("nan")
    got = pk.encode(x, code)
    want = reference.concat_downsample(x)
    assert got.isnan().any()
    assert torch.equal(got.isnan(), want.isnan())
