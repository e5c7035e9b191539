// ConcatCode's encoder on the GPU: one thread per parity pixel finds its tile and input
// window with integer arithmetic (as the Triton kernel), averages it in fp32, writes once.
#include "elements.cuh"
#include "kernels.cuh"

namespace parity_kernels {
namespace cuda {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void concat_kernel(ConcatArgs a) {
  using E = Element<T>;
  using Acc = typename E::Acc;
  const int64_t plane = a.height * a.width;
  const int64_t pixel = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (pixel >= a.groups * a.channels * plane) return;
  const int64_t gc = pixel / plane, p = pixel % plane;
  const int64_t g = gc / a.channels, c = gc % a.channels;
  const int64_t oy = p / a.width, ox = p % a.width;
  const int64_t t = ((oy + 1) * a.grid_rows - 1) / a.height;
  const int64_t u = ((ox + 1) * a.grid_cols - 1) / a.width;
  const int64_t s = t * a.grid_cols + u;
  T* dst = static_cast<T*>(a.out) + pixel;
  if (bad_group(a.index, g, a.k, a.batch)) {  // an index outside the batch: NaN, nothing read
    *dst = E::store(std::numeric_limits<Acc>::quiet_NaN());
    return;
  }
  if (s >= a.k) {
    *dst = E::store(Acc(0));
    return;
  }
  const int64_t y0 = t * a.height / a.grid_rows, tile_h = (t + 1) * a.height / a.grid_rows - y0;
  const int64_t x0 = u * a.width / a.grid_cols, tile_w = (u + 1) * a.width / a.grid_cols - x0;
  const int64_t ly = oy - y0, lx = ox - x0;
  const int64_t lo_y = ly * a.height / tile_h, hi_y = ((ly + 1) * a.height + tile_h - 1) / tile_h;
  const int64_t lo_x = lx * a.width / tile_w, hi_x = ((lx + 1) * a.width + tile_w - 1) / tile_w;
  const T* inputs = static_cast<const T*>(a.inputs);
  const T* image = a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                           : inputs + g * a.in_stride_g + s * a.in_stride_s;
  const T* channel = image + c * plane;
  Acc sum = 0;
  for (int64_t y = lo_y; y < hi_y; ++y)
    for (int64_t x = lo_x; x < hi_x; ++x) sum += E::load(channel[y * a.width + x]);
  *dst = E::store(sum / static_cast<Acc>((hi_y - lo_y) * (hi_x - lo_x)));
}

template <typename T>
struct ConcatLaunch {
  static cudaError_t run(const ConcatArgs& a);
};

template <typename T>
cudaError_t ConcatLaunch<T>::run(const ConcatArgs& a) {
  const int64_t pixels = a.groups * a.channels * a.height * a.width;
  const int64_t blocks = (pixels + kThreads - 1) / kThreads;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  concat_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t concat_downsample(const ConcatArgs& a) { return by_dtype<ConcatLaunch>(a); }

}  // namespace cuda
}  // namespace parity_kernels
