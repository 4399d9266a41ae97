// oneDNN matmul primitives (brgemm kernels), built once per shape and kept: the GEMM path for Linear layers (bias,
// residual and GELU fused into the output tiles), for the products where oneDNN's sgemm is slow, and for the
// bfloat16 precision mode.
#pragma once

#include <cstdint>

namespace itpn {

/** C [M, N] = act(op(A)·op(B) + bias [N]) + residual [M, N], row-major; A is [M, K] or, transposed, [K, M]. */
struct MatmulCall {
  bool transA = false, transB = false;
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  const float* B = nullptr;
  const float* bias = nullptr;      // optional
  const float* residual = nullptr;  // optional; C aliases neither
  float* C = nullptr;
  bool gelu = false;  // act: the exact (erf) GELU, else the identity
  /** Round A and B to bfloat16 first (AMX / AVX512-BF16 kernels); accumulation and C stay float32. */
  bool bf16 = false;
};

/**
 * Products with at least this many rows get B packed into the kernel's blocked layout by one reorder first (see
 * onednnMatmul): paid back from about 1024 rows, a loss below (the reorder reads and writes all of B).
 */
constexpr int64_t kPackMinRows = 1024;

/**
 * Whether a plain (not transposed) float32 B is packed by packBlocked16x64 (default) or by oneDNN's reorder; the
 * two write the same bytes (tests compare them).
 */
void setOwnPackB(bool own);
bool ownPackB();

/** Runs the product; returns nullptr, or oneDNN's error message. */
const char* onednnMatmul(const MatmulCall& call);

}  // namespace itpn
