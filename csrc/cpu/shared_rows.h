// Output rows that read the same sources, summed together (the x86 builds; included by
// combine_impl.h where PK_NATIVE_F16 is set, 16 lanes where PK_AVX512 is set too).
//
// The accumulator passes of combine_impl.h read every source (and convert it to float)
// once per output row and round-trip a float accumulator through L1 every four sources.
// Here each vector of columns of every source is loaded and converted once, held in
// registers, and every row of the block is summed from them and stored: dense codes
// (Berrut, Cauchy, decode's rebuilt rows) do a fraction of the loads and conversions.
// Measured against the passes in bench/NOTES.md ("Rows that share their sources").
#pragma once

#include <cstdint>
#include <type_traits>

#include <immintrin.h>

#include "elements.h"

namespace parity_kernels {

namespace {

#if defined(PK_AVX512)
constexpr int kLanes = 16;
// Sources held in registers at once (32 vector registers: the sources, one row's sum and
// its coefficient); rows with more sources go through the passes.
constexpr int kSharedSources = 16;
using Lanes = __m512;

template <typename T>
inline Lanes load_lanes(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_loadu_ps(p);
  } else if constexpr (std::is_same_v<T, Half>) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    static_assert(std::is_same_v<T, BFloat16>, "load_lanes: float, Half or BFloat16");
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  }
}

// v stored to p as T: float16 rounded by F16C, bfloat16 as float_to_bf16 rounds (nearest
// even, subnormals kept, NaN quiet). With AVX512_BF16 (PK_AVX512_BF16) bfloat16 is rounded
// by one conversion instruction, which gives the same bits for every float32 but the
// subnormals, which it flushes to zero (all 2^32 inputs compared on a Zen 4: bench/NOTES.md,
// "bfloat16 rounded by AVX512_BF16"); 16 sums holding one of those (AVX512DQ's fpclass)
// take the integer steps below. One thread in L2, Berrut(8, 10) encode of 16384 positions:
// 43 -> 35 us.
template <typename T>
inline void store_lanes(T* p, Lanes v) {
  if constexpr (std::is_same_v<T, float>) {
    _mm512_storeu_ps(p, v);
  } else if constexpr (std::is_same_v<T, Half>) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    static_assert(std::is_same_v<T, BFloat16>, "store_lanes: float, Half or BFloat16");
    const __m512i u = _mm512_castps_si512(v);
#if defined(PK_AVX512_BF16)
    if (_mm512_fpclass_ps_mask(v, 0x20) == 0) {  // no subnormal
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));
      return;
    }
#endif
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    const __m512i bits = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(bits));
  }
}

// v stored to p (aligned to 64 bytes) past the caches.
inline void stream_lanes(float* p, Lanes v) { _mm512_stream_ps(p, v); }

inline Lanes times(float c, Lanes x) { return _mm512_mul_ps(_mm512_set1_ps(c), x); }
inline Lanes times_plus(float c, Lanes x, Lanes sum) { return _mm512_fmadd_ps(_mm512_set1_ps(c), x, sum); }
#else
constexpr int kLanes = 8;
constexpr int kSharedSources = 8;  // 16 vector registers
using Lanes = __m256;

template <typename T>
inline Lanes load_lanes(const T* p) { return load8(p); }
template <typename T>
inline void store_lanes(T* p, Lanes v) { store8(p, v); }
inline void stream_lanes(float* p, Lanes v) { _mm256_stream_ps(p, v); }  // p aligned to 32 bytes
inline Lanes times(float c, Lanes x) { return _mm256_mul_ps(_mm256_set1_ps(c), x); }
inline Lanes times_plus(float c, Lanes x, Lanes sum) { return _mm256_fmadd_ps(_mm256_set1_ps(c), x, sum); }
#endif

// Rows summed in one block at most (a work item's rows beyond it form further blocks).
constexpr int kSharedRows = 16;
// How many rows from a block's first the kernel looks for the block's other rows: bounds
// the search (rows x kSharedScan x sources a work item) when many rows differ.
constexpr int64_t kSharedScan = 64;
// How far ahead of the loads each source is prefetched into L1: the hardware prefetchers
// alone left the sources' next lines late (bench/NOTES.md, "Rows that share their sources").
constexpr int kPrefetchBytes = 512;

#if !defined(PK_AVX512)
// Sources up to which the AVX2 build's bfloat16 rows step 16 columns at a time: two
// vectors a source, two for the sum, in 16 registers.
constexpr int kBf16PairSources = 4;
// Sources from which the AVX2 build's rows step 16 columns at a time in two halves of the
// sources (see shared_rows).
constexpr int kHalvedSources = 6;
#endif

// w[0] * x[0] + ... + w[K-1] * x[K-1], summed in the order of i (always inlined: the
// compiler keeps x in registers only so).
template <int K>
__attribute__((always_inline)) inline Lanes row_sum(const float* w, const Lanes* x) {
  Lanes sum = times(w[0], x[0]);
#pragma GCC unroll 16
  for (int i = 1; i < K; ++i) sum = times_plus(w[i], x[i], sum);
  return sum;
}

#if !defined(PK_AVX512)
// lo[i], hi[i] = columns [t, t + 8) and [t + 8, t + 16) of src[i] as floats, i < N (bfloat16:
// the 16 columns in load16_bf16's lane order), each source prefetched kPrefetchBytes ahead.
template <typename T, int N>
__attribute__((always_inline)) inline void load_pairs(const T* const* src, int64_t t, Lanes* lo, Lanes* hi) {
#pragma GCC unroll 16
  for (int i = 0; i < N; ++i) {
    if constexpr (std::is_same_v<T, BFloat16>) {  // one load, lanes in load16_bf16's order
      load16_bf16(src[i] + t, lo[i], hi[i]);
    } else {
      lo[i] = load_lanes(src[i] + t);
      hi[i] = load_lanes(src[i] + t + kLanes);
    }
    _mm_prefetch(reinterpret_cast<const char*>(src[i] + t) + kPrefetchBytes, _MM_HINT_T0);
  }
}

// s0 += w[i] * lo[i] and s1 += w[i] * hi[i] for i < N, in the order of i.
template <int N>
__attribute__((always_inline)) inline void add_pairs(const float* w, const Lanes* lo, const Lanes* hi, Lanes& s0,
                                                     Lanes& s1) {
#pragma GCC unroll 16
  for (int i = 0; i < N; ++i) {
    s0 = times_plus(w[i], lo[i], s0);
    s1 = times_plus(w[i], hi[i], s1);
  }
}

// s0 = sum of w[i] * lo[i] and s1 = sum of w[i] * hi[i] over i < N, in the order of i.
template <int N>
__attribute__((always_inline)) inline void sum_pairs(const float* w, const Lanes* lo, const Lanes* hi, Lanes& s0,
                                                     Lanes& s1) {
  s0 = times(w[0], lo[0]);
  s1 = times(w[0], hi[0]);
  add_pairs<N - 1>(w + 1, lo + 1, hi + 1, s0, s1);
}

// s0, s1 (load_pairs' order) stored to dst[0..16): streamed one after the other (a whole
// line), bfloat16 by one pack, else as two vectors.
template <typename T, bool Stream>
__attribute__((always_inline)) inline void store_pairs(T* dst, Lanes s0, Lanes s1) {
  if constexpr (Stream) {
    stream_lanes(dst, s0);
    stream_lanes(dst + kLanes, s1);
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    store16_bf16(dst, s0, s1);
  } else {
    store_lanes(dst, s0);
    store_lanes(dst + kLanes, s1);
  }
}
#endif

// Whether shared_rows handles elements of type T (float accumulates them all).
template <typename T>
constexpr bool kSharesRows = std::is_same_v<T, float> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// dst[j][t] = sum_{i < K} c[j * K + i] * src[i][t] for j < rows, t < len, summed in the
// order of i in float and rounded to T once. Stream (float only, every dst[j] aligned to a
// 64-byte line): the vector steps' stores bypass the caches.
template <typename T, int K, bool Stream = false>
void shared_rows(T* const* dst, const T* const* src, const float* c, int rows, int64_t len) {
  int64_t t = 0;
#if !defined(PK_AVX512)
  if constexpr ((std::is_same_v<T, BFloat16> && K <= kBf16PairSources) || (Stream && K < kHalvedSources)) {
    // 16 columns a step, two vectors a source in registers. bfloat16: each source widened
    // from one load by interleaving zeros, each row rounded back by one pack (load16_bf16 /
    // store16_bf16 keep the lanes' order between them), against two widenings and two
    // packs with a permute per 16 in 8-lane steps. Streamed: each row's 64-byte line stored
    // whole by two non-temporal stores one after the other (rows aligned to 64 bytes:
    // can_stream_rows), as the halves below store theirs. Stored 8 columns a step, every
    // row's line waits half written while the other rows are stored; past ~8 rows the
    // write-combining buffers flush lines half full (k = 8, r = 10 float32: 3.5x the time
    // of 16 columns a step).
    for (; t + 2 * kLanes <= len; t += 2 * kLanes) {
      Lanes lo[K], hi[K];
      load_pairs<T, K>(src, t, lo, hi);
      for (int j = 0; j < rows; ++j) {
        Lanes s0, s1;
        sum_pairs<K>(c + j * K, lo, hi, s0, s1);
        store_pairs<T, Stream>(dst[j] + t, s0, s1);
      }
    }
  }
  if constexpr (K >= kHalvedSources) {
    // 16 columns a step: the first half of the sources (two vectors each in registers)
    // summed into every row, those sums kept, then the second half added and the rows
    // stored. Each coefficient is broadcast once for 16 columns, not 8: k = 8, r = 10
    // loaded 98 values per 8 columns (8 sources, then per row 8 coefficients and the row's
    // pointer), now 63. One thread in L2: float16 83-104 -> 44-54 us, bfloat16 100-105 ->
    // 56, float32 63-79 -> 41-43 (rows 4 KB apart, as the 224 x 224 images' are); the
    // bench capped at AVX2: Berrut k = 8 encode float16 70 -> 88 % of a copy, bfloat16 57 ->
    // 73, decode bfloat16 63 -> 77.5 (bench/NOTES.md, "AVX2 build: rows of many sources in
    // two halves"). The sums add in the order of the sources, as below.
    constexpr int A = K / 2, B = K - A;
    for (; t + 2 * kLanes <= len; t += 2 * kLanes) {
      Lanes partial[kSharedRows][2];
      {
        Lanes lo[A], hi[A];
        load_pairs<T, A>(src, t, lo, hi);
        for (int j = 0; j < rows; ++j) sum_pairs<A>(c + j * K, lo, hi, partial[j][0], partial[j][1]);
      }
      Lanes lo[B], hi[B];
      load_pairs<T, B>(src + A, t, lo, hi);
      for (int j = 0; j < rows; ++j) {
        Lanes s0 = partial[j][0], s1 = partial[j][1];
        add_pairs<B>(c + j * K + A, lo, hi, s0, s1);
        store_pairs<T, Stream>(dst[j] + t, s0, s1);
      }
    }
  }
#endif
  for (; t + kLanes <= len; t += kLanes) {
    Lanes x[K];
#pragma GCC unroll 16
    for (int i = 0; i < K; ++i) {
      x[i] = load_lanes(src[i] + t);
      _mm_prefetch(reinterpret_cast<const char*>(src[i] + t) + kPrefetchBytes, _MM_HINT_T0);
    }
    for (int j = 0; j < rows; ++j) {
      const Lanes sum = row_sum<K>(c + j * K, x);
      if constexpr (Stream) {
        stream_lanes(dst[j] + t, sum);
      } else {
        store_lanes(dst[j] + t, sum);
      }
    }
  }
  for (; t < len; ++t) {
    float x[K];
    for (int i = 0; i < K; ++i) x[i] = Element<T>::load(src[i] + t);
    for (int j = 0; j < rows; ++j) {
      const float* w = c + j * K;
      float sum = w[0] * x[0];
      for (int i = 1; i < K; ++i) sum = __builtin_fmaf(w[i], x[i], sum);
      Element<T>::store(dst[j] + t, sum);
    }
  }
}

// Whether shared_rows may stream to these rows: float, each row aligned to a 64-byte line
// (a vector in the AVX-512 build; the AVX2 build stores a line in two).
template <typename T>
bool can_stream_rows(T* const* dst, int rows) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    for (int j = 0; j < rows; ++j)
      if (reinterpret_cast<uintptr_t>(dst[j]) % 64 != 0) return false;
    return true;
  }
}

// shared_rows for a count of sources known only at run time, 1 <= count <= kSharedSources.
template <typename T, bool Stream>
void shared_rows_k(int count, T* const* dst, const T* const* src, const float* c, int rows, int64_t len) {
  switch (count) {
#define PK_SHARED_CASE(K) \
  case K: return shared_rows<T, K, Stream>(dst, src, c, rows, len);
    PK_SHARED_CASE(1) PK_SHARED_CASE(2) PK_SHARED_CASE(3) PK_SHARED_CASE(4)
    PK_SHARED_CASE(5) PK_SHARED_CASE(6) PK_SHARED_CASE(7) PK_SHARED_CASE(8)
#if defined(PK_AVX512)
    PK_SHARED_CASE(9) PK_SHARED_CASE(10) PK_SHARED_CASE(11) PK_SHARED_CASE(12)
    PK_SHARED_CASE(13) PK_SHARED_CASE(14) PK_SHARED_CASE(15) PK_SHARED_CASE(16)
#endif
#undef PK_SHARED_CASE
    default: return;  // never: the caller gathers at most kSharedSources
  }
}

// shared_rows_k, streamed where `stream` and can_stream_rows.
template <typename T>
void shared_rows_n(int count, bool stream, T* const* dst, const T* const* src, const float* c, int rows,
                   int64_t len) {
  if constexpr (std::is_same_v<T, float>) {
    if (stream && can_stream_rows(dst, rows)) return shared_rows_k<T, true>(count, dst, src, c, rows, len);
  }
  shared_rows_k<T, false>(count, dst, src, c, rows, len);
}

}  // namespace

}  // namespace parity_kernels
