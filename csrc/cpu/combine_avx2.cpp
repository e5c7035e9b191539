// The combine kernel built for AVX2 + FMA + F16C (8-wide float loops, hardware
// float16 conversions); chosen at run time only where the CPU has them.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma,f16c")
#define PK_NATIVE_F16 1
#include "combine_impl.h"

namespace parity_kernels {

void combine_avx2(const CombineArgs& a) { combine_by_dtype(a); }

}  // namespace parity_kernels
#else
#include "kernels.h"
namespace parity_kernels {
void combine_avx2(const CombineArgs& a) { combine_generic(a); }
}  // namespace parity_kernels
#endif
