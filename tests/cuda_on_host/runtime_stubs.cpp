// The CUDA runtime functions the bindings call, without libcudart: error strings, and a
// current device among two emulated ones (0 and 1). The caller (Python) always sits on
// device 0 here, so cudaGetDevice reports an error when it finds another one current: a
// launch's device guard that did not restore the caller's device shows on the next call.
#include <cuda_runtime.h>

namespace {
int current_device = 0;
}

const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : "CUDA error (host emulation)";
}

cudaError_t cudaGetDevice(int* device) {
  *device = current_device;
  return current_device == 0 ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0 && device != 1) return cudaErrorInvalidDevice;
  current_device = device;
  return cudaSuccess;
}
