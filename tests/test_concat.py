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
# (10, 36): k = 2, 4 tiles of 18 even pairs (the vectorised pair sums, 8 at a time, and a
# tail); (13, 36): the same pairs over windows 2 and 3 rows tall
@pytest.mark.parametrize("size", [(8, 8), (7, 5), (9, 13), (3, 3), (31, 29), (10, 36), (13, 36)])
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


def three_apart_runs(width: int, grid: int) -> list:
    """Lengths of the runs of >= 8 windows of one width, 3 or 4, starting 3 columns apart,
    in each tile of `grid` tiles across `width` columns (the windows the AVX2 kernel sums 8
    at a time; PyTorch's adaptive-pooling bins, as reference.concat_downsample)."""
    runs = []
    for t in range(grid):
        extent = (t + 1) * width // grid - t * width // grid
        lo = [o * width // extent for o in range(extent)]
        hi = [-(-(o + 1) * width // extent) for o in range(extent)]
        o = 0
        while o < extent:
            end = o + 1
            if hi[o] - lo[o] in (3, 4):
                while end < extent and hi[end] - lo[end] == hi[o] - lo[o] and lo[end] - lo[end - 1] == 3:
                    end += 1
            if end - o >= 8:
                runs.append(end - o)
            o = end
    return runs


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("k", [5, 8, 9])
# widths: 224 (tiles 74, 75, 75: 4-wide windows, a shift of the run halfway in the
# 74-column tile, 3-wide windows left at the 75-column tiles' edges), 72 (3-wide windows,
# 24 a tile: whole blocks only), 75 (runs of 25: the last block overlaps the one before),
# 80 (two runs of 13 in a 26-column tile) and 29 (runs of exactly 8 among loose windows);
# heights: windows that share a row with the next (17, 31, 224, 5: read once, the shared
# row kept for the next window), that do not (9, 12), one window a tile (3; 5 at k = 8, 9)
@pytest.mark.parametrize("size", [(17, 224), (9, 72), (12, 75), (31, 80), (224, 29), (5, 72), (3, 75)])
def test_windows_three_apart_match_reference(k, size, dtype, poisoned_outputs):
    """Tiles about a third of the image wide: windows 3 columns apart, summed 8 at a time."""
    runs = three_apart_runs(size[1], 3)
    assert runs, "the case must have windows the kernel sums 8 at a time"
    code = pk.ConcatCode(k)
    x = torch.randn((2, k, 3) + size, dtype=torch.float64).to(dtype)
    got = pk.encode(x, code)
    assert_matches(got, reference.concat_downsample(x), reference.concat_downsample(x.double().abs()), dtype)


def test_the_sizes_above_cover_whole_overlapping_and_loose_blocks():
    assert all(r % 8 == 0 for r in three_apart_runs(72, 3))
    assert any(r % 8 for r in three_apart_runs(75, 3)) and any(r % 8 for r in three_apart_runs(224, 3))
    assert len(three_apart_runs(224, 3)) == 4  # two runs in the 74-column tile


def shared_rows(height: int, grid: int, band: int) -> list:
    """Rows of a `height`-row image in tile row `band` of `grid` that lie in two of its
    windows (adaptive-pooling bins overlap by at most one row)."""
    extent = (band + 1) * height // grid - band * height // grid
    lo = [o * height // extent for o in range(extent)]
    hi = [-(-(o + 1) * height // extent) for o in range(extent)]
    return [lo[o + 1] for o in range(extent - 1) if lo[o + 1] < hi[o]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_rows_two_windows_share_count_in_both(dtype, poisoned_outputs):
    """224-pixel images (k = 8, tile rows of 74, 75, 75): the rows two windows share (read
    once, kept for the second window) hold large values and, in one image, a NaN: both
    windows get them."""
    x = torch.randn(1, 8, 2, 224, 224, dtype=torch.float64)
    for image in range(8):
        rows = shared_rows(224, 3, image // 3)
        assert len(rows) > 60  # about one row in three
        x[:, image, :, rows, ::5] = 300.0
    x[0, 5, 1, shared_rows(224, 3, 1)[17], 40] = float("nan")
    x = x.to(dtype)
    got = pk.encode(x, pk.ConcatCode(8))
    want = reference.concat_downsample(x)
    assert torch.equal(got.isnan(), want.isnan()) and got.isnan().sum() >= 2
    finite = ~want.isnan()
    assert_matches(got[finite], want[finite], reference.concat_downsample(x.double().abs())[finite], dtype)


def test_gathered_images_in_three_apart_tiles(poisoned_outputs):
    """Gathered images (an index, repeats) in tiles whose windows are summed 8 at a time."""
    batch = torch.randn(12, 3, 14, 72)
    groups = torch.tensor([[11, 0, 4, 4, 7, 2, 9, 1], [3, 3, 3, 10, 6, 5, 8, 0]])
    got = pk.encode(batch, pk.ConcatCode(8), groups=groups)
    assert_matches(got, reference.concat_downsample(batch, groups),
                   reference.concat_downsample(batch.double().abs(), groups), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_nan_in_three_apart_windows_stays_in_its_windows(dtype):
    """NaN pixels among 224-pixel images (k = 8): each makes NaN exactly the parity pixels
    whose window covers it, wherever it falls in a block of 8 windows."""
    code = pk.ConcatCode(8)
    x = torch.randn(1, 8, 1, 224, 224).to(dtype)
    g = torch.Generator().manual_seed(7)
    rows = torch.randint(0, 224, (60,), generator=g)
    cols = torch.randint(0, 224, (60,), generator=g)
    images = torch.randint(0, 8, (60,), generator=g)
    x[0, images, 0, rows, cols] = float("nan")
    got = pk.encode(x, code)
    want = reference.concat_downsample(x)
    assert got.isnan().any()
    assert torch.equal(got.isnan(), want.isnan())


def window_sizes(size: int, grid: int) -> torch.Tensor:
    """Each parity coordinate's window length along an axis of `size` split into `grid` tiles."""
    sizes = []
    for t in range(grid):
        extent = (t + 1) * size // grid - t * size // grid
        sizes += [-(-(o + 1) * size // extent) - o * size // extent for o in range(extent)]
    return torch.tensor(sizes)


@pytest.mark.parametrize("low, scale", [(128, 1.0), (1, 2.0**-133)], ids=["normal", "subnormal"])
@pytest.mark.parametrize("k", [4, 8])
def test_bfloat16_means_round_to_nearest_even_as_torch(k, low, scale):
    """Integer pixels 128..255 (or 1..127 times 2^-133: bfloat16 subnormals, whose means
    float32 holds only as subnormals), both a whole number of units in bfloat16's last
    place: a 4 x 4 window's mean (sum / 16) is exact in float32 and needs rounding to a
    whole unit, a tie (x.5) one time in 16; those means come out bit for bit as torch
    rounds them (every window of k = 4's 2 x 2, k = 8's 4 x 4 ones)."""
    gen = torch.Generator().manual_seed(3)
    pixels = torch.randint(low, low + 127, (2, k, 2, 224, 224), generator=gen).double()
    x = (pixels * scale).to(torch.bfloat16)
    assert torch.equal(x.double(), pixels * scale)
    got = pk.encode(x, pk.ConcatCode(k))
    want = reference.concat_downsample(x.double())
    grid = pk.ConcatCode(k)
    square = 2 if k == 4 else 4
    exact = (window_sizes(224, grid.rows) == square)[:, None] & (window_sizes(224, grid.cols) == square)[None, :]
    assert exact.float().mean() > 0.8
    if square == 4:
        ties = (want / scale * 16 % 16 == 8)[..., exact]
        assert ties.sum() > 1000
    assert torch.equal(got[..., exact], want.to(torch.bfloat16)[..., exact])


@pytest.mark.parametrize("k", [2, 3, 4, 5, 8, 9])
def test_triton_window_bound_is_the_longest_window(k):
    """The Triton kernel unrolls WIN_Y x WIN_X loads per parity pixel: ``window`` must be the
    longest adaptive-pooling window of any tile (shorter: pixels lose input; longer: wasted
    loads), checked against every window of every tile of ConcatCode's grid."""
    concat_downsample = pytest.importorskip("parity_kernels.triton.concat_downsample")
    rows, cols = pk.codes.concat_grid(k)
    for size in (3, 5, 7, 9, 13, 31, 36, 224, 225, 299):
        for tiles in {rows, cols}:
            if size < tiles:
                continue
            bounds = [t * size // tiles for t in range(tiles + 1)]
            longest = max(-(-(o + 1) * size // (end - start)) - o * size // (end - start)
                          for start, end in zip(bounds, bounds[1:]) for o in range(end - start))
            assert concat_downsample.window(size, tiles) == longest, (size, tiles)
