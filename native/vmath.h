// Branch-free float32 math that GCC can vectorise (plain arithmetic, selects and bit casts, no libm calls):
// exp for softmax/sigmoid/GELU and the error function for the exact (erf-based) GELU.
// Accuracy: a few ulp (max relative error about 3e-7), far inside the project's 1e-4 model tolerance.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace itpn {

__attribute__((always_inline)) inline float bitsToFloat(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

/**
 * e^x for x <= 88.37 (the arguments this project needs are all <= 0: x - max, -|x|, -z²).
 * Returns +inf above 88.37 and 0 below -87.33 (no subnormal results). NaN propagates.
 */
__attribute__((always_inline)) inline float fexp(float x) {
  const float lo = -87.33654f, hi = 88.37f;
  // Clamp with the comparisons written so a NaN lands on `lo` (keeps the int conversion below defined).
  float xc = x > lo ? x : lo;
  xc = xc < hi ? xc : hi;
  // x = n·ln2 + r, |r| <= ln2/2; round-to-nearest via the 1.5·2^23 trick (exact for |t| < 2^22).
  const float t = xc * 1.44269504088896341f;
  const float nf = (t + 12582912.0f) - 12582912.0f;
  float r = xc - nf * 0.693145751953125f;  // ln2 split: high part exact in 16 bits
  r = r - nf * 1.428606765330187045e-06f;
  // Taylor polynomial of e^r to degree 7 (truncation error < 2.5e-9 on |r| <= 0.347).
  float p = 1.9841270e-4f;
  p = p * r + 1.3888889e-3f;
  p = p * r + 8.3333333e-3f;
  p = p * r + 4.1666667e-2f;
  p = p * r + 1.6666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t n = static_cast<int32_t>(nf);  // in [-126, 127]
  float res = p * bitsToFloat(static_cast<int32_t>(static_cast<uint32_t>(n + 127) << 23));
  res = x < lo ? 0.0f : res;
  res = x > hi ? INFINITY : res;
  res = x != x ? x : res;
  return res;
}

/**
 * Shared core of erf and GELU: for z, returns Φ-style pieces
 *   e  = exp(-z²)
 *   cdf2 = 1 + erf(z)   (computed without cancellation for negative z)
 * Coefficients are our own weighted least-squares fits:
 *   |z| < 1:  erf(z) = z·P(z²), degree 6 in z²;
 *   |z| >= 1: erfc(|z|) = exp(-z²)·Q(t), t = 1/(1 + |z|/2), degree 9 in t (relative error ~3e-7 in float).
 */
__attribute__((always_inline)) inline float erfSmallPoly(float u) {
  float p = 7.8472591311e-05f;
  p = p * u + -8.0081893243e-04f;
  p = p * u + 5.1880988895e-03f;
  p = p * u + -2.6853691100e-02f;
  p = p * u + 1.1283582248e-01f;
  p = p * u + -3.7612625567e-01f;
  p = p * u + 1.1283791657e+00f;
  return p;
}

__attribute__((always_inline)) inline float erfcxPoly(float t) {
  float q = -6.4525550454e-02f;
  q = q * t + 3.1566393309e-01f;
  q = q * t + -5.5557826734e-01f;
  q = q * t + 3.5751201048e-01f;
  q = q * t + -8.1254308082e-02f;
  q = q * t + 2.2589654648e-01f;
  q = q * t + 2.3699799353e-01f;
  q = q * t + 2.8333437289e-01f;
  q = q * t + 2.8200487110e-01f;
  q = q * t + 2.8556346964e-06f;
  return q;
}

/** erfc(a) for a >= 1, given e = exp(-a²). Inputs above 10 clamp (the result is 0 in float there anyway). */
__attribute__((always_inline)) inline float erfcLarge(float a, float e) {
  const float ac = a > 10.0f ? 10.0f : a;
  const float t = 1.0f / (1.0f + 0.5f * ac);
  return e * erfcxPoly(t);
}

__attribute__((always_inline)) inline float ferf(float z) {
  const float a = std::fabs(z);
  const float small = z * erfSmallPoly(z * z);
  const float e = fexp(-(z * z));
  const float big = 1.0f - erfcLarge(a, e);
  const float bigSigned = z < 0.0f ? -big : big;
  float r = a < 1.0f ? small : bigSigned;
  r = z != z ? z : r;
  return r;
}

/**
 * erfc(a)·exp(a²) for a >= 0 (clamped at 10) as one polynomial in t = 1/(1 + a/2) over the whole range (our own
 * weighted least-squares fit, relative error ~3e-7 in float). Unlike erfcxPoly above it covers a < 1 too, which Φ
 * can afford: Φ near 0.5 needs no relative precision in erfc, where erf(z) near 0 would.
 */
__attribute__((always_inline)) inline float erfcxAll(float a) {
  const float ac = a > 10.0f ? 10.0f : a;
  const float t = 1.0f / (1.0f + 0.5f * ac);
  float q = -5.5056843907e-02f;
  q = q * t + 2.6392894983e-01f;
  q = q * t + -4.4152888656e-01f;
  q = q * t + 2.2124724090e-01f;
  q = q * t + 1.7040172592e-02f;
  q = q * t + 1.8126545846e-01f;
  q = q * t + 2.4978952110e-01f;
  q = q * t + 2.8109902143e-01f;
  q = q * t + 2.8222131729e-01f;
  q = q * t + -6.0100232986e-06f;
  return q;
}

/** Φ(x) (standard normal CDF) and φ(x)·√(2π) = exp(-x²/2), for GELU and its derivative; one branch for all x. */
__attribute__((always_inline)) inline void normCdf(float x, float& cdf, float& expHalfSq) {
  const float z = x * 0.7071067811865476f;
  const float e = fexp(-(z * z));
  const float ec = e * erfcxAll(std::fabs(z));  // erfc(|z|)
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
