// Fused linear combination of coding-group rows on the GPU (see kernels.cuh).
// One thread per VEC consecutive elements of one group; 16-byte vector loads and stores
// where every row is aligned, a scalar tail at the end of each row.
#include "elements.cuh"
#include "kernels.cuh"

namespace parity_kernels {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kSourcesAtOnce = 4;

template <typename T, int VEC>
__global__ void combine_kernel(CombineArgs a, uint32_t blocks_per_group) {
  using E = Element<T>;
  using Acc = typename E::Acc;
  const int64_t g = blockIdx.x / blocks_per_group;  // 32-bit: a 64-bit division is a call
  const int64_t e = (int64_t(blockIdx.x % blocks_per_group) * kThreads + threadIdx.x) * VEC;
  if (e >= a.numel) return;
  const bool full = e + VEC <= a.numel;
  const int64_t count = full ? VEC : a.numel - e;
  const int64_t num_sources = a.k + a.k_extra;
  const T* inputs = static_cast<const T*>(a.inputs);
  const T* extra = static_cast<const T*>(a.extra);
  const Acc* coeffs = static_cast<const Acc*>(a.coeffs) + g * a.coeff_stride_g;
  const bool bad = bad_group(a.index, g, a.k, a.batch);
  if (a.mask) {  // decode by pattern: this group's entry of the table
    const uint8_t* available = a.mask + g * num_sources;
    int64_t pattern = 0;
    for (int64_t s = 0; s < num_sources; ++s) pattern |= static_cast<int64_t>(available[s] != 0) << s;
    coeffs = static_cast<const Acc*>(a.coeffs) + pattern * a.r * num_sources;
    if (e == 0) a.ok_out[g] = bad ? 0 : a.ok_table[pattern];
  }
  T* out = static_cast<T*>(a.out);
  if (bad) {  // an index outside the batch: NaN everywhere, nothing read
    const T nan = E::store(std::numeric_limits<Acc>::quiet_NaN());
    for (int64_t j = 0; j < a.r; ++j)
      for (int64_t v = 0; v < count; ++v) out[(g * a.r + j) * a.numel + e + v] = nan;
    return;
  }
  for (int64_t j = 0; j < a.r; ++j) {
    Acc acc[VEC];
#pragma unroll
    for (int v = 0; v < VEC; ++v) acc[v] = Acc(0);
    // Sources in batches of kSourcesAtOnce: every load of a batch is issued before the
    // first add that waits for one (a loop of one source at a time keeps one load in flight).
    for (int64_t s0 = 0; s0 < num_sources; s0 += kSourcesAtOnce) {
      Acc c[kSourcesAtOnce];
      Vector<T, VEC> x[kSourcesAtOnce];
#pragma unroll
      for (int i = 0; i < kSourcesAtOnce; ++i) {
        const int64_t s = s0 + i;
        c[i] = s < num_sources ? coeffs[j * num_sources + s] : Acc(0);
        if (c[i] == Acc(0)) continue;  // never read a source whose coefficient is zero
        const T* src = s < a.k ? (a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                                          : inputs + g * a.in_stride_g + s * a.in_stride_s)
                               : extra + g * a.ex_stride_g + (s - a.k) * a.ex_stride_s;
        src += e;
        if (full) {
          x[i] = *reinterpret_cast<const Vector<T, VEC>*>(src);
        } else {  // the row's tail: constant indices keep x and acc in registers (no stack)
#pragma unroll
          for (int v = 0; v < VEC; ++v) x[i].v[v] = v < count ? src[v] : E::store(Acc(0));
        }
      }
#pragma unroll
      for (int i = 0; i < kSourcesAtOnce; ++i) {
        if (c[i] == Acc(0)) continue;
#pragma unroll
        for (int v = 0; v < VEC; ++v) acc[v] += c[i] * E::load(x[i].v[v]);
      }
    }
    T* dst = out + (g * a.r + j) * a.numel + e;
    if (full) {
      Vector<T, VEC> y;
#pragma unroll
      for (int v = 0; v < VEC; ++v) y.v[v] = E::store(acc[v]);
      store_vector(dst, y);
    } else {
#pragma unroll
      for (int v = 0; v < VEC; ++v)
        if (v < count) dst[v] = E::store(acc[v]);
    }
  }
}

template <typename T>
struct CombineLaunch {
  static cudaError_t run(const CombineArgs& a);
};

template <typename T>
cudaError_t CombineLaunch<T>::run(const CombineArgs& a) {
  constexpr int kVec = 16 / sizeof(T);
  const int vec = a.aligned ? kVec : 1;
  const int64_t per_block = int64_t(kThreads) * vec;
  const int64_t blocks_per_group = (a.numel + per_block - 1) / per_block;
  const int64_t blocks = blocks_per_group * a.groups;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const auto per_group = static_cast<uint32_t>(blocks_per_group);
  if (a.aligned) {
    combine_kernel<T, kVec><<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(a, per_group);
  } else {
    combine_kernel<T, 1><<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(a, per_group);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t combine(const CombineArgs& a) { return by_dtype<CombineLaunch>(a); }

}  // namespace cuda
}  // namespace parity_kernels
