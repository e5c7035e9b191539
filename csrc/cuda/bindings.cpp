// pybind11 bindings of the CUDA kernels: raw device pointers and the caller's stream as
// integers; launches are asynchronous, errors from the launch raise RuntimeError.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "kernels.cuh"

namespace py = pybind11;
using namespace parity_kernels::cuda;

namespace {

template <typename P>
P* ptr(uintptr_t address) { return reinterpret_cast<P*>(address); }

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

// Makes `device` the current device while a launch is made (a stream belongs to one
// device, and the caller's current device may be another) and restores the caller's after:
// what `with torch.cuda.device(...)` did in Python, for a fraction of its host time.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) : device_(device) {
    check(cudaGetDevice(&previous_), "parity_kernels: cudaGetDevice");
    if (previous_ != device_) check(cudaSetDevice(device_), "parity_kernels: cudaSetDevice");
  }
  ~DeviceGuard() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int device_;
  int previous_ = 0;
};

// The arguments up to numel, then batch, are the ones the CPU binding takes first too (see
// parity_kernels/backends/layout.py, CombineOperands.kernel_args); so is concat's order.
// `device`: the index of the device the tensors and `stream` belong to.
void combine_py(int dtype, uintptr_t inputs, int64_t in_stride_g, int64_t in_stride_s, uintptr_t index,
                int64_t k, uintptr_t extra, int64_t ex_stride_g, int64_t ex_stride_s, int64_t k_extra,
                uintptr_t coeffs, int64_t coeff_stride_g, int64_t r, uintptr_t out, int64_t groups,
                int64_t numel, int64_t batch, bool aligned, uintptr_t stream, int device, uintptr_t mask,
                uintptr_t ok_table, uintptr_t ok_out) {
  DeviceGuard on(device);
  CombineArgs a{static_cast<DType>(dtype), ptr<const void>(inputs), in_stride_g, in_stride_s,
                ptr<const int64_t>(index), batch, k, ptr<const void>(extra), ex_stride_g, ex_stride_s, k_extra,
                ptr<const void>(coeffs), coeff_stride_g, r, ptr<void>(out), groups, numel, aligned,
                reinterpret_cast<cudaStream_t>(stream), ptr<const uint8_t>(mask),
                ptr<const uint8_t>(ok_table), ptr<uint8_t>(ok_out)};
  check(combine(a), "parity_kernels combine (CUDA)");
}

void concat_py(int dtype, uintptr_t inputs, int64_t in_stride_g, int64_t in_stride_s, uintptr_t index,
               int64_t batch, int64_t k, int64_t channels, int64_t height, int64_t width, int64_t grid_rows,
               int64_t grid_cols, uintptr_t out, int64_t groups, uintptr_t stream, int device) {
  DeviceGuard on(device);
  ConcatArgs a{static_cast<DType>(dtype), ptr<const void>(inputs), in_stride_g, in_stride_s,
               ptr<const int64_t>(index), batch, k, channels, height, width, grid_rows, grid_cols,
               ptr<void>(out), groups, reinterpret_cast<cudaStream_t>(stream)};
  check(concat_downsample(a), "parity_kernels concat_downsample (CUDA)");
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "parity_kernels CUDA kernels; called from parity_kernels.backends.cuda";
  m.def("combine", &combine_py, py::call_guard<py::gil_scoped_release>(), "see csrc/cuda/kernels.cuh");
  m.def("concat_downsample", &concat_py, py::call_guard<py::gil_scoped_release>(), "see csrc/cuda/kernels.cuh");
}
