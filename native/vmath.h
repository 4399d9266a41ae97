// Branch-free float32 math that GCC can vectorise (plain arithmetic, selects and bit casts, no libm calls):
// exp for softmax/sigmoid/GELU and the error function for the exact (erf-based) GELU.
// Accuracy: a few ulp (max relative error about 3e-7), far inside the project's 1e-4 model tolerance.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace itpn {

__attribute__((always_inline)) inline float bitsToFloat(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

/** c[0]·tᴺ⁻¹ + … + c[N−1] by Horner's rule, unrolled (N is a constant): every polynomial below. */
template <size_t N>
__attribute__((always_inline)) inline float horner(float t, const float (&c)[N]) {
  float q = c[0];
#pragma GCC unroll 16
  for (size_t k = 1; k < N; k++) q = q * t + c[k];
  return q;
}

// Taylor polynomial of e^r to degree 7 (truncation error < 2.5e-9 on |r| <= 0.347).
inline constexpr float kExpTaylor[] = {1.9841270e-4f, 1.3888889e-3f, 8.3333333e-3f, 4.1666667e-2f,
                                       1.6666667e-1f, 0.5f,          1.0f,          1.0f};
// e^x's range reduction x = n·ln2 + r (shared with the AVX-512 attention's expNonPositive16): below kExpLo the result
// would be subnormal and is 0; ln2 split in two, the high part exact in 16 bits.
inline constexpr float kExpLo = -87.33654f, kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187045e-06f;

/**
 * e^x for x <= 88.37 (the arguments this project needs are all <= 0: x - max, -|x|, -z²).
 * Returns +inf above 88.37 and 0 below -87.33 (no subnormal results). NaN propagates.
 */
__attribute__((always_inline)) inline float fexp(float x) {
  const float lo = kExpLo, hi = 88.37f;
  // Clamp with the comparisons written so a NaN lands on `lo` (keeps the int conversion below defined).
  float xc = x > lo ? x : lo;
  xc = xc < hi ? xc : hi;
  // x = n·ln2 + r, |r| <= ln2/2; round-to-nearest via the 1.5·2^23 trick (exact for |t| < 2^22).
  const float t = xc * kLog2e;
  const float nf = (t + 12582912.0f) - 12582912.0f;
  float r = xc - nf * kLn2Hi;
  r = r - nf * kLn2Lo;
  const float p = horner(r, kExpTaylor);
  const int32_t n = static_cast<int32_t>(nf);  // in [-126, 127]
  float res = p * bitsToFloat(static_cast<int32_t>(static_cast<uint32_t>(n + 127) << 23));
  res = x < lo ? 0.0f : res;
  res = x > hi ? INFINITY : res;
  res = x != x ? x : res;
  return res;
}

/*
 * The error function and Φ from our own weighted least-squares fits:
 *   erf(z) = z·P(z²) for |z| < 1, degree 6 in z² (kErfSmall);
 *   erfc(a) = exp(-a²)·Q(t), t = 1/(1 + a/2), degree 9 in t: kErfcxLarge fitted on a >= 1 (for erf, whose small
 *   branch covers the rest) and kErfcxAll on every a >= 0 (for Φ, which near 0.5 needs no relative precision in erfc,
 *   where erf(z) near 0 would). Relative error ~3e-7 in float.
 */
inline constexpr float kErfSmall[] = {7.8472591311e-05f, -8.0081893243e-04f, 5.1880988895e-03f, -2.6853691100e-02f,
                                      1.1283582248e-01f, -3.7612625567e-01f, 1.1283791657e+00f};
inline constexpr float kErfcxLarge[] = {-6.4525550454e-02f, 3.1566393309e-01f, -5.5557826734e-01f, 3.5751201048e-01f,
                                        -8.1254308082e-02f, 2.2589654648e-01f, 2.3699799353e-01f,  2.8333437289e-01f,
                                        2.8200487110e-01f,  2.8556346964e-06f};
inline constexpr float kErfcxAll[] = {-5.5056843907e-02f, 2.6392894983e-01f, -4.4152888656e-01f, 2.2124724090e-01f,
                                      1.7040172592e-02f,  1.8126545846e-01f, 2.4978952110e-01f,  2.8109902143e-01f,
                                      2.8222131729e-01f,  -6.0100232986e-06f};

/** t = 1/(1 + a/2) for a >= 0, a clamped at 10 (erfc is 0 in float beyond): the variable of both erfc fits. */
__attribute__((always_inline)) inline float erfcArg(float a) {
  const float ac = a > 10.0f ? 10.0f : a;
  return 1.0f / (1.0f + 0.5f * ac);
}

__attribute__((always_inline)) inline float ferf(float z) {
  const float a = std::fabs(z);
  const float small = z * horner(z * z, kErfSmall);
  const float e = fexp(-(z * z));
  const float big = 1.0f - e * horner(erfcArg(a), kErfcxLarge);  // 1 − erfc(|z|)
  const float bigSigned = z < 0.0f ? -big : big;
  float r = a < 1.0f ? small : bigSigned;
  r = z != z ? z : r;
  return r;
}

/** Φ(x) (standard normal CDF) and φ(x)·√(2π) = exp(-x²/2), for GELU and its derivative; one branch for all x. */
__attribute__((always_inline)) inline void normCdf(float x, float& cdf, float& expHalfSq) {
  const float z = x * 0.7071067811865476f;
  const float e = fexp(-(z * z));
  const float ec = e * horner(erfcArg(std::fabs(z)), kErfcxAll);  // erfc(|z|)
  cdf = z < 0.0f ? 0.5f * ec : 1.0f - 0.5f * ec;
  expHalfSq = e;
}

/** Exact GELU: x·Φ(x) = 0.5·x·(1 + erf(x/√2)). */
__attribute__((always_inline)) inline float fgelu(float x) {
  float cdf, e;
  normCdf(x, cdf, e);
  return x * cdf;
}

/** d/dx GELU = Φ(x) + x·φ(x). */
__attribute__((always_inline)) inline float fgeluGrad(float x) {
  float cdf, e;
  normCdf(x, cdf, e);
  return cdf + x * e * 0.3989422804014327f;
}

__attribute__((always_inline)) inline float fsigmoid(float x) {
  const float e = fexp(-std::fabs(x));
  const float inv = 1.0f / (1.0f + e);
  return x >= 0.0f ? inv : e * inv;
}

}  // namespace itpn
