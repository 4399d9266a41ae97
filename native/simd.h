// Run-time ISA dispatch for the compute-bound row kernels of simd_rows.inc (baseline SSE4.2 or AVX2+FMA).
#pragma once

#include <cstdint>

namespace itpn {

/** 0 = baseline (x86-64-v2), 1 = AVX2+FMA, 2 = AVX-512 (F/BW/DQ/VL). Chosen from CPUID at load; lowered by setSimdLevel (tests). */
int simdLevel();
/** Sets the level, clamped to what the CPU supports; returns the level in force. */
int setSimdLevel(int level);

void geluRows(const float* x, float* y, int64_t n);
void geluGradRows(const float* x, float* y, int64_t n);
/** dx = dy·gelu'(x); also y = gelu(x) when y is not null. */
void geluBackwardRows(const float* x, const float* dy, float* dx, float* y, int64_t n);
void erfRows(const float* x, float* y, int64_t n);
void sigmoidRows(const float* x, float* y, int64_t n);
void softmaxRowFinite(const float* x, float* y, int64_t n, float m);
/** Softmax of any row (softmax.cc): the vector path when the maximum is finite, else the scalar definition; y may be x. */
void softmaxRowAny(const float* x, float* y, int64_t n);
/** dx = y ⊙ (dy − Σ dy⊙y) for one row (softmax backward; the attention kernels' ds), the sum in double; dx may be dy. */
void softmaxBackwardRows(const float* y, const float* dy, float* dx, int64_t n);
void logSoftmaxRowFinite(const float* x, float* y, int64_t n, float m);
void logSoftmaxBackwardRowAny(const float* y, const float* dy, float* dx, int64_t n);
float rowMaxAny(const float* x, int64_t n);
/** acc[i] += Σ_{k < r} x[k·ld + i] for i < w (double accumulators). */
void sumColumns(const float* x, int64_t ld, int64_t r, int64_t w, double* acc);
void layerNormRows(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd, int64_t r0,
                   int64_t r1, int64_t cols, double eps);
void layerNormBackwardRows(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                           float* dx, double* aw, double* ab, int64_t r0, int64_t r1, int64_t cols, bool accumulate);

/** The per-step constants of an AdamW update (adamw.cc derives them from lr, betas, eps, decay, bias corrections). */
struct AdamWStep {
  float decay, b1, c1, b2, c2, stepSize, invSqrtBc2, eps;
};
/** One AdamW update of n parameters in place (p, m, v), single-threaded. */
void adamwRows(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s);

/** float → bfloat16 bits (round to nearest even), single-threaded. */
void toBf16Rows(const float* x, uint16_t* y, int64_t n);

}  // namespace itpn
