// Layer normalisation over the last axis of [rows, cols] and its backward pass: argument checks and threading
// here, the row loops in simd_rows.inc (ISA-dispatched: they accumulate in double, which the 8-wide AVX-512
// double lanes make cheap). Row statistics and the weight/bias gradients are accumulated in double.
#include <cmath>
#include <vector>

#include "common.h"
#include "simd.h"

namespace itpn {

// layerNorm(x, weight|null, bias|null, out, mean, rstd, rows, cols, eps)
static void LayerNorm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 x = argF32(info, 0, "x");
  const F32 w = argF32Opt(info, 1, "weight");
  const F32 b = argF32Opt(info, 2, "bias");
  const F32 out = argF32(info, 3, "out");
  const F32 mean = argF32(info, 4, "mean");
  const F32 rstd = argF32(info, 5, "rstd");
  const int64_t rows = argNonNeg(info, 6, "rows"), cols = argNonNeg(info, 7, "cols");
  const double eps = argNum(info, 8, "eps");
  check(x.n == rows * cols && out.n == rows * cols, env, "layerNorm: x/out size is not rows*cols");
  check(mean.n == rows && rstd.n == rows, env, "layerNorm: mean/rstd size is not rows");
  check(!w.p || w.n == cols, env, "layerNorm: weight size is not cols");
  check(!b.p || b.n == cols, env, "layerNorm: bias size is not cols");
  parallelChunks(rows, threadsFor(rows * cols), 1, [&](int, int64_t lo, int64_t hi) {
    layerNormRows(x.p, w.p, b.p, out.p, mean.p, rstd.p, lo, hi, cols, eps);
  });
}

// layerNormBackward(dy, x, weight|null, mean, rstd, dx, dweight|null, dbias|null, rows, cols[, accumulate]):
// with accumulate true, dx += the input gradient (dx holds the input's other gradient) instead of dx =
static void LayerNormBackward(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 dy = argF32(info, 0, "dy");
  const F32 x = argF32(info, 1, "x");
  const F32 w = argF32Opt(info, 2, "weight");
  const F32 mean = argF32(info, 3, "mean");
  const F32 rstd = argF32(info, 4, "rstd");
  const F32 dx = argF32(info, 5, "dx");
  const F32 dw = argF32Opt(info, 6, "dweight");
  const F32 db = argF32Opt(info, 7, "dbias");
  const int64_t rows = argNonNeg(info, 8, "rows"), cols = argNonNeg(info, 9, "cols");
  const bool accumulate = info.Length() > 10 && info[10].ToBoolean().Value();
  check(dy.n == rows * cols && x.n == rows * cols && dx.n == rows * cols, env,
        "layerNormBackward: dy/x/dx size is not rows*cols");
  check(mean.n == rows && rstd.n == rows, env, "layerNormBackward: mean/rstd size is not rows");
  check(!w.p || w.n == cols, env, "layerNormBackward: weight size is not cols");
  check(!dw.p || dw.n == cols, env, "layerNormBackward: dweight size is not cols");
  check(!db.p || db.n == cols, env, "layerNormBackward: dbias size is not cols");
  const bool wantDw = dw.p != nullptr, wantDb = db.p != nullptr;
  const int nt = threadsFor(rows * cols);
  // dweight and dbias: per-thread double accumulators, reduced in thread order afterwards
  ThreadPartials accW(wantDw ? nt : 0, cols), accB(wantDb ? nt : 0, cols);
  parallelChunks(rows, nt, 1, [&](int t, int64_t lo, int64_t hi) {
    layerNormBackwardRows(dy.p, x.p, w.p, mean.p, rstd.p, dx.p, wantDw ? accW.of(t) : nullptr,
                          wantDb ? accB.of(t) : nullptr, lo, hi, cols, accumulate);
  });
  if (wantDw) accW.sumInto(dw.p);
  if (wantDb) accB.sumInto(db.p);
}

void registerLayerNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm, "layerNorm"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
}

}  // namespace itpn
