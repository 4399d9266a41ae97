// oneDNN matmul primitives (brgemm kernels), built once per shape and kept: the GEMM path for Linear layers (bias
// and residual fused into the output tiles) and for the products where oneDNN's sgemm is slow.
#pragma once

#include <cstdint>

namespace itpn {

/**
 * C [M, N] = act(op(A)·op(B) + bias [N]) + residual [M, N], act the identity or the exact (erf) GELU (row-major; bias
 * and residual optional, C aliases neither). Returns nullptr, or oneDNN's error message.
 */
const char* onednnMatmul(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                         const float* bias, const float* residual, float* C, bool gelu = false);

}  // namespace itpn
