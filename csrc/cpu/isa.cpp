// Which build of the CPU kernels this processor runs.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels.h"

namespace parity_kernels {

namespace {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3 };

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the registers (XCR0).
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")))
    return Isa::Generic;
  if (!__builtin_cpu_supports("avx512f")) return Isa::Avx2;
  const bool bf16 = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl");
  return bf16 ? Isa::Avx512Bf16 : Isa::Avx512;
#else
  return Isa::Generic;
#endif
}

// PARITY_KERNELS_CPU_ISA caps the instruction set; anything else in it is an error
// (raised as ValueError by the first kernel call) rather than a silent default.
Isa chosen() {
  static const Isa isa = [] {
    const Isa best = detect();
    const char* cap = std::getenv("PARITY_KERNELS_CPU_ISA");
    if (!cap || !*cap) return best;
    const std::string name(cap);
    Isa limit;
    if (name == "generic") {
      limit = Isa::Generic;
    } else if (name == "avx2") {
      limit = Isa::Avx2;
    } else if (name == "avx512") {
      limit = Isa::Avx512;
    } else if (name == "avx512bf16") {
      limit = Isa::Avx512Bf16;
    } else {
      throw std::invalid_argument("PARITY_KERNELS_CPU_ISA: expected generic, avx2, avx512 or avx512bf16, got " + name);
    }
    return static_cast<int>(limit) < static_cast<int>(best) ? limit : best;
  }();
  return isa;
}

}  // namespace

bool has_avx2() { return chosen() >= Isa::Avx2; }
bool has_avx512() { return chosen() >= Isa::Avx512; }
bool has_avx512_bf16() { return chosen() == Isa::Avx512Bf16; }

const char* cpu_isa() {
  switch (chosen()) {
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace parity_kernels
