// Element types of the CPU kernels: loads to the accumulator type, rounding stores.
// float16 and bfloat16 are carried as uint16_t bit patterns; conversions are bit
// manipulation (round to nearest even), or, where the translation unit is built for
// F16C (PK_NATIVE_F16), the compiler's _Float16 conversions. Those stay scalar in loops
// (GCC 12), and bfloat16 rounding vectorises poorly: the hot loops of that build use the
// vector helpers below (load8, store8, store_row; load16_bf16, store16_bf16).
//
// Everything here has internal linkage, so translation units built for different
// instruction sets (combine_generic.cpp, combine_avx2.cpp) each get their own copy.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels.h"

#if defined(PK_NATIVE_F16)
#include <immintrin.h>
#endif

namespace parity_kernels {
namespace {

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

inline uint32_t float_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t magnitude = h & 0x7fffu;
  // Exponent and mantissa moved to float positions, rebiased by 2^112: exact for
  // normals and subnormals alike.
  uint32_t out = float_bits(bits_float(magnitude << 13) * 0x1p112f);
  out |= (magnitude >= 0x7c00u) ? 0x7f800000u : 0u;  // inf / NaN keep their payload
  return bits_float(out | sign);
}

inline uint16_t float_to_half(float value) {
  uint32_t f = float_bits(value);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  uint16_t out;
  if (f >= (143u << 23)) {                 // >= 65536: overflow, inf or NaN
    out = (f > (255u << 23)) ? 0x7e00u : 0x7c00u;
  } else if (f < (113u << 23)) {           // subnormal half or zero: let the FPU round
    const uint32_t magic = 126u << 23;     // 0.5: aligns the subnormal lsb with float's
    out = static_cast<uint16_t>(float_bits(bits_float(f) + bits_float(magic)) - magic);
  } else {                                 // normal: rebias, round to nearest even
    const uint32_t odd = (f >> 13) & 1u;
    f += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + odd;
    out = static_cast<uint16_t>(f >> 13);  // a carry into the exponent gives inf correctly
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

inline float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

inline uint16_t float_to_bf16(float value) {
  uint32_t u = float_bits(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Traits: storage type -> accumulator type, load, store.
template <typename T> struct Element;

template <> struct Element<float> {
  using Acc = float;
  static inline Acc load(const float* p) { return *p; }
  static inline void store(float* p, Acc v) { *p = v; }
};
template <> struct Element<double> {
  using Acc = double;
  static inline Acc load(const double* p) { return *p; }
  static inline void store(double* p, Acc v) { *p = v; }
};
#if defined(PK_NATIVE_F16)
template <> struct Element<Half> {
  using Acc = float;
  static inline Acc load(const Half* p) { _Float16 h; std::memcpy(&h, p, 2); return static_cast<float>(h); }
  static inline void store(Half* p, Acc v) { const _Float16 h = static_cast<_Float16>(v); std::memcpy(p, &h, 2); }
};
#else
template <> struct Element<Half> {
  using Acc = float;
  static inline Acc load(const Half* p) { return half_to_float(p->bits); }
  static inline void store(Half* p, Acc v) { p->bits = float_to_half(v); }
};
#endif
template <> struct Element<BFloat16> {
  using Acc = float;
  static inline Acc load(const BFloat16* p) { return bf16_to_float(p->bits); }
  static inline void store(BFloat16* p, Acc v) { p->bits = float_to_bf16(v); }
};

#if defined(PK_NATIVE_F16)
// 8 values at p as floats (the AVX2 + F16C builds; T: float, Half, BFloat16).
template <typename T>
inline __m256 load8(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm256_loadu_ps(p);
  } else if constexpr (std::is_same_v<T, Half>) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    static_assert(std::is_same_v<T, BFloat16>, "load8: float, Half or BFloat16");
    const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  }
}

// v rounded to bfloat16 as float_to_bf16 does (nearest even; NaN stays NaN, quiet): each
// result in the low 16 bits of its 32-bit lane.
inline __m256i bf16_lanes(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
  const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(rounded, quiet_nan, nan);  // 32-bit lanes, values < 2^16
}

// Stores 8 floats to p as T (float as they are; float16 by F16C and bfloat16 as
// float_to_bf16, both rounded to nearest even, NaN staying NaN).
template <typename T>
inline void store8(T* p, __m256 v) {
  if constexpr (std::is_same_v<T, float>) {
    _mm256_storeu_ps(p, v);
  } else if constexpr (std::is_same_v<T, Half>) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    static_assert(std::is_same_v<T, BFloat16>, "store8: float, Half or BFloat16");
#if defined(PK_AVX512_BF16)  // one instruction, as store_lanes in shared_rows.h (AVX-512VL too)
    if (_mm256_fpclass_ps_mask(v, 0x20) == 0) {  // no subnormal
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), reinterpret_cast<__m128i>(_mm256_cvtneps_pbh(v)));
      return;
    }
#endif
    const __m256i bits = bf16_lanes(v);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(bits, bits), 0xd8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
}

// 16 bfloat16 values at p as floats in two vectors, in the order the unpacks give:
// lo = values 0-3 and 8-11, hi = values 4-7 and 12-15 (one load; widening is a 16-bit
// shift, done by interleaving zeros below each value). store16_bf16 takes that order back.
inline void load16_bf16(const BFloat16* p, __m256& lo, __m256& hi) {
  const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(_mm256_setzero_si256(), bits));
  hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(_mm256_setzero_si256(), bits));
}

// Stores lo, hi (load16_bf16's order) to p[0..16) rounded to bfloat16: the pack
// interleaves them back in order, per 128-bit lane. With AVX512_BF16 (and VL, DQ) one
// conversion a vector where neither holds a float32 subnormal, as store8.
inline void store16_bf16(BFloat16* p, __m256 lo, __m256 hi) {
#if defined(PK_AVX512_BF16)
  if ((_mm256_fpclass_ps_mask(lo, 0x20) | _mm256_fpclass_ps_mask(hi, 0x20)) == 0) {
    const __m128i a = reinterpret_cast<__m128i>(_mm256_cvtneps_pbh(lo));  // values 0-3, 8-11
    const __m128i b = reinterpret_cast<__m128i>(_mm256_cvtneps_pbh(hi));  // values 4-7, 12-15
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_unpacklo_epi64(a, b));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 8), _mm_unpackhi_epi64(a, b));
    return;
  }
#endif
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_packus_epi32(bf16_lanes(lo), bf16_lanes(hi)));
}
#endif

// dst[i] = src[i] rounded to T, i < n.
template <typename T>
inline void store_row(T* __restrict dst, const typename Element<T>::Acc* __restrict src, int64_t n) {
  int64_t i = 0;
#if defined(PK_NATIVE_F16)
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    for (; i + 8 <= n; i += 8) store8(dst + i, _mm256_loadu_ps(src + i));
  }
#endif
  for (; i < n; ++i) Element<T>::store(dst + i, src[i]);
}

// Input s of group g (CombineArgs, ConcatArgs): stacked at inputs + g * in_stride_g +
// s * in_stride_s, or, with an index, gathered at inputs + index[g * k + s] * in_stride_g.
template <typename T, typename Args>
inline const T* group_input(const Args& a, int64_t g, int64_t s) {
  const T* inputs = static_cast<const T*>(a.inputs);
  return a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g : inputs + g * a.in_stride_g + s * a.in_stride_s;
}

template <typename T> struct TypeTag { using type = T; };

// kernel(TypeTag<T>{}) for the element type T of a DType code; std::invalid_argument
// (ValueError in Python) naming `op` for an unknown code.
template <typename Kernel>
inline void by_dtype(DType dtype, const char* op, Kernel&& kernel) {
  switch (dtype) {
    case DType::Float32: return kernel(TypeTag<float>{});
    case DType::Float64: return kernel(TypeTag<double>{});
    case DType::Float16: return kernel(TypeTag<Half>{});
    case DType::BFloat16: return kernel(TypeTag<BFloat16>{});
  }
  throw std::invalid_argument(std::string(op) + ": unsupported dtype code");
}

}  // namespace
}  // namespace parity_kernels
