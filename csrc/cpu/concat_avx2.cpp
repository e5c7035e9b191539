// The concat_downsample kernel built for AVX2 + FMA + F16C; chosen at run time only
// where the CPU has them.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma,f16c")
#define PK_NATIVE_F16 1
#include "concat_impl.h"

namespace parity_kernels {
void concat_avx2(const ConcatArgs& a) { concat_by_dtype(a); }
}  // namespace parity_kernels
#else
#include "kernels.h"
namespace parity_kernels {
void concat_avx2(const ConcatArgs& a) { concat_generic(a); }
}  // namespace parity_kernels
#endif
