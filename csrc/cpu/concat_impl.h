// The concat_downsample kernel, included by one translation unit per instruction set
// (concat_generic.cpp, concat_avx2.cpp); everything has internal linkage.
#pragma once

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <type_traits>
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
// Windows of at most kMaxPicked columns are read as one element each of the window-sum
// rows (see tile_row): pick[o] = (width - 1) * stride + (lo[o] - lo[0]).
constexpr int64_t kMaxPicked = 4;
// Rows below the current window whose cache lines are prefetched (windowed path).
constexpr int64_t kPrefetchRows = 8;

// Parity columns [first, first + 8) of a tile whose windows are all `width` (3 or 4)
// wide and start 3 columns apart.
struct ThreeApartBlock {
  int64_t first;
  int64_t width;
};

template <typename Acc>
struct TileColumns {
  const int64_t* lo;
  const int64_t* hi;
  const Acc* inv_width;
  const int64_t* pick;
  int64_t count;
  bool pairs;
  int64_t max_width;  // widest window
  unsigned widths;    // bit w - 1 set where a window is w wide (w <= kMaxPicked)
  // AVX2 builds, tiles about a third of the image wide (ConcatCode k = 5..9): blocks of 8
  // windows 3 columns apart (see three_apart_tile), and the windows no block covers.
  const ThreeApartBlock* blocks;
  int64_t block_count;
  const int64_t* loose;
  int64_t loose_count;
};
constexpr unsigned kOnlyFour = 1u << 3, kOneOrTwo = 1u | 2u;

// The blocks of one tile's windows (columns lo, hi of count parity columns): every run of
// at least 8 windows of one width, 3 or 4, starting 3 columns apart, cut into blocks of 8
// (the last one of a run overlapping the one before where 8 does not divide the run);
// `loose` gets the windows outside any such run.
inline void plan_three_apart(const int64_t* lo, const int64_t* hi, int64_t count, std::vector<ThreeApartBlock>& blocks,
                             std::vector<int64_t>& loose) {
  int64_t o = 0;
  while (o < count) {
    const int64_t width = hi[o] - lo[o];
    int64_t end = o + 1;
    if (width == 3 || width == 4) {
      while (end < count && hi[end] - lo[end] == width && lo[end] - lo[end - 1] == 3) ++end;
    }
    if (end - o >= 8) {
      for (int64_t first = o; first < end; first += 8) blocks.push_back({std::min(first, end - 8), width});
    } else {
      for (int64_t i = o; i < end; ++i) loose.push_back(i);
    }
    o = end;
  }
}

#if defined(PK_NATIVE_F16)
// Types the AVX2 + F16C build reads 8 at a time with load8 (elements.h).
template <typename T>
constexpr bool kLoad8 = std::is_same_v<T, float> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// The 8 sums p[2i] + p[2i + 1], i < 8, in order: one horizontal add of two loads, lanes put back.
template <typename T>
inline __m256 pair_sums8(const T* p) {
  if constexpr (std::is_same_v<T, BFloat16>) {  // load16_bf16's order leaves the adds' lanes in order
    __m256 lo, hi;
    load16_bf16(p, lo, hi);
    return _mm256_hadd_ps(lo, hi);
  } else {
    const __m256 pairs = _mm256_hadd_ps(load8(p), load8(p + 8));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xd8));
  }
}

// dst[o] for windows o of 8 sums `sum` (rows summed): sum / rows * inv_width[o], stored as T.
template <typename T>
inline void store_pair_means8(T* dst, int64_t o, __m256 sum, __m256 inv_height8, const TileColumns<float>& cols) {
  store8(dst + o, _mm256_mul_ps(_mm256_mul_ps(sum, inv_height8), _mm256_loadu_ps(cols.inv_width + o)));
}

// The even-pair windows [from, cols.count) of pair_windows, one at a time (the vector
// steps' leftovers), in the vector steps' order of adds and scales.
template <typename T>
inline void pair_windows_one_by_one(T* __restrict dst, const T* __restrict first, int64_t width, int64_t rows,
                                    float inv_height, const TileColumns<float>& cols, int64_t from) {
  for (int64_t o = from; o < cols.count; ++o) {
    float sum = 0;
    for (int64_t y = 0; y < rows; ++y)
      sum += Element<T>::load(first + y * width + 2 * o) + Element<T>::load(first + y * width + 2 * o + 1);
    Element<T>::store(dst + o, sum * inv_height * cols.inv_width[o]);
  }
}

// Windows of even pairs over `rows` rows (`width` apart) from `first` (ConcatCode k = 2,
// 4 on even sizes): dst[o] = (sum over the rows of row[2o] + row[2o + 1]) / rows *
// inv_width[o], each 8 windows summed in registers, scaled and stored at once (the values
// the general path's accumulator pass gives). Windows taller than a row prefetch their
// columns kPrefetchRows rows below as they go: the work item reads 2 rows of 2 images side
// by side, streams the hardware prefetchers do not keep ahead of (k = 4, 16 groups, three
// A/B runs of 10-12 rounds on a Zen 3, medians: float32, then summed row by row into an
// accumulator, with the same prefetch 64.5-78.5 -> 83-88.5 % of a copy; here float16 and
// bfloat16 within noise, -6.5 to +9.5).
template <typename T, int64_t FixedRows = 0>
inline void pair_windows(T* __restrict dst, const T* __restrict first, int64_t width, int64_t rows_arg,
                         const TileColumns<float>& cols) {
  const int64_t rows = FixedRows ? FixedRows : rows_arg;
  const float inv_height = 1.0f / static_cast<float>(rows);
  const __m256 inv_height8 = _mm256_set1_ps(inv_height);
  int64_t o = 0;
  for (; o + 8 <= cols.count; o += 8) {
    if (rows > 1) {  // these 16 columns kPrefetchRows below (one row: a stream the hardware follows)
      for (int64_t y = 0; y < rows; ++y) __builtin_prefetch(first + (y + kPrefetchRows) * width + 2 * o);
    }
    __m256 sum = pair_sums8(first + 2 * o);
    for (int64_t y = 1; y < rows; ++y) sum = _mm256_add_ps(sum, pair_sums8(first + y * width + 2 * o));
    store_pair_means8(dst, o, sum, inv_height8, cols);
  }
  pair_windows_one_by_one(dst, first, width, rows, inv_height, cols, o);
}

// pair_windows' values with the rows read one after another, each from its first column
// to its last (one sequential stream per image across a work item's rows), the sums of
// the rows above the last kept in acc (count floats) and the last row's added, scaled and
// stored 8 windows at a time. rows >= 2.
template <typename T>
inline void pair_windows_by_rows(T* __restrict dst, float* __restrict acc, const T* __restrict first, int64_t width,
                                 int64_t rows, const TileColumns<float>& cols) {
  const int64_t vectors = cols.count / 8 * 8;
  for (int64_t y = 0; y + 1 < rows; ++y) {
    const T* __restrict row = first + y * width;
    for (int64_t o = 0; o < vectors; o += 8) {
      __builtin_prefetch(row + 2 * o + kPrefetchRows * width);
      const __m256 pairs = pair_sums8(row + 2 * o);
      _mm256_storeu_ps(acc + o, y == 0 ? pairs : _mm256_add_ps(_mm256_loadu_ps(acc + o), pairs));
    }
  }
  const T* __restrict last = first + (rows - 1) * width;
  const float inv_height = 1.0f / static_cast<float>(rows);
  const __m256 inv_height8 = _mm256_set1_ps(inv_height);
  for (int64_t o = 0; o < vectors; o += 8) {
    __builtin_prefetch(last + 2 * o + kPrefetchRows * width);
    store_pair_means8(dst, o, _mm256_add_ps(_mm256_loadu_ps(acc + o), pair_sums8(last + 2 * o)), inv_height8, cols);
  }
  pair_windows_one_by_one(dst, first, width, rows, inv_height, cols, vectors);
}

// Columns 0..23 of a row of column sums, in three vectors.
struct Columns24 {
  __m256 v0, v1, v2;
};

// The 8 window sums [3i, 3i + window), i < 8, window 3 or 4, from the column sums c of
// columns 0..23 and tail, those of columns 17..24 (window 4 only; its last lane is column
// 24): columns 3i, 3i + 1 and 3i + 2 de-interleaved in registers (two blends and one
// permute each; column 3i lies in lanes 0, 3, 6 of v0, 1, 4, 7 of v1, 2, 5 of v2), column
// 3i + 3 the first of them moved down a lane with column 24 last. Each window adds exactly
// its own columns.
inline __m256 three_apart_windows8(const Columns24& c, __m256 tail, int64_t window) {
  const __m256 first = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(c.v0, c.v1, 0x92), c.v2, 0x24),
                                                _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
  const __m256 second = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(c.v0, c.v1, 0x24), c.v2, 0x49),
                                                 _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6));
  const __m256 third = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(c.v0, c.v1, 0x49), c.v2, 0x92),
                                                _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
  if (window == 3) return _mm256_add_ps(_mm256_add_ps(first, second), third);
  const __m256 fourth =
      _mm256_blend_ps(_mm256_permutevar8x32_ps(first, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7)), tail, 0x80);
  return _mm256_add_ps(_mm256_add_ps(first, second), _mm256_add_ps(third, fourth));  // two adds deep
}

// Rows read ahead of the one being summed, in half precision (see three_apart_tile).
template <typename T>
constexpr int64_t kStreamPrefetchRows = std::is_same_v<T, float> ? 0 : 8;

// sums[x] (+)= row[x], x < span: one row of a window into its column sums, each element
// widened once; row + prefetch_stride (0: nothing) prefetched a line at a time.
template <typename T, bool Add>
inline void add_row(float* __restrict sums, const T* __restrict row, int64_t span, int64_t prefetch_stride) {
  auto add8 = [&](int64_t x) {
    const __m256 v = load8(row + x);
    _mm256_storeu_ps(sums + x, Add ? _mm256_add_ps(_mm256_loadu_ps(sums + x), v) : v);
  };
  constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));
  int64_t x = 0;
  for (; x + kLine <= span; x += kLine) {
    if (prefetch_stride != 0) __builtin_prefetch(row + prefetch_stride + x);
#pragma GCC unroll 4
    for (int64_t i = 0; i < kLine; i += 8) add8(x + i);
  }
  if (prefetch_stride != 0 && x < span) __builtin_prefetch(row + prefetch_stride + x);
  for (; x + 8 <= span; x += 8) add8(x);
  for (; x < span; ++x) sums[x] = Add ? sums[x] + Element<T>::load(row + x) : Element<T>::load(row + x);
}

// One parity row of a tile with three-apart blocks: dst[o] = (sums of the window's rows
// above its last (HasSums; none for a window one row tall) + its last row `last`) over
// columns [lo[o], hi[o]) x scale[o] (1 / (rows x width)), each block's 8 windows in
// registers, the loose ones one by one. With KeepLast, `kept` gets the last row widened
// (every column of the span: blocks and loose windows cover it), for the next window
// that starts on it.
template <typename T, bool HasSums, bool KeepLast>
inline void three_apart_windows(T* __restrict dst, const float* __restrict sums, const T* __restrict last,
                                float* __restrict kept, const float* __restrict scale, int64_t prefetch_stride,
                                const TileColumns<float>& cols) {
  const int64_t x0 = cols.lo[0];
  for (int64_t b = 0; b < cols.block_count; ++b) {
    const ThreeApartBlock block = cols.blocks[b];
    const int64_t x = cols.lo[block.first] - x0;
    if (prefetch_stride != 0) {  // 24 columns of half precision, 48 bytes: two lines at most
      static_assert(sizeof(T) == 2 || kStreamPrefetchRows<T> == 0, "prefetch of 24 columns: two lines");
      __builtin_prefetch(last + prefetch_stride + x);
      __builtin_prefetch(last + prefetch_stride + x + 23);
    }
    const Columns24 row{load8(last + x), load8(last + x + 8), load8(last + x + 16)};
    if constexpr (KeepLast) {
      _mm256_storeu_ps(kept + x, row.v0);
      _mm256_storeu_ps(kept + x + 8, row.v1);
      _mm256_storeu_ps(kept + x + 16, row.v2);
    }
    Columns24 c = row;
    if constexpr (HasSums) {
      c = {_mm256_add_ps(_mm256_loadu_ps(sums + x), row.v0), _mm256_add_ps(_mm256_loadu_ps(sums + x + 8), row.v1),
           _mm256_add_ps(_mm256_loadu_ps(sums + x + 16), row.v2)};
    }
    __m256 tail = _mm256_setzero_ps();
    if (block.width == 4) {  // columns 17..24, for column 24 (vector loads: no scalar path)
      const __m256 tail_row = load8(last + x + 17);
      if constexpr (KeepLast) _mm256_storeu_ps(kept + x + 17, tail_row);
      tail = HasSums ? _mm256_add_ps(_mm256_loadu_ps(sums + x + 17), tail_row) : tail_row;
    }
    const __m256 windows = three_apart_windows8(c, tail, block.width);
    store8(dst + block.first, _mm256_mul_ps(windows, _mm256_loadu_ps(scale + block.first)));
  }
  for (int64_t i = 0; i < cols.loose_count; ++i) {
    const int64_t o = cols.loose[i];
    float sum = 0;
    for (int64_t x = cols.lo[o] - x0; x < cols.hi[o] - x0; ++x) {
      const float element = Element<T>::load(last + x);
      if constexpr (KeepLast) kept[x] = element;
      sum += HasSums ? sums[x] + element : element;
    }
    Element<T>::store(dst + o, sum * scale[o]);
  }
}

// Parity rows [oy0, oy1) of one tile with three-apart blocks (dst: the first one's first
// window; rows out_width apart) from its image's channel, read once from top to bottom,
// a row at a time: each window's rows above its last are added into a float row of
// column sums (add_row); its last row is added where the windows are summed
// (three_apart_windows), and kept, widened, when the next window starts on it (windows
// ylo/yhi overlap by at most one row: ceil(x) - floor(x) <= 1). `scratch`: three rows of
// at least the tile's span: the window being summed, the next, and the windows' scales
// (1 / (rows x width), remade when the height changes).
//
// Against summing each block's columns down the window's rows (3-4 rows read side by
// side, the rows two windows share read twice): the reads are one stream in memory
// order, which the hardware prefetchers follow (16 x 8 x 3 x 224 x 224 float32, 2
// threads: 61-65 % -> 84-93 % of a copy). Half precision, where the arithmetic leaves
// the memory idle longer, also prefetches 8 rows ahead (72-79 % -> 81-87 %; float32 with
// it: 84-86 %). bench/NOTES.md, "ConcatCode k = 8 read as one stream".
template <typename T>
inline void three_apart_tile(T* __restrict dst, int64_t out_width, const T* __restrict channel, int64_t width,
                             int64_t height, const int64_t* ylo, const int64_t* yhi, int64_t oy0, int64_t oy1,
                             float* __restrict scratch, int64_t scratch_stride, const TileColumns<float>& cols) {
  const int64_t x0 = cols.lo[0], span = cols.hi[cols.count - 1] - x0;
  const T* image = channel + x0;
  auto ahead = [&](int64_t y) { return y + kStreamPrefetchRows<T> < height ? kStreamPrefetchRows<T> * width : 0; };
  float* scale = scratch + 2 * scratch_stride;
  int64_t scale_rows = 0;
  for (int64_t o = oy0; o < oy1; ++o) {
    if (yhi[o] - ylo[o] != scale_rows) {
      scale_rows = yhi[o] - ylo[o];
      const float inv_height = 1.0f / static_cast<float>(scale_rows);
      for (int64_t i = 0; i < cols.count; ++i) scale[i] = inv_height * cols.inv_width[i];
    }
    float* sums = scratch + (o & 1) * scratch_stride;  // holds the shared first row, if any
    float* next = scratch + ((o + 1) & 1) * scratch_stride;
    const bool first_kept = o > oy0 && ylo[o] < yhi[o - 1];
    const bool last_shared = o + 1 < oy1 && ylo[o + 1] < yhi[o];
    const int64_t last = yhi[o] - 1;
    int64_t y = first_kept ? ylo[o] + 1 : ylo[o];
    bool has_sums = first_kept;
    for (; y < last; ++y, has_sums = true) {
      if (has_sums) {
        add_row<T, true>(sums, image + y * width, span, ahead(y));
      } else {
        add_row<T, false>(sums, image + y * width, span, ahead(y));
      }
    }
    T* row_dst = dst + (o - oy0) * out_width;
    const T* last_row = image + last * width;
    const int64_t stride = ahead(last);
    if (has_sums) {
      if (last_shared) {
        three_apart_windows<T, true, true>(row_dst, sums, last_row, next, scale, stride, cols);
      } else {
        three_apart_windows<T, true, false>(row_dst, sums, last_row, next, scale, stride, cols);
      }
    } else if (last_shared) {
      three_apart_windows<T, false, true>(row_dst, sums, last_row, next, scale, stride, cols);
    } else {
      three_apart_windows<T, false, false>(row_dst, sums, last_row, next, scale, stride, cols);
    }
  }
}
#endif

// colsum[x] = sum of rows [y0, y1) at column x, for x in [0, span): one pass, the rows
// added in registers (heights of 2 to 4 rows are the usual bins), every element read once.
template <typename T>
inline void column_sums(typename Element<T>::Acc* __restrict colsum, const T* __restrict first, int64_t width,
                        int64_t rows, int64_t span) {
  using Acc = typename Element<T>::Acc;
#if defined(PK_NATIVE_F16)
  if constexpr (std::is_same_v<T, Half>) {  // explicit: the loops below stay scalar for it (GCC 12)
    int64_t x = 0;
    for (; x + 8 <= span; x += 8) {
      __m256 v = load8(first + x);
      for (int64_t y = 1; y < rows; ++y) v = _mm256_add_ps(v, load8(first + y * width + x));
      _mm256_storeu_ps(colsum + x, v);
    }
    for (; x < span; ++x) {
      Acc v = Element<T>::load(first + x);
      for (int64_t y = 1; y < rows; ++y) v += Element<T>::load(first + y * width + x);
      colsum[x] = v;
    }
    return;
  }
#endif
  const T* __restrict r0 = first;
  const T* __restrict r1 = first + width;
  const T* __restrict r2 = first + 2 * width;
  const T* __restrict r3 = first + 3 * width;
  switch (rows) {
    case 2:
      for (int64_t x = 0; x < span; ++x) colsum[x] = Element<T>::load(r0 + x) + Element<T>::load(r1 + x);
      return;
    case 3:
      for (int64_t x = 0; x < span; ++x)
        colsum[x] = Element<T>::load(r0 + x) + Element<T>::load(r1 + x) + Element<T>::load(r2 + x);
      return;
    case 4:
      for (int64_t x = 0; x < span; ++x)
        colsum[x] = (Element<T>::load(r0 + x) + Element<T>::load(r1 + x)) +
                    (Element<T>::load(r2 + x) + Element<T>::load(r3 + x));
      return;
    default:
      std::fill(colsum, colsum + span, Acc(0));
      for (int64_t y = 0; y < rows; ++y) {
        const T* __restrict row = first + y * width;
        for (int64_t x = 0; x < span; ++x) colsum[x] += Element<T>::load(row + x);
      }
  }
}

// dst[o] = mean of channel rows [y0, y1) x the tile's column windows. Even pairs: 8
// windows at a time in registers (pair_windows, pair_windows_by_rows; the generic build:
// summed row by row into acc). (Tiles with windows 3 columns apart in runs
// of 8 or more do not come here in the AVX2 builds: three_apart_tile.) Other windows (and
// the generic build): first the column sums over the columns the windows span
// (``column_sums``), then the sums of every run of 2, 3 or 4 of those that the tile's
// window widths need (contiguous adds that vectorise), laid out as rows of ``stride`` in
// ``sums``; each window is then one read, ``sums[pick[o]]``. Every window sum adds exactly
// its own elements (a NaN stays in the windows that cover it).
template <typename T>
inline void tile_row(T* __restrict dst, typename Element<T>::Acc* __restrict acc,
                     typename Element<T>::Acc* __restrict sums, int64_t stride, const T* __restrict channel,
                     int64_t width, int64_t height, int64_t y0, int64_t y1,
                     const TileColumns<typename Element<T>::Acc>& cols) {
  using Acc = typename Element<T>::Acc;
  const int64_t count = cols.count;
  if (cols.pairs) {
#if defined(PK_NATIVE_F16)
    // float32 windows taller than a row: their rows one after another (from memory the
    // interleaved reads of pair_windows lose to one stream; in cache the two paths tie);
    // half precision, whose conversions make it compute-bound: pair_windows, unrolled for
    // the usual 1 or 2 rows. bench/NOTES.md, "ConcatCode k = 2, 4: pair windows by rows"
    if constexpr (kLoad8<T>) {
      const T* first = channel + y0 * width + cols.lo[0];
      if (std::is_same_v<T, float> && y1 - y0 > 1)
        pair_windows_by_rows<T>(dst, acc, first, width, y1 - y0, cols);
      else if (y1 - y0 == 2)  // every window of k = 4 on even sizes
        pair_windows<T, 2>(dst, first, width, 2, cols);
      else if (y1 - y0 == 1)  // every window of k = 2
        pair_windows<T, 1>(dst, first, width, 1, cols);
      else
        pair_windows<T>(dst, first, width, y1 - y0, cols);
      return;
    }
#endif
    std::fill(acc, acc + count, Acc(0));
    for (int64_t y = y0; y < y1; ++y) {
      const T* __restrict base = channel + y * width + cols.lo[0];
      for (int64_t o = 0; o < count; ++o)
        acc[o] += Element<T>::load(base + 2 * o) + Element<T>::load(base + 2 * o + 1);
    }
  } else {
    const int64_t x0 = cols.lo[0], span = cols.hi[count - 1] - x0;
    {  // the rows a couple of windows below, on their way while this one is summed
      const int64_t ahead = std::min(y1 + kPrefetchRows, height);
      const char* from = reinterpret_cast<const char*>(channel + std::min(y0 + kPrefetchRows, ahead) * width + x0);
      const char* to = reinterpret_cast<const char*>(channel + ahead * width);
      for (; from < to; from += 64) __builtin_prefetch(from);
    }
    // row 0 of sums: single columns (what lies past the span only enters sums never picked)
    Acc* __restrict colsum = sums;
    column_sums<T>(colsum, channel + y0 * width + x0, width, y1 - y0, span);
    if (cols.max_width <= kMaxPicked) {
      Acc* __restrict two = sums + stride;
      Acc* __restrict three = sums + 2 * stride;
      Acc* __restrict four = sums + 3 * stride;
      if (cols.widths == kOnlyFour) {  // k = 9 on 224 px: 74-column tiles, all windows 4 wide
        for (int64_t x = 0; x < span; ++x) four[x] = (colsum[x] + colsum[x + 1]) + (colsum[x + 2] + colsum[x + 3]);
      } else if ((cols.widths & kOneOrTwo) == 0) {  // 3 and 4 wide (75-column tiles)
        for (int64_t x = 0; x < span; ++x) {
          const Acc s3 = colsum[x] + colsum[x + 1] + colsum[x + 2];
          three[x] = s3;
          four[x] = s3 + colsum[x + 3];
        }
      } else {
        for (int64_t x = 0; x < span; ++x) {
          const Acc s2 = colsum[x] + colsum[x + 1];
          const Acc s3 = s2 + colsum[x + 2];
          two[x] = s2;
          three[x] = s3;
          four[x] = s3 + colsum[x + 3];
        }
      }
      const int64_t* __restrict pick = cols.pick;
      for (int64_t o = 0; o < count; ++o) acc[o] = sums[pick[o]];  // each window one read
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
  for (int64_t o = 0; o < count; ++o) acc[o] = acc[o] * inv_height * inv_width[o];
  store_row<T>(dst, acc, count);
}

template <typename T>
void concat_typed(const ConcatArgs& a) {
  using Acc = typename Element<T>::Acc;
  T* out = static_cast<T*>(a.out);
  const AxisMap ys(a.height, a.grid_rows), xs(a.width, a.grid_cols);
  std::vector<Acc> inv_width(a.width);
  for (int64_t x = 0; x < a.width; ++x) inv_width[x] = Acc(1) / static_cast<Acc>(xs.hi[x] - xs.lo[x]);
  const int64_t stride = a.width + kMaxPicked;  // a row of window sums, padded for the widest run
  std::vector<int64_t> pick(a.width);
  std::vector<TileColumns<Acc>> tiles(a.grid_cols);
  std::vector<std::vector<ThreeApartBlock>> blocks(a.grid_cols);
  std::vector<std::vector<int64_t>> loose(a.grid_cols);
  for (int64_t u = 0; u < a.grid_cols; ++u) {
    const int64_t begin = u * a.width / a.grid_cols, count = (u + 1) * a.width / a.grid_cols - begin;
    bool pairs = true;
    int64_t max_width = 0;
    unsigned widths = 0;
    for (int64_t o = 0; o < count; ++o) {
      const int64_t w = xs.hi[begin + o] - xs.lo[begin + o];
      pairs = pairs && w == 2 && xs.lo[begin + o] == xs.lo[begin] + 2 * o;
      max_width = std::max(max_width, w);
      if (w <= kMaxPicked) widths |= 1u << (w - 1);
      pick[begin + o] = (w - 1) * stride + (xs.lo[begin + o] - xs.lo[begin]);
    }
#if defined(PK_NATIVE_F16)
    if constexpr (kLoad8<T>) {
      if (!pairs) plan_three_apart(xs.lo.data() + begin, xs.hi.data() + begin, count, blocks[u], loose[u]);
    }
#endif
    tiles[u] = {xs.lo.data() + begin, xs.hi.data() + begin, inv_width.data() + begin, pick.data() + begin,
                count, pairs, max_width, widths, blocks[u].data(), static_cast<int64_t>(blocks[u].size()),
                loose[u].data(), static_cast<int64_t>(loose[u].size())};
  }
  const int64_t plane = a.height * a.width;
  bool all_pairs = true;
  for (const auto& t : tiles) all_pairs = all_pairs && t.pairs;
  // Work items. Even pairs (k = 2, 4 on even sizes): one parity row of one channel, its
  // tiles' images read row by row side by side (several streams keep more reads in
  // flight). Other windows: one tile of one channel, its image read top to bottom: a row
  // at a time where the AVX2 builds sum three-apart blocks (three_apart_tile), else the
  // window's rows side by side with software prefetch a few rows ahead (their window
  // arithmetic leaves the hardware prefetchers behind otherwise).
  const int64_t tiles_per_image = a.grid_rows * a.grid_cols;
  const int64_t per_channel = all_pairs ? a.height : tiles_per_image;
  const int64_t items = a.groups * a.channels * per_channel;

  // Small calls stay on the calling thread (see combine_impl.h), elements counting at least
  // 4 bytes each: the window arithmetic costs the same per element in float16/bfloat16 as
  // in float32, so 0.5-1 MB of them has a 1 MB float32 call's work (one group of
  // 2 x 3 x 224 x 224 float16: 49-53 -> 41.5 us in bench/harness/kernel_ratio, 2 threads).
  const int64_t elements = a.groups * (a.k + 1) * a.channels * plane;
  const int threads = elements * std::max<int64_t>(sizeof(T), 4) >= (int64_t(1) << 20) ? a.threads : 1;
#pragma omp parallel num_threads(threads)
  {
    // window sums: rows of single columns and runs of 2, 3, 4 (zero padding past the span);
    // three_apart_tile's two rows of column sums
    std::vector<Acc> acc(a.width), sums(kMaxPicked * stride, Acc(0));
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t part = item % per_channel;
      const int64_t c = (item / per_channel) % a.channels;
      const int64_t g = item / (per_channel * a.channels);
      T* plane_dst = out + (g * a.channels + c) * plane;
      // rows [oy0, oy1) of tiles [u0, u1)
      int64_t oy0, oy1, u0, u1;
      if (all_pairs) {
        oy0 = part, oy1 = part + 1, u0 = 0, u1 = a.grid_cols;
      } else {
        const int64_t band = part / a.grid_cols;
        oy0 = band * a.height / a.grid_rows, oy1 = (band + 1) * a.height / a.grid_rows;
        u0 = part % a.grid_cols, u1 = u0 + 1;
      }
#if defined(PK_NATIVE_F16)
      if constexpr (kLoad8<T>) {
        const TileColumns<Acc>& cols = tiles[u0];
        const int64_t s = ys.tile[oy0] * a.grid_cols + u0;
        if (!all_pairs && cols.block_count > 0 && s < a.k) {  // the tile's image read once, top to bottom
          three_apart_tile<T>(plane_dst + oy0 * a.width + (cols.lo - xs.lo.data()), a.width, group_input<T>(a, g, s) + c * plane,
                              a.width, a.height, ys.lo.data(), ys.hi.data(), oy0, oy1, sums.data(), stride, cols);
          continue;
        }
      }
#endif
      for (int64_t oy = oy0; oy < oy1; ++oy) {
        for (int64_t u = u0; u < u1; ++u) {
          const TileColumns<Acc>& cols = tiles[u];
          T* tile_dst = plane_dst + oy * a.width + (cols.lo - xs.lo.data());
          const int64_t s = ys.tile[oy] * a.grid_cols + u;
          if (s >= a.k) {  // the grid's spare tiles stay black (zero bits in every dtype)
            std::memset(tile_dst, 0, cols.count * sizeof(T));
            continue;
          }
          tile_row<T>(tile_dst, acc.data(), sums.data(), stride, group_input<T>(a, g, s) + c * plane, a.width, a.height,
                      ys.lo[oy], ys.hi[oy], cols);
        }
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
