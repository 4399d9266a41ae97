// Lanes [i, i + 16) of a row of n floats: all ones but past the end (the masked tail of a row).
// Plain integer code (no AVX-512 instruction), shared by the AVX-512 kernel files.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace itpn {

inline __mmask16 tailMask(int64_t i, int64_t n) {
  return n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
}

}  // namespace itpn
