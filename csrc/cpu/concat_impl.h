// The concat_downsample kernel, included by one translation unit per instruction set
// (concat_generic.cpp, concat_avx2.cpp); everything has internal linkage.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "elements.h"
#include "kernels.h"

namespace parity_kernels {

namespace {

// For every parity coordinate along one axis: which tile it falls in, and the input
// window [lo, hi) that its adaptive-average bin covers (PyTorch's adaptive pooling bins:
// lo = floor(o * in / out), hi = ceil((o + 1) * in / out)).
struct AxisMap {
  std::vector<int64_t> tile, lo, hi;
  AxisMap(int64_t size, int64_t tiles) : tile(size), lo(size), hi(size) {
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t start = t * size / tiles, stop = (t + 1) * size / tiles, extent = stop - start;
      for (int64_t o = 0; o < extent; ++o) {
        tile[start + o] = t;
        lo[start + o] = o * size / extent;
        hi[start + o] = ((o + 1) * size + extent - 1) / extent;
      }
    }
  }
};

// The columns of one tile: its parity columns' input windows [lo, hi), the reciprocal of
// each window's width, and whether all windows are the even split into pairs [2o, 2o + 2).
template <typename Acc>
struct TileColumns {
  const int64_t* lo;
  const int64_t* hi;
  const Acc* inv_width;
  int64_t count;
  bool pairs;
  int64_t max_width;  // widest window
};

// dst[o] = mean of channel rows [y0, y1) x the tile's column windows. Even pairs: summed
// row by row into acc. Other windows (tile widths that do not divide the image, e.g. k = 8
// or 9 on 224 pixels: windows of 3 or 4 columns, some overlapping): first the column sums
// of the rows over the columns the windows span, in ``colsum`` (contiguous adds that
// vectorise, and every input element read once), then each window summed from those.
template <typename T>
inline void tile_row(T* __restrict dst, typename Element<T>::Acc* __restrict acc,
                     typename Element<T>::Acc* __restrict colsum, const T* __restrict channel, int64_t width,
                     int64_t y0, int64_t y1, const TileColumns<typename Element<T>::Acc>& cols) {
  using Acc = typename Element<T>::Acc;
  const int64_t count = cols.count;
  if (cols.pairs) {
    std::fill(acc, acc + count, Acc(0));
    for (int64_t y = y0; y < y1; ++y) {
      const T* __restrict base = channel + y * width + cols.lo[0];
      for (int64_t o = 0; o < count; ++o)
        acc[o] += Element<T>::load(base + 2 * o) + Element<T>::load(base + 2 * o + 1);
    }
  } else {
    const int64_t x0 = cols.lo[0], span = cols.hi[count - 1] - x0;
    std::fill(colsum, colsum + span, Acc(0));
    for (int64_t y = y0; y < y1; ++y) {
      const T* __restrict row = channel + y * width + x0;
      for (int64_t x = 0; x < span; ++x) colsum[x] += Element<T>::load(row + x);
    }
    if (cols.max_width <= 4) {  // the usual case: fixed four reads a window, selects, no branches
      for (int64_t o = 0; o < count; ++o) {
        const Acc* c = colsum + (cols.lo[o] - x0);
        const int64_t w = cols.hi[o] - cols.lo[o];
        acc[o] = c[0] + (w > 1 ? c[1] : Acc(0)) + (w > 2 ? c[2] : Acc(0)) + (w > 3 ? c[3] : Acc(0));
      }
    } else {
      for (int64_t o = 0; o < count; ++o) {
        Acc sum = 0;
        for (int64_t x = cols.lo[o] - x0; x < cols.hi[o] - x0; ++x) sum += colsum[x];
        acc[o] = sum;
      }
    }
  }
  const Acc inv_height = Acc(1) / static_cast<Acc>(y1 - y0);
  const Acc* __restrict inv_width = cols.inv_width;
  for (int64_t o = 0; o < count; ++o) Element<T>::store(dst + o, acc[o] * inv_height * inv_width[o]);
}

template <typename T>
void concat_typed(const ConcatArgs& a) {
  using Acc = typename Element<T>::Acc;
  const T* inputs = static_cast<const T*>(a.inputs);
  T* out = static_cast<T*>(a.out);
  const AxisMap ys(a.height, a.grid_rows), xs(a.width, a.grid_cols);
  std::vector<Acc> inv_width(a.width);
  for (int64_t x = 0; x < a.width; ++x) inv_width[x] = Acc(1) / static_cast<Acc>(xs.hi[x] - xs.lo[x]);
  std::vector<TileColumns<Acc>> tiles(a.grid_cols);
  for (int64_t u = 0; u < a.grid_cols; ++u) {
    const int64_t begin = u * a.width / a.grid_cols, count = (u + 1) * a.width / a.grid_cols - begin;
    bool pairs = true;
    int64_t max_width = 0;
    for (int64_t o = 0; o < count; ++o) {
      pairs = pairs && xs.hi[begin + o] - xs.lo[begin + o] == 2 && xs.lo[begin + o] == xs.lo[begin] + 2 * o;
      max_width = std::max(max_width, xs.hi[begin + o] - xs.lo[begin + o]);
    }
    tiles[u] = {xs.lo.data() + begin, xs.hi.data() + begin, inv_width.data() + begin, count, pairs, max_width};
  }
  const int64_t plane = a.height * a.width;
  const int64_t rows_total = a.groups * a.channels * a.height;

  // Small calls stay on the calling thread (see combine_impl.h).
  const int64_t bytes = a.groups * (a.k + 1) * a.channels * plane * static_cast<int64_t>(sizeof(T));
  const int threads = bytes >= (int64_t(1) << 20) ? a.threads : 1;
#pragma omp parallel num_threads(threads)
  {
    std::vector<Acc> acc(a.width), colsum(a.width + 3, Acc(0));  // + 3: fixed 4-wide reads stay inside
#pragma omp for schedule(static)
    for (int64_t item = 0; item < rows_total; ++item) {
      const int64_t oy = item % a.height;
      const int64_t c = (item / a.height) % a.channels;
      const int64_t g = item / (a.height * a.channels);
      T* dst = out + item * a.width;
      for (int64_t u = 0; u < a.grid_cols; ++u) {  // one tile of this parity row at a time
        const TileColumns<Acc>& cols = tiles[u];
        T* tile_dst = dst + (cols.lo - xs.lo.data());
        const int64_t s = ys.tile[oy] * a.grid_cols + u;
        if (s >= a.k) {
          for (int64_t o = 0; o < cols.count; ++o) Element<T>::store(tile_dst + o, Acc(0));
          continue;
        }
        const T* image = a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                                 : inputs + g * a.in_stride_g + s * a.in_stride_s;
        tile_row<T>(tile_dst, acc.data(), colsum.data(), image + c * plane, a.width, ys.lo[oy], ys.hi[oy], cols);
      }
    }
  }
}

// The kernel for a's dtype.
inline void concat_by_dtype(const ConcatArgs& a) {
  by_dtype(a.dtype, "concat_downsample", [&](auto tag) { concat_typed<typename decltype(tag)::type>(a); });
}

}  // namespace

}  // namespace parity_kernels
