// The combine kernel, included by one translation unit per instruction set (see
// combine_generic.cpp, combine_avx2.cpp, combine_avx512.cpp); everything has internal
// linkage. The x86 builds sum rows that share their sources together (shared_rows.h);
// the accumulator passes below take every other row, and every row of the generic build.
#pragma once

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(PK_NATIVE_F16)
#include <immintrin.h>
#endif

#include "elements.h"
#include "kernels.h"
#if defined(PK_NATIVE_F16)
#include "shared_rows.h"
#endif

namespace parity_kernels {

namespace {

constexpr int64_t kChunk = 1024;  // elements per work item: accumulator stays in L1
constexpr int kMaxSources = 16;   // active sources gathered before a round of passes
// Outputs at least this large bypass the caches (non-temporal stores): they would not
// stay cached anyway, and normal stores would first read every output line from memory.
// Not float16/bfloat16 rows that are summed: they cost more arithmetic per byte, and
// there the core waiting on each burst of non-temporal stores cost more than the reads
// it saved (bench/harness/kernel_ratio, bench/NOTES.md); their copied rows still stream. float32
// rows summed together stream when every row of the block starts on a 64-byte line.
constexpr int64_t kStreamBytes = 8 << 20;
// Calls moving fewer bytes than this run on one thread.
constexpr int64_t kParallelBytes = 1 << 20;

// Copy from an L1-resident buffer to dst with non-temporal 16-byte stores where aligned.
inline void stream_bytes(char* dst, const char* src, size_t bytes) {
#if defined(__SSE2__)
  size_t head = (16 - (reinterpret_cast<uintptr_t>(dst) & 15u)) & 15u;
  head = std::min(head, bytes);
  std::memcpy(dst, src, head);
  size_t i = head;
  for (; i + 16 <= bytes; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
  std::memcpy(dst + i, src + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

#if defined(PK_NATIVE_F16)
// float16 / bfloat16 pass, 8 lanes at a time with explicit conversions (load8, store8:
// the compiler leaves _Float16 conversions scalar and vectorises bfloat16 rounding
// poorly), bfloat16 16 at a time first (load16_bf16, store16_bf16); same contract as
// pass() below, except that bfloat16's acc holds each 16 in load16_bf16's lane order
// (store_acc reads it back).
template <typename T, int M, bool First, bool Final>
inline void pass_vec(T* __restrict dst, float* __restrict acc, const T* const* p, const float* c, int64_t len) {
  int64_t t = 0;
  if constexpr (std::is_same_v<T, BFloat16>) {  // 16 at a time; acc holds them in load16_bf16's order
    for (; t + 16 <= len; t += 16) {
      __m256 lo = First ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + t);
      __m256 hi = First ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + t + 8);
      for (int m = 0; m < M; ++m) {
        __m256 x_lo, x_hi;
        load16_bf16(p[m] + t, x_lo, x_hi);
        const __m256 w = _mm256_set1_ps(c[m]);
        lo = _mm256_fmadd_ps(w, x_lo, lo);
        hi = _mm256_fmadd_ps(w, x_hi, hi);
      }
      if (Final) {
        store16_bf16(dst + t, lo, hi);
      } else {
        _mm256_storeu_ps(acc + t, lo);
        _mm256_storeu_ps(acc + t + 8, hi);
      }
    }
  }
  for (; t + 8 <= len; t += 8) {
    __m256 v = First ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + t);
    for (int m = 0; m < M; ++m) v = _mm256_fmadd_ps(_mm256_set1_ps(c[m]), load8(p[m] + t), v);
    if (Final) {
      store8(dst + t, v);
    } else {
      _mm256_storeu_ps(acc + t, v);
    }
  }
  for (; t < len; ++t) {
    float v = First ? 0.0f : acc[t];
    for (int m = 0; m < M; ++m) v += c[m] * Element<T>::load(p[m] + t);
    if (Final) {
      Element<T>::store(dst + t, v);
    } else {
      acc[t] = v;
    }
  }
}
#endif

// One pass over a chunk with M sources: v = (First ? 0 : acc[t]) + sum_{m < M} c[m] * p[m][t],
// kept in acc, or, on the final pass, rounded and stored to dst.
template <typename T, int M, bool First, bool Final>
inline void pass(T* __restrict dst, typename Element<T>::Acc* __restrict acc, const T* const* p,
                 const typename Element<T>::Acc* c, int64_t len) {
  using Acc = typename Element<T>::Acc;
#if defined(PK_NATIVE_F16)
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    pass_vec<T, M, First, Final>(dst, acc, p, c, len);
    return;
  }
#endif
  const T* __restrict p0 = p[0];
  const T* __restrict p1 = p[M > 1 ? 1 : 0];
  const T* __restrict p2 = p[M > 2 ? 2 : 0];
  const T* __restrict p3 = p[M > 3 ? 3 : 0];
  for (int64_t t = 0; t < len; ++t) {
    Acc v = First ? Acc(0) : acc[t];
    v += c[0] * Element<T>::load(p0 + t);
    if (M > 1) v += c[1] * Element<T>::load(p1 + t);
    if (M > 2) v += c[2] * Element<T>::load(p2 + t);
    if (M > 3) v += c[3] * Element<T>::load(p3 + t);
    if (Final) {
      Element<T>::store(dst + t, v);
    } else {
      acc[t] = v;
    }
  }
}

template <typename T, bool First, bool Final>
inline void pass_n(int n, T* dst, typename Element<T>::Acc* acc, const T* const* p,
                   const typename Element<T>::Acc* c, int64_t len) {
  switch (n) {
    case 1: return pass<T, 1, First, Final>(dst, acc, p, c, len);
    case 2: return pass<T, 2, First, Final>(dst, acc, p, c, len);
    case 3: return pass<T, 3, First, Final>(dst, acc, p, c, len);
    default: return pass<T, 4, First, Final>(dst, acc, p, c, len);
  }
}

// dst[t] = acc[t] rounded to T, t < len: the accumulator as the passes left it.
template <typename T>
inline void store_acc(T* dst, typename Element<T>::Acc* acc, int64_t len) {
#if defined(PK_NATIVE_F16)
  if constexpr (std::is_same_v<T, BFloat16>) {  // the pass's own layout (load16_bf16's order)
    pass_vec<T, 0, false, true>(dst, acc, nullptr, nullptr, len);
    return;
  }
#endif
  for (int64_t t = 0; t < len; ++t) Element<T>::store(dst + t, acc[t]);
}

// Sum the active sources over a chunk in passes of up to four; the last pass (when
// `final`) writes the rounded result to dst instead of the accumulator.
template <typename T>
inline void run_passes(const T* const* active, const typename Element<T>::Acc* weight, int count,
                       bool& first, bool final, T* dst, typename Element<T>::Acc* acc, int64_t len) {
  for (int m = 0; m < count; m += 4) {
    const int n = std::min(count - m, 4);
    const bool last = final && m + n == count;
    if (first) {
      last ? pass_n<T, true, true>(n, dst, acc, active + m, weight + m, len)
           : pass_n<T, true, false>(n, dst, acc, active + m, weight + m, len);
    } else {
      last ? pass_n<T, false, true>(n, dst, acc, active + m, weight + m, len)
           : pass_n<T, false, false>(n, dst, acc, active + m, weight + m, len);
    }
    first = false;
  }
}

template <typename T>
void combine_typed(const CombineArgs& a) {
  using Acc = typename Element<T>::Acc;
  const T* extra = static_cast<const T*>(a.extra);
  const Acc* coeffs = static_cast<const Acc*>(a.coeffs);
  T* out = static_cast<T*>(a.out);
  const int64_t num_sources = a.k + a.k_extra;
  const int64_t chunks = (a.numel + kChunk - 1) / kChunk;
  const int64_t items = a.groups * chunks;
  const bool streaming = a.groups * a.r * a.numel * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
  const bool stream_sums = streaming && sizeof(T) >= 4;  // see kStreamBytes

  // Small calls stay on the calling thread: waking a thread pool (possibly while torch's
  // own OpenMP runtime spins on the same cores) costs far more than the work; they skip
  // the OpenMP runtime altogether (a one-thread parallel region still costs ~0.5 us).
  // Elements count at least 4 bytes each: float16/bfloat16 work (conversions, rounding) is
  // a float32 call's, so 0.5-1 MB of them has a 1 MB float32 call's work (16 x 4 x 4096
  // float16, r = 2: 33-34 -> 19 us on two threads, bench/harness/kernel_ratio).
  const int64_t elements = a.groups * (num_sources + a.r) * a.numel;
  const int threads = elements * std::max<int64_t>(sizeof(T), 4) >= kParallelBytes ? a.threads : 1;
  // Work items [first, last), each a chunk of one group's rows.
  auto run = [&](int64_t first, int64_t last) {
    Acc acc[kChunk];
    T staged[kChunk];
#if defined(PK_NATIVE_F16)
    std::vector<char> in_block(kSharesRows<T> ? a.r : 0);  // rows this item already summed in a block
#endif
    for (int64_t item = first; item < last; ++item) {
      const int64_t g = item / chunks;
      const int64_t begin = (item % chunks) * kChunk;
      const int64_t len = std::min(kChunk, a.numel - begin);
      const Acc* group_coeffs = coeffs + g * a.coeff_stride_g;
      if (a.mask) {  // decode by pattern: this group's entry of the table
        const uint8_t* available = a.mask + g * num_sources;
        int64_t pattern = 0;
        for (int64_t s = 0; s < num_sources; ++s) pattern |= static_cast<int64_t>(available[s] != 0) << s;
        group_coeffs = coeffs + pattern * a.r * num_sources;
        if (begin == 0) a.ok_out[g] = a.ok_table[pattern];
      }
      // Row s of this group's sources, from column `begin`.
      auto source = [&](int64_t s) -> const T* {
        const T* src = s < a.k ? group_input<T>(a, g, s) : extra + g * a.ex_stride_g + (s - a.k) * a.ex_stride_s;
        return src + begin;
      };
#if defined(PK_NATIVE_F16)
      if constexpr (kSharesRows<T>) std::fill(in_block.begin(), in_block.end(), 0);
#endif
      for (int64_t j = 0; j < a.r; ++j) {
        const Acc* row = group_coeffs + j * num_sources;
#if defined(PK_NATIVE_F16)
        if constexpr (kSharesRows<T>) {
          if (in_block[j]) continue;
          // Rows j.. (within kSharedScan rows) with exactly row j's non-zero sources (at
          // most kSharedSources of them; not a plain copy), summed together.
          int support[kSharedSources];
          int count = 0;
          for (int64_t s = 0; s < num_sources && count <= kSharedSources; ++s) {
            if (row[s] == Acc(0)) continue;
            if (count < kSharedSources) support[count] = static_cast<int>(s);
            ++count;
          }
          const bool plain_copy = count == 1 && row[support[0]] == Acc(1);
          if (count >= 1 && count <= kSharedSources && !plain_copy) {
            T* dst[kSharedRows];
            float weight[kSharedRows * kSharedSources];
            const T* src[kSharedSources];
            int rows = 0;
            const int64_t scan_end = std::min(a.r, j + kSharedScan);
            for (int64_t other = j; other < scan_end && rows < kSharedRows; ++other) {
              const Acc* row2 = group_coeffs + other * num_sources;
              if (other > j) {
                if (in_block[other]) continue;
                int m = 0;
                bool same = true;
                for (int64_t s = 0; s < num_sources && same; ++s) {
                  if (row2[s] == Acc(0)) continue;
                  same = m < count && support[m] == s;
                  ++m;
                }
                if (!same || m != count) continue;
              }
              in_block[other] = 1;
              dst[rows] = out + (g * a.r + other) * a.numel + begin;
              for (int i = 0; i < count; ++i) weight[rows * count + i] = row2[support[i]];
              ++rows;
            }
            for (int i = 0; i < count; ++i) src[i] = source(support[i]);
            shared_rows_n<T>(count, stream_sums, dst, src, weight, rows, len);
            continue;
          }
        }
#endif
        // The sources with a non-zero coefficient, summed up to four per pass.
        const T* active[kMaxSources];
        Acc weight[kMaxSources];
        int count = 0;
        bool first = true;
        T* dst = out + (g * a.r + j) * a.numel + begin;
        T* target = stream_sums ? staged : dst;  // streamed rows are staged in L1 first
        for (int64_t s = 0; s < num_sources; ++s) {
          const Acc c = row[s];
          if (c == Acc(0)) continue;  // never read a source whose coefficient is zero
          active[count] = source(s);
          weight[count] = c;
          if (++count == kMaxSources) {
            run_passes<T>(active, weight, count, first, false, target, acc, len);
            count = 0;
          }
        }
        if (count == 1 && first && weight[0] == Acc(1)) {  // a plain copy (decode's available rows)
          if (streaming) {
            stream_bytes(reinterpret_cast<char*>(dst), reinterpret_cast<const char*>(active[0]), len * sizeof(T));
          } else {
            std::memcpy(dst, active[0], len * sizeof(T));
          }
          continue;
        }
        if (count > 0) {
          run_passes<T>(active, weight, count, first, true, target, acc, len);
        } else if (first) {  // no source at all
          for (int64_t t = 0; t < len; ++t) Element<T>::store(target + t, Acc(0));
        } else {  // after a full round
          store_acc<T>(target, acc, len);
        }
        if (stream_sums)
          stream_bytes(reinterpret_cast<char*>(dst), reinterpret_cast<const char*>(staged), len * sizeof(T));
      }
    }
    if (streaming) stream_fence();
  };
#if defined(_OPENMP)
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t team = omp_get_num_threads(), me = omp_get_thread_num();
      run(items * me / team, items * (me + 1) / team);  // a static split, as schedule(static)
    }
    return;
  }
#endif
  run(0, items);
}

// The kernel for a's dtype.
inline void combine_by_dtype(const CombineArgs& a) {
  by_dtype(a.dtype, "combine", [&](auto tag) { combine_typed<typename decltype(tag)::type>(a); });
}

}  // namespace

}  // namespace parity_kernels
