// The combine kernel for the baseline instruction set (SSE2 on x86-64).
#include <stdexcept>

#include "combine_impl.h"

namespace parity_kernels {

void combine_generic(const CombineArgs& a) { combine_by_dtype(a); }

}  // namespace parity_kernels
