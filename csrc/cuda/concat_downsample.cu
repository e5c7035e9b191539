// ConcatCode's encoder on the GPU: one thread per parity pixel finds its tile and input
// window with integer arithmetic (as the Triton kernel), averages it in fp32, writes once.
#include "elements.cuh"
#include "kernels.cuh"

namespace parity_kernels {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// Sides up to this many pixels keep in-plane positions in 32 bits (products of two sides
// stay below 2^31): a 64-bit division is a ~70-instruction call on the GPU, and each
// pixel takes ten.
constexpr int64_t kInt32Side = 46340;

// One thread per parity pixel; blocks_per_plane blocks cover one (group, channel) plane.
// I: the in-plane integer type (int32_t or int64_t).
template <typename T, typename I>
__global__ void concat_kernel(ConcatArgs a, uint32_t blocks_per_plane) {
  using E = Element<T>;
  using Acc = typename E::Acc;
  const uint32_t gc = blockIdx.x / blocks_per_plane;
  const I height = static_cast<I>(a.height), width = static_cast<I>(a.width);
  const I rows = static_cast<I>(a.grid_rows), cols = static_cast<I>(a.grid_cols);
  const I plane = height * width;
  const I p = static_cast<I>(blockIdx.x % blocks_per_plane) * kThreads + static_cast<I>(threadIdx.x);
  if (p >= plane) return;
  const int64_t g = gc / static_cast<uint32_t>(a.channels), c = gc % static_cast<uint32_t>(a.channels);
  const I oy = p / width, ox = p % width;
  const I t = ((oy + 1) * rows - 1) / height;
  const I u = ((ox + 1) * cols - 1) / width;
  const int64_t s = int64_t(t) * a.grid_cols + u;
  T* dst = static_cast<T*>(a.out) + int64_t(gc) * plane + p;
  if (bad_group(a.index, g, a.k, a.batch)) {  // an index outside the batch: NaN, nothing read
    *dst = E::store(std::numeric_limits<Acc>::quiet_NaN());
    return;
  }
  if (s >= a.k) {
    *dst = E::store(Acc(0));
    return;
  }
  const I y0 = t * height / rows, tile_h = (t + 1) * height / rows - y0;
  const I x0 = u * width / cols, tile_w = (u + 1) * width / cols - x0;
  const I ly = oy - y0, lx = ox - x0;
  const I lo_y = ly * height / tile_h, hi_y = ((ly + 1) * height + tile_h - 1) / tile_h;
  const I lo_x = lx * width / tile_w, hi_x = ((lx + 1) * width + tile_w - 1) / tile_w;
  const T* inputs = static_cast<const T*>(a.inputs);
  const T* image = a.index ? inputs + a.index[g * a.k + s] * a.in_stride_g
                           : inputs + g * a.in_stride_g + s * a.in_stride_s;
  const T* channel = image + c * int64_t(plane);
  Acc sum = 0;
  for (I y = lo_y; y < hi_y; ++y)
    for (I x = lo_x; x < hi_x; ++x) sum += E::load(channel[int64_t(y) * width + x]);
  *dst = E::store(sum / static_cast<Acc>((hi_y - lo_y) * (hi_x - lo_x)));
}

template <typename T>
struct ConcatLaunch {
  static cudaError_t run(const ConcatArgs& a);
};

template <typename T>
cudaError_t ConcatLaunch<T>::run(const ConcatArgs& a) {
  const int64_t blocks_per_plane = (a.height * a.width + kThreads - 1) / kThreads;
  const int64_t blocks = blocks_per_plane * a.groups * a.channels;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const auto per_plane = static_cast<uint32_t>(blocks_per_plane);
  if (a.height <= kInt32Side && a.width <= kInt32Side) {
    concat_kernel<T, int32_t><<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(a, per_plane);
  } else {
    concat_kernel<T, int64_t><<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(a, per_plane);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t concat_downsample(const ConcatArgs& a) { return by_dtype<ConcatLaunch>(a); }

}  // namespace cuda
}  // namespace parity_kernels
