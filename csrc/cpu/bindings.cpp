// pybind11 bindings of the CPU kernels: raw pointers as integers, the GIL released.
#include <pybind11/pybind11.h>

#include <string>

#include "kernels.h"

namespace py = pybind11;
using namespace parity_kernels;

namespace {

template <typename P>
P* ptr(uintptr_t address) { return reinterpret_cast<P*>(address); }

// The arguments up to numel are the ones the CUDA binding takes first too (see
// parity_kernels/backends/layout.py, CombineOperands.kernel_args).
void combine_py(int dtype, uintptr_t inputs, int64_t in_stride_g, int64_t in_stride_s,
                uintptr_t index, int64_t k, uintptr_t extra, int64_t ex_stride_g,
                int64_t ex_stride_s, int64_t k_extra, uintptr_t coeffs, int64_t coeff_stride_g,
                int64_t r, uintptr_t out, int64_t groups, int64_t numel, int64_t batch, int threads,
                uintptr_t mask, uintptr_t ok_table, uintptr_t ok_out) {
  CombineArgs a{static_cast<DType>(dtype), ptr<const void>(inputs), in_stride_g, in_stride_s,
                ptr<const int64_t>(index), batch, k, ptr<const void>(extra), ex_stride_g,
                ex_stride_s, k_extra, ptr<const void>(coeffs), coeff_stride_g, r, ptr<void>(out),
                groups, numel, threads, ptr<const uint8_t>(mask), ptr<const uint8_t>(ok_table),
                ptr<uint8_t>(ok_out)};
  combine(a);
}

void concat_py(int dtype, uintptr_t inputs, int64_t in_stride_g, int64_t in_stride_s,
               uintptr_t index, int64_t batch, int64_t k, int64_t channels, int64_t height,
               int64_t width, int64_t grid_rows, int64_t grid_cols, uintptr_t out, int64_t groups,
               int threads) {
  ConcatArgs a{static_cast<DType>(dtype), ptr<const void>(inputs), in_stride_g, in_stride_s,
               ptr<const int64_t>(index), batch, k, channels, height, width, grid_rows, grid_cols,
               ptr<void>(out), groups, threads};
  concat_downsample(a);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "parity_kernels CPU kernels (OpenMP); called from parity_kernels.backends.cpu";
  m.def("combine", &combine_py, py::call_guard<py::gil_scoped_release>(),
        "Fused combine on raw pointers; see csrc/cpu/kernels.h");
  m.def("cpu_isa", [] { return std::string(cpu_isa()); },
        "The instruction set the CPU kernels run: avx512, avx2 or generic (PARITY_KERNELS_CPU_ISA caps it)");
  m.def("concat_downsample", &concat_py, py::call_guard<py::gil_scoped_release>(),
        "ConcatCode encoder on raw pointers; see csrc/cpu/kernels.h");
}
