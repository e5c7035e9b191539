// The combine kernel for the baseline instruction set (SSE2 on x86-64).
#include <stdexcept>

#include "combine_impl.h"

namespace parity_kernels {

void combine_generic(const CombineArgs& a) {
  switch (a.dtype) {
    case DType::Float32: return combine_typed<float>(a);
    case DType::Float64: return combine_typed<double>(a);
    case DType::Float16: return combine_typed<Half>(a);
    case DType::BFloat16: return combine_typed<BFloat16>(a);
  }
  throw std::invalid_argument("combine: unsupported dtype code");
}

}  // namespace parity_kernels
