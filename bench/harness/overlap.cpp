// Does this machine overlap arithmetic with memory reads? One thread reads 64 MB of
// float32 in bursts of `burst` floats (adds into registers), and after each burst runs
// `work` rounds of register-only FMAs; the same is timed with the data in L2 (the
// arithmetic alone) and without the FMAs (the read alone). Not part of the package;
// `make harness` builds it.
//
//   overlap burst work [prefetch_floats=0]
//
// Prints memory_over_sum = time from memory / (read alone + arithmetic alone): near 1.0
// means they add (no overlap), near max/sum that they overlap. ConcatCode's windowed
// kernel (bench/NOTES.md) reads a few rows and then computes on them: large bursts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#if !defined(__x86_64__)
#error "x86-64 only (AVX2 intrinsics)"
#endif
#pragma GCC target("avx2,fma")
#include <immintrin.h>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

volatile float sink;

float bursts(const float* p, size_t n, size_t burst, int work, size_t prefetch) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  const __m256 m = _mm256_set1_ps(0.999f);
  for (size_t b = 0; b + burst <= n; b += burst) {
    if (prefetch)
      for (size_t q = 0; q < burst && b + prefetch + q < n; q += 16) __builtin_prefetch(p + b + prefetch + q);
    for (size_t i = b; i < b + burst; i += 32) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    for (int w = 0; w < work; ++w) {
      a0 = _mm256_fmadd_ps(a0, m, a1);
      a1 = _mm256_fmadd_ps(a1, m, a2);
      a2 = _mm256_fmadd_ps(a2, m, a3);
      a3 = _mm256_fmadd_ps(a3, m, a0);
    }
  }
  float v[8];
  _mm256_storeu_ps(v, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  return v[0] + v[7];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: overlap burst work [prefetch_floats]\n");
    return 2;
  }
  const size_t burst = std::strtoul(argv[1], nullptr, 10);
  const int work = std::atoi(argv[2]);
  const size_t prefetch = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 0;
  if (burst < 32 || burst % 32 != 0 || work < 0) {
    std::fprintf(stderr, "burst: a multiple of 32 floats; work >= 0\n");
    return 2;
  }
  std::vector<float> big(size_t(64) << 18), hot(50176 / burst * burst + burst);  // 64 MB; one 224 x 224 image
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 1000) * 1e-3f;
  for (size_t i = 0; i < hot.size(); ++i) hot[i] = static_cast<float>(i % 1000) * 1e-3f;
  double memory = 1e30, arithmetic = 1e30, read = 1e30;
  for (int rep = 0; rep < 11; ++rep) {  // interleaved
    double t = now();
    sink = bursts(big.data(), big.size(), burst, work, prefetch);
    memory = std::min(memory, now() - t);
    t = now();
    for (size_t done = 0; done < big.size(); done += hot.size()) sink = bursts(hot.data(), hot.size(), burst, work, 0);
    arithmetic = std::min(arithmetic, now() - t);
    t = now();
    sink = bursts(big.data(), big.size(), burst, 0, 0);
    read = std::min(read, now() - t);
  }
  std::printf("burst %zu work %d prefetch %zu: memory %.0f us, read alone %.0f us, arithmetic alone %.0f us; "
              "memory_over_sum %.2f memory_over_max %.2f\n",
              burst, work, prefetch, memory * 1e6, read * 1e6, arithmetic * 1e6, memory / (read + arithmetic),
              memory / std::max(read, arithmetic));
}
