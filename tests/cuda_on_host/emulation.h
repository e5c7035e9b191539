// Runs the CUDA C++ kernels of csrc/cuda on the host, for tests on machines without a GPU
// (tests/test_cuda_kernels_on_host.py). Force-included before each translation unit,
// whose kernel launches the test rewrites from `kernel<<<grid, block, ...>>>(args);` into
// `pk_emulation::launch(grid, block, [&] { kernel(args); });`: every thread of every block
// runs in turn on the calling thread, with blockIdx / threadIdx set. Enough for kernels
// without shared memory, barriers or warp functions (the kernels there use none).
#pragma once

#include <cuda_runtime.h>

#include <functional>

namespace pk_emulation {

inline thread_local uint3 block_idx, thread_idx;

inline void launch(dim3 grid, dim3 block, const std::function<void()>& thread) {
  for (unsigned b = 0; b < grid.x; ++b) {
    for (unsigned t = 0; t < block.x; ++t) {
      block_idx = uint3{b, 0, 0};
      thread_idx = uint3{t, 0, 0};
      thread();
    }
  }
}

// Launches never fail here; cudaGetLastError itself would need the CUDA runtime and a device.
inline cudaError_t last_error() { return cudaSuccess; }

}  // namespace pk_emulation

#define blockIdx pk_emulation::block_idx
#define threadIdx pk_emulation::thread_idx
