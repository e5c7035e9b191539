// ConcatCode's encoder: area downsample and tiling in one pass (see kernels.h); checks
// and the choice of instruction set.
#include <stdexcept>

#include "kernels.h"

namespace parity_kernels {

void concat_downsample(const ConcatArgs& a) {
  if (a.height < a.grid_rows || a.width < a.grid_cols)
    throw std::invalid_argument("concat_downsample: image smaller than the tile grid");
  if (a.index) check_index(a.index, a.groups * a.k, a.batch);
  if (a.dtype == DType::BFloat16 && has_avx512_bf16()) {
    concat_avx512bf16(a);
  } else if (has_avx2()) {
    concat_avx2(a);
  } else {
    concat_generic(a);
  }
}

}  // namespace parity_kernels
