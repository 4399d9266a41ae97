// The addon's sgemm entry point (row-major, library chosen at run time), shared by the GEMM and linear kernels.
#pragma once

#include <cstdint>

namespace itpn {

/** C = alpha·op(A)·op(B) + beta·C, row-major; single-threaded when called inside an OpenMP parallel region. */
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/** True while oneDNN (not OpenBLAS) is the GEMM library. */
bool gemmUsesOneDnn();

/** True while GEMM inputs are rounded to bfloat16 (setGemmPrecision; only with oneDNN). */
bool gemmUsesBf16();

/** Products smaller than this many multiply-adds stay float32 in bf16 mode (conversion would cost more). */
constexpr int64_t kBf16MinMacs = 64LL * 64 * 64;

/** Whether a product of `macs` multiply-adds runs on bfloat16 inputs now. */
inline bool bf16For(int64_t macs) { return gemmUsesBf16() && macs >= kBf16MinMacs; }

}  // namespace itpn
