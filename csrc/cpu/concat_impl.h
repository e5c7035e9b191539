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

// dst[o] = mean of channel rows [y0, y1) x columns [lo[x_begin + o], hi[x_begin + o]) for
// o < count, summed row by row (contiguous reads) into acc.
template <typename T>
inline void tile_row(T* __restrict dst, typename Element<T>::Acc* __restrict acc, const T* __restrict channel, int64_t width, int64_t y0,
                     int64_t y1, const int64_t* lo, const int64_t* hi, int64_t count) {
  using Acc = typename Element<T>::Acc;
  std::fill(acc, acc + count, Acc(0));
  const bool pairs = [&] {  // the common even split into halves: windows [2o, 2o + 2)
    for (int64_t o = 0; o < count; ++o)
      if (hi[o] - lo[o] != 2 || lo[o] != lo[0] + 2 * o) return false;
    return true;
  }();
  for (int64_t y = y0; y < y1; ++y) {
    const T* __restrict row = channel + y * width;
    if (pairs) {
      const T* __restrict base = row + lo[0];
      for (int64_t o = 0; o < count; ++o)
        acc[o] += Element<T>::load(base + 2 * o) + Element<T>::load(base + 2 * o + 1);
    } else {
      for (int64_t o = 0; o < count; ++o)
        for (int64_t x = lo[o]; x < hi[o]; ++x) acc[o] += Element<T>::load(row + x);
    }
  }
  for (int64_t o = 0; o < count; ++o)
    Element<T>::store(dst + o, acc[o] / static_cast<Acc>((y1 - y0) * (hi[o] - lo[o])));
}

template <typename T>
void concat_typed(const ConcatArgs& a) {
  using Acc = typename Element<T>::Acc;
  const T* inputs = static_cast<const T*>(a.inputs);
  T* out = static_cast<T*>(a.out);
  const AxisMap ys(a.height, a.grid_rows), xs(a.width, a.grid_cols);
  std::vector<int64_t> col_start(a.grid_cols + 1);
  for (int64_t u = 0; u <= a.grid_cols; ++u) col_start[u] = u * a.width / a.grid_cols;
  const int64_t plane = a.height * a.width;
  const int64_t rows_total = a.groups * a.channels * a.height;

  // Small calls stay on the calling thread (see combine_impl.h).
  const int64_t bytes = a.groups * (a.k + 1) * a.channels * plane * static_cast<int64_t>(sizeof(T));
  const int threads = bytes >= (int64_t(1) << 20) ? a.threads : 1;
#pragma omp parallel num_threads(threads)
  {
    std::vector<Acc> acc(a.width);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < rows_total; ++item) {
      const int64_t oy = item % a.height;
      const int64_t c = (item / a.height) % a.channels;
      const int64_t g = item / (a.height * a.channels);
      T* dst = out + item * a.width;
      for (int64_t u = 0; u < a.grid_cols; ++u) {  // one tile of this parity row at a time
        const int64_t begin = col_start[u], count = col_start[u + 1] - begin;
        const int64_t s = ys.tile[oy] * a.grid_cols + u;
        if (s >= a.k) {
          for (int64_t o = 0; o < count; ++o) Element<T>::store(dst + begin + o, Acc(0));
          continue;
        }
        const T* image = a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                                 : inputs + g * a.in_stride_g + s * a.in_stride_s;
        tile_row<T>(dst + begin, acc.data(), image + c * plane, a.width, ys.lo[oy], ys.hi[oy],
                    xs.lo.data() + begin, xs.hi.data() + begin, count);
      }
    }
  }
}

// The kernel for a's dtype.
inline void concat_by_dtype(const ConcatArgs& a) {
  switch (a.dtype) {
    case DType::Float32: return concat_typed<float>(a);
    case DType::Float64: return concat_typed<double>(a);
    case DType::Float16: return concat_typed<Half>(a);
    case DType::BFloat16: return concat_typed<BFloat16>(a);
  }
  throw std::invalid_argument("concat_downsample: unsupported dtype code");
}

}  // namespace

}  // namespace parity_kernels
