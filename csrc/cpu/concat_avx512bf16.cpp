// The concat_downsample kernel's AVX2 code for bfloat16 on CPUs with AVX512_BF16, DQ and VL:
// each 8 window means rounded to bfloat16 by one conversion instruction where none is a
// float32 subnormal (elements.h, store8); chosen at run time only where the CPU has them.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define PK_NATIVE_F16 1
#define PK_AVX512_BF16 1
#include "concat_impl.h"

namespace parity_kernels {
void concat_avx512bf16(const ConcatArgs& a) {
  if (a.dtype != DType::BFloat16) throw std::logic_error("concat_avx512bf16: bfloat16 only");
  concat_typed<BFloat16>(a);
}
}  // namespace parity_kernels
#else
#include "kernels.h"
namespace parity_kernels {
void concat_avx512bf16(const ConcatArgs& a) { concat_generic(a); }
}  // namespace parity_kernels
#endif
