// ConcatCode's encoder: area downsample and tiling in one pass (see kernels.h).
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

template <typename T>
void concat_typed(const ConcatArgs& a) {
  using Acc = typename Element<T>::Acc;
  const T* inputs = static_cast<const T*>(a.inputs);
  T* out = static_cast<T*>(a.out);
  const AxisMap ys(a.height, a.grid_rows), xs(a.width, a.grid_cols);
  const int64_t plane = a.height * a.width;
  const int64_t rows_total = a.groups * a.channels * a.height;

  // Small calls stay on the calling thread (see combine_impl.h).
  const int64_t bytes = a.groups * (a.k + 1) * a.channels * plane * static_cast<int64_t>(sizeof(T));
  const int threads = bytes >= (int64_t(1) << 20) ? a.threads : 1;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < rows_total; ++item) {
    const int64_t oy = item % a.height;
    const int64_t c = (item / a.height) % a.channels;
    const int64_t g = item / (a.height * a.channels);
    T* dst = out + item * a.width;
    const int64_t y0 = ys.lo[oy], y1 = ys.hi[oy];
    for (int64_t ox = 0; ox < a.width; ++ox) {
      const int64_t s = ys.tile[oy] * a.grid_cols + xs.tile[ox];
      if (s >= a.k) {
        Element<T>::store(dst + ox, Acc(0));
        continue;
      }
      const T* image = a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                               : inputs + g * a.in_stride_g + s * a.in_stride_s;
      const T* channel = image + c * plane;
      const int64_t x0 = xs.lo[ox], x1 = xs.hi[ox];
      Acc sum = 0;
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t x = x0; x < x1; ++x) sum += Element<T>::load(channel + y * a.width + x);
      Element<T>::store(dst + ox, sum / static_cast<Acc>((y1 - y0) * (x1 - x0)));
    }
  }
}

}  // namespace

void concat_downsample(const ConcatArgs& a) {
  if (a.height < a.grid_rows || a.width < a.grid_cols)
    throw std::invalid_argument("concat_downsample: image smaller than the tile grid");
  if (a.index) check_index(a.index, a.groups * a.k, a.batch);
  switch (a.dtype) {
    case DType::Float32: return concat_typed<float>(a);
    case DType::Float64: return concat_typed<double>(a);
    case DType::Float16: return concat_typed<Half>(a);
    case DType::BFloat16: return concat_typed<BFloat16>(a);
  }
  throw std::invalid_argument("concat_downsample: unsupported dtype code");
}

}  // namespace parity_kernels
