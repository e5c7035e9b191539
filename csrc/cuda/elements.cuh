// Element loads to the accumulator type and rounding stores, on the device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstring>
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

// VEC elements moved as one access (16 bytes in the kernels' vector paths).
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Vector {
  T v[VEC];
};

// A 16-byte Vector stored at p (aligned to 16) as one st.global.v4: nvcc 13 splits a plain
// store of the struct (or of a float4) in combine_kernel into one store per element (four
// 4-byte or eight 2-byte stores; tests/test_gpu_code.py reads the compiled code). Loads
// stay plain copies: they come out as one 16-byte load.
template <typename T, int VEC>
__device__ __forceinline__ void store_vector(T* p, const Vector<T, VEC>& x) {
  if constexpr (sizeof(x) == 16) {
    uint32_t w[4];
    memcpy(w, &x, sizeof w);
#if defined(__CUDA_ARCH__)
    asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};"
                 :: "l"(p), "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]) : "memory");
#else  // the host build of tests/cuda_on_host
    memcpy(p, w, sizeof w);
#endif
  } else {
    *reinterpret_cast<Vector<T, VEC>*>(p) = x;
  }
}

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
