// Compiles simd_rows.inc for the baseline target and again for AVX2+FMA, and dispatches at run time, so the
// addon built with -march=x86-64-v2 still runs everywhere but uses 8-wide vectors where the CPU has them.
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

static int detectLevel() {
  __builtin_cpu_init();
  return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
}

static const int kMaxLevel = detectLevel();
static int gLevel = kMaxLevel;

int simdLevel() { return gLevel; }

int setSimdLevel(int level) {
  gLevel = level < 0 ? 0 : (level > kMaxLevel ? kMaxLevel : level);
  return gLevel;
}

#define ITPN_DISPATCH(call) (gLevel >= 1 ? avx2::call : base::call)

void geluRows(const float* x, float* y, int64_t n) { ITPN_DISPATCH(geluRow(x, y, n)); }
void geluGradRows(const float* x, float* y, int64_t n) { ITPN_DISPATCH(geluGradRow(x, y, n)); }
void erfRows(const float* x, float* y, int64_t n) { ITPN_DISPATCH(erfRow(x, y, n)); }
void sigmoidRows(const float* x, float* y, int64_t n) { ITPN_DISPATCH(sigmoidRow(x, y, n)); }
void softmaxRowFinite(const float* x, float* y, int64_t n, float m) { ITPN_DISPATCH(softmaxRow(x, y, n, m)); }
void logSoftmaxRowFinite(const float* x, float* y, int64_t n, float m) { ITPN_DISPATCH(logSoftmaxRow(x, y, n, m)); }
void logSoftmaxBackwardRowAny(const float* y, const float* dy, float* dx, int64_t n) {
  ITPN_DISPATCH(logSoftmaxBackwardRow(y, dy, dx, n));
}
float rowMaxAny(const float* x, int64_t n) { return ITPN_DISPATCH(rowMaxF(x, n)); }

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
