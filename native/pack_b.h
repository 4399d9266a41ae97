// Packing a plain row-major B operand into the blocked layout that oneDNN's float32 AVX-512 brgemm matmul reads.
#pragma once

#include <dnnl.hpp>

#include <cstdint>

namespace itpn {

/**
 * True when `packed` is the layout packBlocked16x64 writes for a [K, N] float32 operand: 64-column panels, each a
 * run of 16-row × 64-column blocks stored row by row, K padded to 16 and N to 64 (oneDNN's "BA16a64b").
 */
bool isBlocked16x64(const dnnl::memory::desc& packed, int64_t K, int64_t N);

/**
 * dst[nb][kb][ki][ni] = B[kb·16 + ki][nb·64 + ni] for B [K, N] row-major at row stride ldb, zero where padded; dst
 * 64-byte aligned. Split across the threads by 16-row blocks.
 */
void packBlocked16x64(const float* B, int64_t ldb, int64_t K, int64_t N, float* dst);

}  // namespace itpn
