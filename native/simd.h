// Run-time ISA dispatch for the compute-bound row kernels of simd_rows.inc (baseline SSE4.2 or AVX2+FMA).
#pragma once

#include <cstdint>

namespace itpn {

/** 0 = baseline (x86-64-v2), 1 = AVX2+FMA. Chosen from CPUID at load; lowered by setSimdLevel (tests). */
int simdLevel();
/** Sets the level, clamped to what the CPU supports; returns the level in force. */
int setSimdLevel(int level);

void geluRows(const float* x, float* y, int64_t n);
void geluGradRows(const float* x, float* y, int64_t n);
void erfRows(const float* x, float* y, int64_t n);
void sigmoidRows(const float* x, float* y, int64_t n);
void softmaxRowFinite(const float* x, float* y, int64_t n, float m);
void logSoftmaxRowFinite(const float* x, float* y, int64_t n, float m);
void logSoftmaxBackwardRowAny(const float* y, const float* dy, float* dx, int64_t n);
float rowMaxAny(const float* x, int64_t n);

}  // namespace itpn
