// Fused linear combination of coding-group rows (see kernels.h).
#include <algorithm>
#include <string>
#include <stdexcept>

#include "kernels.h"

namespace parity_kernels {

namespace {

constexpr int64_t kChunk = 2048;  // elements per work item: accumulator stays in L1

template <typename T>
void combine_typed(const CombineArgs& a) {
  using Acc = typename Element<T>::Acc;
  const T* inputs = static_cast<const T*>(a.inputs);
  const T* extra = static_cast<const T*>(a.extra);
  const Acc* coeffs = static_cast<const Acc*>(a.coeffs);
  T* out = static_cast<T*>(a.out);
  const int64_t num_sources = a.k + a.k_extra;
  const int64_t chunks = (a.numel + kChunk - 1) / kChunk;
  const int64_t items = a.groups * chunks;

#pragma omp parallel for num_threads(a.threads) schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t g = item / chunks;
    const int64_t begin = (item % chunks) * kChunk;
    const int64_t len = std::min(kChunk, a.numel - begin);
    Acc acc[kChunk];
    for (int64_t j = 0; j < a.r; ++j) {
      const Acc* row = coeffs + g * a.coeff_stride_g + j * num_sources;
      bool first = true;
      for (int64_t s = 0; s < num_sources; ++s) {
        const Acc c = row[s];
        if (c == Acc(0)) continue;  // never read a source whose coefficient is zero
        const T* src;
        if (s < a.k) {
          src = a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                        : inputs + g * a.in_stride_g + s * a.in_stride_s;
        } else {
          src = extra + g * a.ex_stride_g + (s - a.k) * a.ex_stride_s;
        }
        src += begin;
        if (first) {
          for (int64_t t = 0; t < len; ++t) acc[t] = c * Element<T>::load(src + t);
          first = false;
        } else {
          for (int64_t t = 0; t < len; ++t) acc[t] += c * Element<T>::load(src + t);
        }
      }
      T* dst = out + (g * a.r + j) * a.numel + begin;
      if (first) {
        for (int64_t t = 0; t < len; ++t) Element<T>::store(dst + t, Acc(0));
      } else {
        for (int64_t t = 0; t < len; ++t) Element<T>::store(dst + t, acc[t]);
      }
    }
  }
}

}  // namespace

void check_index(const int64_t* index, int64_t count, int64_t batch) {
  for (int64_t i = 0; i < count; ++i) {
    if (index[i] < 0 || index[i] >= batch) {
      throw std::invalid_argument("groups: index " + std::to_string(index[i]) + " at flat position " +
                              std::to_string(i) + " is outside [0, " + std::to_string(batch) + ")");
    }
  }
}

void combine(const CombineArgs& a) {
  if (a.index) check_index(a.index, a.groups * a.k, a.batch);
  switch (a.dtype) {
    case DType::Float32: return combine_typed<float>(a);
    case DType::Float64: return combine_typed<double>(a);
    case DType::Float16: return combine_typed<Half>(a);
    case DType::BFloat16: return combine_typed<BFloat16>(a);
  }
  throw std::invalid_argument("combine: unsupported dtype code");
}

}  // namespace parity_kernels
