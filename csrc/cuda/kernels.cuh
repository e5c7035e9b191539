// CUDA kernels of parity_kernels on raw pointers (no torch headers), launched on the
// caller's stream. Same contracts as csrc/cpu/kernels.h.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace parity_kernels {
namespace cuda {

enum class DType : int { Float32 = 0, Float16 = 1, BFloat16 = 2, Float64 = 3 };

// out[g, j, :] = sum_s coeffs[g, j, s] * source(g, s)[:], fp32 (fp64) accumulation; a
// zero coefficient never reads its source. A gathered group with an index outside
// [0, batch) reads nothing and gets NaN in every output (ok_out 0): the CPU kernels raise
// instead, which here would need a device sync. `aligned`: every source row and output row
// starts on 16 bytes, so rows are read and written in 16-byte vectors (scalar tail).
// Decode by pattern (mask set), as in csrc/cpu/kernels.h: coeffs is a (2^S, r, S) table,
// group g uses the entry of its availability pattern and writes ok_out[g].
struct CombineArgs {
  DType dtype;
  const void* inputs;
  int64_t in_stride_g, in_stride_s;
  const int64_t* index;  // device pointer or null
  int64_t batch;         // rows the index points into (with index)
  int64_t k;
  const void* extra;
  int64_t ex_stride_g, ex_stride_s;
  int64_t k_extra;
  const void* coeffs;  // float (double for Float64), (r, k + k_extra) per group
  int64_t coeff_stride_g;
  int64_t r;
  void* out;  // (groups, r, numel) contiguous
  int64_t groups, numel;
  bool aligned;
  cudaStream_t stream;
  const uint8_t* mask;      // (groups, S) availability, device pointer or null
  const uint8_t* ok_table;  // (2^S,) with mask
  uint8_t* ok_out;          // (groups,) with mask
};
cudaError_t combine(const CombineArgs& a);

// ConcatCode's parity image: out (groups, 1, C, H, W) contiguous; a gathered group with
// an index outside [0, batch) gets NaN in every pixel, as combine.
struct ConcatArgs {
  DType dtype;
  const void* inputs;
  int64_t in_stride_g, in_stride_s;
  const int64_t* index;
  int64_t batch;
  int64_t k;
  int64_t channels, height, width;
  int64_t grid_rows, grid_cols;
  void* out;
  int64_t groups;
  cudaStream_t stream;
};
cudaError_t concat_downsample(const ConcatArgs& a);

}  // namespace cuda
}  // namespace parity_kernels
