// Compiles simd_rows.inc for the baseline target, again for AVX2+FMA and again for AVX-512, and dispatches at run
// time, so the addon built with -march=x86-64-v2 still runs everywhere but uses 8- or 16-wide vectors where the
// CPU has them.
#include "simd.h"

#include <cmath>
#include <limits>

#include "common.h"
#include "vmath.h"

namespace itpn {

namespace base {
#include "simd_rows.inc"
}  // namespace base

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "simd_rows.inc"
}  // namespace avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,prefer-vector-width=512")
namespace avx512 {
#include "simd_rows.inc"
}  // namespace avx512
#pragma GCC pop_options

static int detectLevel() {
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return avx512 ? 2 : 1;
}

static const int kMaxLevel = detectLevel();
static int gLevel = kMaxLevel;

int simdLevel() { return gLevel; }

int setSimdLevel(int level) {
  gLevel = level < 0 ? 0 : (level > kMaxLevel ? kMaxLevel : level);
  return gLevel;
}

#define ITPN_DISPATCH(call) (gLevel >= 2 ? avx512::call : gLevel == 1 ? avx2::call : base::call)

// gelu_avx512.cc: the GELU kernels written out in AVX-512 intrinsics (the same results in fewer operations than the
// vectorised vmath.h code, which the AVX2 and baseline builds keep)
void geluRowAvx512(const float* x, float* y, int64_t n);
void geluGradRowAvx512(const float* x, float* y, int64_t n);
void geluBackwardRowAvx512(const float* x, const float* dy, float* dx, float* y, int64_t n);

void geluRows(const float* x, float* y, int64_t n) {
  if (gLevel >= 2) geluRowAvx512(x, y, n);
  else ITPN_DISPATCH(geluRow(x, y, n));
}
void adamwRows(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  ITPN_DISPATCH(adamwRow(p, g, m, v, n, s));
}
void geluGradRows(const float* x, float* y, int64_t n) {
  if (gLevel >= 2) geluGradRowAvx512(x, y, n);
  else ITPN_DISPATCH(geluGradRow(x, y, n));
}
void geluBackwardRows(const float* x, const float* dy, float* dx, float* y, int64_t n) {
  if (gLevel >= 2) geluBackwardRowAvx512(x, dy, dx, y, n);
  else if (y) ITPN_DISPATCH(geluBackwardRowY(x, dy, dx, y, n));
  else ITPN_DISPATCH(geluBackwardRow(x, dy, dx, n));
}
void erfRows(const float* x, float* y, int64_t n) { ITPN_DISPATCH(erfRow(x, y, n)); }
void toBf16Rows(const float* x, uint16_t* y, int64_t n) { ITPN_DISPATCH(toBf16Row(x, y, n)); }
void sigmoidRows(const float* x, float* y, int64_t n) { ITPN_DISPATCH(sigmoidRow(x, y, n)); }
void softmaxRowFinite(const float* x, float* y, int64_t n, float m) { ITPN_DISPATCH(softmaxRow(x, y, n, m)); }
void softmaxBackwardRows(const float* y, const float* dy, float* dx, int64_t n) { ITPN_DISPATCH(softmaxBackwardRow(y, dy, dx, n)); }
void logSoftmaxRowFinite(const float* x, float* y, int64_t n, float m) { ITPN_DISPATCH(logSoftmaxRow(x, y, n, m)); }
void logSoftmaxBackwardRowAny(const float* y, const float* dy, float* dx, int64_t n) {
  ITPN_DISPATCH(logSoftmaxBackwardRow(y, dy, dx, n));
}
float rowMaxAny(const float* x, int64_t n) { return ITPN_DISPATCH(rowMaxF(x, n)); }
void sumColumns(const float* x, int64_t ld, int64_t r, int64_t w, double* acc) { ITPN_DISPATCH(sumColumnsD(x, ld, r, w, acc)); }
void layerNormRows(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd, int64_t r0,
                   int64_t r1, int64_t cols, double eps) {
  ITPN_DISPATCH(layerNormRowRange(x, w, b, out, mean, rstd, r0, r1, cols, eps));
}
void layerNormBackwardRows(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                           float* dx, double* aw, double* ab, int64_t r0, int64_t r1, int64_t cols, bool accumulate) {
  ITPN_DISPATCH(layerNormBackwardRowRange(dy, x, w, mean, rstd, dx, aw, ab, r0, r1, cols, accumulate));
}

// simdLevel() / setSimdLevel(level) for JS (tests run both code paths).
static Napi::Value SimdLevelJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), simdLevel());
}
static Napi::Value SetSimdLevelJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), setSimdLevel(static_cast<int>(argInt(info, 0, "level"))));
}

void registerSimd(Napi::Env env, Napi::Object exports) {
  exports.Set("simdLevel", Napi::Function::New(env, SimdLevelJs, "simdLevel"));
  exports.Set("setSimdLevel", Napi::Function::New(env, SetSimdLevelJs, "setSimdLevel"));
}

}  // namespace itpn
