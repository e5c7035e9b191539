// The one CUDA runtime function the bindings call (on an error path), without libcudart.
#include <cuda_runtime.h>

const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : "CUDA error (host emulation)";
}
