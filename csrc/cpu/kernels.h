// CPU kernels of parity_kernels on raw pointers (no torch headers).
#pragma once

#include <cstdint>

namespace parity_kernels {

enum class DType : int { Float32 = 0, Float16 = 1, BFloat16 = 2, Float64 = 3 };

// out[g, j, :] = sum_s coeffs[g, j, s] * source(g, s)[:] with fp32 (fp64) accumulation.
// Sources s < k are rows of `inputs`: stacked at inputs + g*in_stride_g + s*in_stride_s,
// or, when `index` is set, gathered at inputs + index[g*k + s]*in_stride_g. Sources
// k <= s < k + k_extra are rows of `extra` at extra + g*ex_stride_g + (s-k)*ex_stride_s.
// Each row holds `numel` contiguous elements. coeffs (r, k + k_extra) per group, at
// coeffs + g*coeff_stride_g (0 = shared), in float (double for Float64). A zero
// coefficient never reads its source. out is (groups, r, numel) contiguous.
// Decode by pattern (mask set): coeffs is a table (2^S, r, S), S = k + k_extra; group g
// uses entry p = sum_s (mask[g*S + s] != 0) << s, the pattern of its available sources,
// and writes ok_out[g] = ok_table[p] (coeff_stride_g is then unused).
struct CombineArgs {
  DType dtype;
  const void* inputs;
  int64_t in_stride_g, in_stride_s;
  const int64_t* index;
  int64_t batch;
  int64_t k;
  const void* extra;
  int64_t ex_stride_g, ex_stride_s;
  int64_t k_extra;
  const void* coeffs;
  int64_t coeff_stride_g;
  int64_t r;
  void* out;
  int64_t groups, numel;
  int threads;
  const uint8_t* mask;      // (groups, S) availability, or null
  const uint8_t* ok_table;  // (2^S,) with mask
  uint8_t* ok_out;          // (groups,) with mask
};
void combine(const CombineArgs& a);
// The same kernel built for three instruction sets; combine() picks one at run time,
// and for bfloat16 a fourth where the CPU converts float to bfloat16 itself.
void combine_generic(const CombineArgs& a);
void combine_avx2(const CombineArgs& a);        // AVX2 + FMA + F16C
void combine_avx512(const CombineArgs& a);      // AVX-512F besides
void combine_avx512bf16(const CombineArgs& a);  // AVX512_BF16, DQ and VL besides; bfloat16 only

// Parity image of ConcatCode: image s of group g (stacked or gathered as above, each
// image C*H*W contiguous) area-downsampled onto tile s of a rows x cols grid;
// out (groups, 1, C, H, W) contiguous, empty tiles zero.
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
  int threads;
};
void concat_downsample(const ConcatArgs& a);
void concat_generic(const ConcatArgs& a);
void concat_avx2(const ConcatArgs& a);        // AVX2 + FMA + F16C
void concat_avx512bf16(const ConcatArgs& a);  // the same, bfloat16 rounded by AVX512_BF16

// The instruction set the CPU kernels run: the best this CPU and OS have, capped by
// the environment variable PARITY_KERNELS_CPU_ISA (read once): "generic" (the baseline
// build), "avx2", "avx512", or unset / "avx512bf16" (tests set it to cover every build).
bool has_avx2();         // AVX2 + FMA + F16C
bool has_avx512();       // AVX-512F besides those
bool has_avx512_bf16();  // AVX512_BF16, DQ and VL besides (bfloat16's rounding in one instruction)
const char* cpu_isa();   // "avx512bf16", "avx512", "avx2" or "generic"

// Throws std::invalid_argument (ValueError in Python) naming the first index outside [0, batch).
void check_index(const int64_t* index, int64_t count, int64_t batch);

}  // namespace parity_kernels
