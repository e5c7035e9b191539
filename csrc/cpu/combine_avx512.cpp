// The combine kernel built for AVX-512F (rows that share their sources summed 16 lanes at
// a time, up to 16 sources in registers; the rest as the AVX2 build); chosen at run time
// only where the CPU and the OS have it.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx2,fma,f16c")
// GCC 12's AVX-512 headers start some conversions from an undefined register and warn
// "'__Y' may be used uninitialized" for them: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define PK_NATIVE_F16 1
#define PK_AVX512 1
#include "combine_impl.h"

namespace parity_kernels {

void combine_avx512(const CombineArgs& a) { combine_by_dtype(a); }

}  // namespace parity_kernels
#else
#include "kernels.h"
namespace parity_kernels {
void combine_avx512(const CombineArgs& a) { combine_generic(a); }
}  // namespace parity_kernels
#endif
