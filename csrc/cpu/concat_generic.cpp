// The concat_downsample kernel for the baseline instruction set (SSE2 on x86-64).
#include <stdexcept>

#include "concat_impl.h"

namespace parity_kernels {

void concat_generic(const ConcatArgs& a) { concat_by_dtype(a); }

}  // namespace parity_kernels
