// Element loads to the accumulator type and rounding stores, on the device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <limits>

#include "kernels.cuh"

namespace parity_kernels {
namespace cuda {

template <typename T> struct Element;

template <> struct Element<float> {
  using Acc = float;
  static __device__ __forceinline__ Acc load(float v) { return v; }
  static __device__ __forceinline__ float store(Acc v) { return v; }
};
template <> struct Element<double> {
  using Acc = double;
  static __device__ __forceinline__ Acc load(double v) { return v; }
  static __device__ __forceinline__ double store(Acc v) { return v; }
};
template <> struct Element<__half> {
  using Acc = float;
  static __device__ __forceinline__ Acc load(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half store(Acc v) { return __float2half_rn(v); }
};
template <> struct Element<__nv_bfloat16> {
  using Acc = float;
  static __device__ __forceinline__ Acc load(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 store(Acc v) { return __float2bfloat16_rn(v); }
};

// True when any of group g's k indices lies outside [0, batch) (false without an index).
__device__ __forceinline__ bool bad_group(const int64_t* index, int64_t g, int64_t k, int64_t batch) {
  if (!index) return false;
  for (int64_t s = 0; s < k; ++s) {
    const int64_t i = index[g * k + s];
    if (i < 0 || i >= batch) return true;
  }
  return false;
}

// VEC elements moved as one 16-byte access.
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Vector {
  T v[VEC];
};

// Launch<T>::run(a) for the element type T of a.dtype.
template <template <typename> class Launch, typename Args>
cudaError_t by_dtype(const Args& a) {
  switch (a.dtype) {
    case DType::Float32: return Launch<float>::run(a);
    case DType::Float64: return Launch<double>::run(a);
    case DType::Float16: return Launch<__half>::run(a);
    case DType::BFloat16: return Launch<__nv_bfloat16>::run(a);
  }
  return cudaErrorInvalidValue;
}

}  // namespace cuda
}  // namespace parity_kernels
