// Which build of the CPU kernels this processor runs.
#include <cstdlib>
#include <string>

#include "kernels.h"

namespace parity_kernels {

// PARITY_KERNELS_CPU_ISA=generic forces the baseline kernel (tests use it to cover both).
bool has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool yes = [] {
    const char* isa = std::getenv("PARITY_KERNELS_CPU_ISA");
    if (isa && std::string(isa) == "generic") return false;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }();
  return yes;
#else
  return false;
#endif
}

}  // namespace parity_kernels
