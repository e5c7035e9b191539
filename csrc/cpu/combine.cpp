// Fused linear combination of coding-group rows (see kernels.h): dispatch by dtype and
// by instruction set, and the group-index check.
#include <stdexcept>
#include <string>

#include "kernels.h"

namespace parity_kernels {

void check_index(const int64_t* index, int64_t count, int64_t batch) {
  for (int64_t i = 0; i < count; ++i) {
    if (index[i] < 0 || index[i] >= batch) {
      throw std::invalid_argument("groups: index " + std::to_string(index[i]) + " at flat position " +
                              std::to_string(i) + " is outside [0, " + std::to_string(batch) + ")");
    }
  }
}

void combine(const CombineArgs& a) {
  if (a.index) check_index(a.index, a.groups * a.k, a.batch);
  if (a.dtype == DType::BFloat16 && has_avx512_bf16()) {
    combine_avx512bf16(a);
  } else if (has_avx512()) {
    combine_avx512(a);
  } else if (has_avx2()) {
    combine_avx2(a);
  } else {
    combine_generic(a);
  }
}

}  // namespace parity_kernels
