// The combine kernel's AVX-512 build for bfloat16 on CPUs with AVX512_BF16, DQ and VL
// (Zen 4, Cooper Lake, Sapphire Rapids on): the same code, each 16 sums rounded to bfloat16 by
// one conversion instruction where none of them is a float32 subnormal (shared_rows.h,
// store_lanes); chosen at run time only where the CPU and the OS have it.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
// as in combine_avx512.cpp: GCC 12's AVX-512 headers' false "may be used uninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define PK_NATIVE_F16 1
#define PK_AVX512 1
#define PK_AVX512_BF16 1
#include "combine_impl.h"

namespace parity_kernels {

void combine_avx512bf16(const CombineArgs& a) {
  if (a.dtype != DType::BFloat16) throw std::logic_error("combine_avx512bf16: bfloat16 only");
  combine_typed<BFloat16>(a);
}

}  // namespace parity_kernels
#else
#include "kernels.h"
namespace parity_kernels {
void combine_avx512bf16(const CombineArgs& a) { combine_generic(a); }
}  // namespace parity_kernels
#endif
