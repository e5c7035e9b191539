// Times the CPU kernels of csrc/cpu (their AVX2 + F16C build; kernel_ratio_avx512: the
// AVX-512 build of combine, concat as in AVX2; kernel_ratio_avx512bf16: both with
// bfloat16 rounded by AVX512_BF16) without Python, beside
// memcpy and a plain vector read of the same input: ratios within one run, for looking
// inside a `parity-kernels bench` row (which kernel variant, how many threads, how much
// of the time is memory). Not part of the package; `make harness` builds it.
//
//   kernel_ratio combine G k r threads dtype [numel=150528] [reps=20]
//       out[g, j] = sum_s c[j, s] * x[g, s] for r rows of k sources (all coefficients non-zero)
//   kernel_ratio concat G k threads dtype [size=224] [reps=20]
//       ConcatCode's parity of G groups of k images 3 x size x size
//   kernel_ratio moves G k r threads dtype stores [numel=150528] [reps=20] [columns=1024]
//       combine's memory traffic without its arithmetic: out[g, j] = x[g, j mod k], in the
//       kernel's work items (`columns` columns of every row of a group, the kernel's 1024 by
//       default); stores: plain or streamed (non-temporal). Bytes count every source: meant
//       for r >= k, as combine with dense rows reads them all
//   dtype: float32, float16 or bfloat16.
//
// Prints the minimum over reps of each time, then
//   copy_fraction = (bytes / ours) / (2 * input bytes / memcpy): the bench's "% copy"
//   ours_over_read = ours / (plain read of the input)
// bytes = input read once + output written once. Outputs are filled with NaN first and
// checked afterwards: a NaN left means the kernel did not write every element.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#error "the harness times the AVX2 build of the kernels: x86-64 only"
#endif
#if defined(PK_HARNESS_AVX512_BF16)  // kernel_ratio_avx512bf16: bfloat16 rounded by AVX512_BF16 too
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define PK_AVX512 1
#define PK_AVX512_BF16 1
#elif defined(PK_HARNESS_AVX512)  // kernel_ratio_avx512: combine's AVX-512 build (concat has none)
#pragma GCC target("avx512f,avx2,fma,f16c")
// as in combine_avx512.cpp: GCC 12's AVX-512 headers' false "may be used uninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define PK_AVX512 1
#else
#pragma GCC target("avx2,fma,f16c")
#endif
#define PK_NATIVE_F16 1
#include <immintrin.h>

#include "combine_impl.h"
#include "concat_impl.h"

namespace parity_kernels {
bool has_avx2() { return true; }
void check_index(const int64_t*, int64_t, int64_t) {}
}  // namespace parity_kernels

using namespace parity_kernels;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Buffers aligned to 64 bytes, as torch's CPU allocator aligns tensors: std::vector's
// large blocks start 16 bytes into a page, where every other 32-byte load of a float32 row
// crosses a cache line, as no bench tensor's does (ConcatCode k = 8, 2026-11-30: no
// difference the VM's noise let through, either kernel; the harness now reads what the
// bench reads).
template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <typename U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};
using Bytes = std::vector<uint8_t, Aligned64<uint8_t>>;

struct Type {
  DType code;
  size_t size;
};

Type parse_dtype(const std::string& name) {
  if (name == "float32") return {DType::Float32, 4};
  if (name == "float16") return {DType::Float16, 2};
  if (name == "bfloat16") return {DType::BFloat16, 2};
  std::fprintf(stderr, "dtype: expected float32, float16 or bfloat16, got %s\n", name.c_str());
  std::exit(2);
}

// Bytes of n values in [0.5, 1.5) (never zeros), stored as dtype.
Bytes filled(size_t n, Type type) {
  Bytes bytes(n * type.size);
  for (size_t i = 0; i < n; ++i) {
    const float v = 0.5f + static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;
    if (type.code == DType::Float32) {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    } else {
      const uint16_t h = type.code == DType::Float16 ? float_to_half(v) : float_to_bf16(v);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return bytes;
}

// NaN in every element of out.
void poison(Bytes& out, Type type) {
  const size_t n = out.size() / type.size;
  for (size_t i = 0; i < n; ++i) {
    if (type.code == DType::Float32) {
      const float nan = std::nanf("");
      std::memcpy(out.data() + 4 * i, &nan, 4);
    } else {
      const uint16_t nan = type.code == DType::Float16 ? 0x7e00 : 0x7fc0;
      std::memcpy(out.data() + 2 * i, &nan, 2);
    }
  }
}

size_t count_nan(const Bytes& out, Type type) {
  const size_t n = out.size() / type.size;
  size_t nans = 0;
  for (size_t i = 0; i < n; ++i) {
    float v;
    if (type.code == DType::Float32) {
      std::memcpy(&v, out.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, out.data() + 2 * i, 2);
      v = type.code == DType::Float16 ? half_to_float(h) : bf16_to_float(h);
    }
    nans += std::isnan(v);
  }
  return nans;
}

volatile float sink;

// Sum of the input as float32 words, 32 at a time: a plain read (bit patterns of half
// types summed as floats: the value does not matter, only that every line is loaded).
void plain_read(const Bytes& in, int threads) {
  const float* p = reinterpret_cast<const float*>(in.data());
  const int64_t n = static_cast<int64_t>(in.size() / 4), parts = 64;
  float total = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : total)
  for (int64_t h = 0; h < parts; ++h) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const float* q = p + h * (n / parts);
    for (int64_t i = 0; i + 32 <= n / parts; i += 32) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(q + i));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(q + i + 8));
      s2 = _mm256_add_ps(s2, _mm256_loadu_ps(q + i + 16));
      s3 = _mm256_add_ps(s3, _mm256_loadu_ps(q + i + 24));
    }
    float v[8];
    _mm256_storeu_ps(v, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (float x : v) total += x;
  }
  sink = total;
}

void copy_parts(Bytes& dst, const Bytes& src, int threads) {
  const int64_t parts = 8, part = static_cast<int64_t>(src.size()) / parts;
#pragma omp parallel for num_threads(threads)
  for (int64_t h = 0; h < parts; ++h) std::memcpy(dst.data() + h * part, src.data() + h * part, part);
}

template <typename Kernel>
int report(const char* what, Kernel kernel, const Bytes& in, Bytes& out, Type type,
           int threads, int reps) {
  poison(out, type);
  kernel();
  const size_t unwritten = count_nan(out, type);
  Bytes copy(in.size());
  double ours = 1e30, memcpy_s = 1e30, read_s = 1e30;
  for (int rep = 0; rep < reps; ++rep) {  // interleaved: the three see the same machine
    double t = now();
    kernel();
    ours = std::min(ours, now() - t);
    t = now();
    copy_parts(copy, in, threads);
    memcpy_s = std::min(memcpy_s, now() - t);
    t = now();
    plain_read(in, threads);
    read_s = std::min(read_s, now() - t);
  }
  const double bytes = static_cast<double>(in.size() + out.size());
  const double fraction = (bytes / ours) / (2.0 * in.size() / memcpy_s);
  std::printf("%s: ours %.1f us, memcpy %.1f us, read %.1f us; copy_fraction %.2f ours_over_read %.2f%s\n", what,
              ours * 1e6, memcpy_s * 1e6, read_s * 1e6, fraction, ours / read_s,
              unwritten ? " UNWRITTEN OUTPUTS" : "");
  return unwritten ? 1 : 0;
}

// out[g, j] = in[g, j mod k] for j < r, item by item as combine_typed walks them (`columns`
// columns of every output row of one group), with plain or non-temporal stores.
void moves(const Bytes& in, Bytes& out, int64_t groups, int64_t k, int64_t r,
           int64_t numel, size_t size, int threads, bool streamed, int64_t columns) {
  const int64_t chunks = (numel + columns - 1) / columns;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < groups * chunks; ++item) {
    const int64_t g = item / chunks, begin = (item % chunks) * columns, len = std::min(columns, numel - begin);
    for (int64_t j = 0; j < r; ++j) {
      const char* src = reinterpret_cast<const char*>(in.data()) + ((g * k + j % k) * numel + begin) * size;
      char* dst = reinterpret_cast<char*>(out.data()) + ((g * r + j) * numel + begin) * size;
      if (streamed) {
        stream_bytes(dst, src, len * size);
      } else {
        std::memcpy(dst, src, len * size);
      }
    }
    if (streamed) stream_fence();
  }
}

int usage() {
  std::fprintf(stderr,
               "usage: kernel_ratio combine G k r threads dtype [numel] [reps]\n"
               "       kernel_ratio concat G k threads dtype [size] [reps]\n"
               "       kernel_ratio moves G k r threads dtype plain|streamed [numel] [reps] [columns]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(PK_HARNESS_AVX512_BF16)
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16") ||
      !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl")) {
    std::fprintf(stderr, "kernel_ratio_avx512bf16: this CPU has no AVX512_BF16 (use kernel_ratio_avx512)\n");
    return 3;
  }
#elif defined(PK_HARNESS_AVX512)
  if (!__builtin_cpu_supports("avx512f")) {
    std::fprintf(stderr, "kernel_ratio_avx512: this CPU has no AVX-512F (use kernel_ratio)\n");
    return 3;
  }
#endif
  if (argc < 2) return usage();
  const std::string op = argv[1];
  if (op == "combine" && argc >= 7) {
    const int64_t groups = std::atol(argv[2]), k = std::atol(argv[3]), r = std::atol(argv[4]);
    const int threads = std::atoi(argv[5]);
    const Type type = parse_dtype(argv[6]);
    const int64_t numel = argc > 7 ? std::atol(argv[7]) : 3 * 224 * 224;
    const int reps = argc > 8 ? std::atoi(argv[8]) : 20;
    if (groups < 1 || k < 1 || r < 1 || threads < 1 || numel < 1 || reps < 1) return usage();
    const Bytes in = filled(groups * k * numel, type);
    Bytes out(groups * r * numel * type.size);
    std::vector<float> coeffs(r * k);
    for (size_t i = 0; i < coeffs.size(); ++i) coeffs[i] = 0.37f + 0.1f * static_cast<float>(i);
    const CombineArgs a{type.code, in.data(), k * numel, numel, nullptr, 0, k, nullptr, 0, 0, 0, coeffs.data(), 0,
                        r, out.data(), groups, numel, threads, nullptr, nullptr, nullptr};
    char what[192];
    std::snprintf(what, sizeof what, "combine G=%ld k=%ld r=%ld numel=%ld %s threads=%d", static_cast<long>(groups),
                  static_cast<long>(k), static_cast<long>(r), static_cast<long>(numel), argv[6], threads);
    return report(what, [&] { combine_by_dtype(a); }, in, out, type, threads, reps);
  }
  if (op == "concat" && argc >= 6) {
    const int64_t groups = std::atol(argv[2]), k = std::atol(argv[3]);
    const int threads = std::atoi(argv[4]);
    const Type type = parse_dtype(argv[5]);
    const int64_t size = argc > 6 ? std::atol(argv[6]) : 224;
    const int reps = argc > 7 ? std::atoi(argv[7]) : 20;
    if (groups < 1 || k < 1 || threads < 1 || size < 1 || reps < 1) return usage();
    int64_t cols = 1;
    while (cols * cols < k) ++cols;  // ConcatCode's grid: ceil(sqrt(k)) columns
    const int64_t rows = (k + cols - 1) / cols, channels = 3, image = channels * size * size;
    const Bytes in = filled(groups * k * image, type);
    Bytes out(groups * image * type.size);
    const ConcatArgs a{type.code, in.data(), k * image, image, nullptr, 0, k, channels, size, size, rows, cols,
                       out.data(), groups, threads};
    char what[192];
    std::snprintf(what, sizeof what, "concat G=%ld k=%ld 3x%ldx%ld %s threads=%d", static_cast<long>(groups),
                  static_cast<long>(k), static_cast<long>(size), static_cast<long>(size), argv[5], threads);
    return report(what, [&] { concat_by_dtype(a); }, in, out, type, threads, reps);
  }
  if (op == "moves" && argc >= 8) {
    const int64_t groups = std::atol(argv[2]), k = std::atol(argv[3]), r = std::atol(argv[4]);
    const int threads = std::atoi(argv[5]);
    const Type type = parse_dtype(argv[6]);
    const std::string stores = argv[7];
    const int64_t numel = argc > 8 ? std::atol(argv[8]) : 3 * 224 * 224;
    const int reps = argc > 9 ? std::atoi(argv[9]) : 20;
    const int64_t columns = argc > 10 ? std::atol(argv[10]) : kChunk;
    if (groups < 1 || k < 1 || r < 1 || threads < 1 || numel < 1 || reps < 1 || columns < 1 ||
        (stores != "plain" && stores != "streamed"))
      return usage();
    const Bytes in = filled(groups * k * numel, type);
    Bytes out(groups * r * numel * type.size);
    char what[192];
    std::snprintf(what, sizeof what, "moves G=%ld k=%ld r=%ld numel=%ld columns=%ld %s %s threads=%d",
                  static_cast<long>(groups), static_cast<long>(k), static_cast<long>(r), static_cast<long>(numel),
                  static_cast<long>(columns), argv[6], argv[7], threads);
    return report(what, [&] { moves(in, out, groups, k, r, numel, type.size, threads, stores == "streamed", columns); },
                  in, out, type, threads, reps);
  }
  return usage();
}
