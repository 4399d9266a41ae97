// Layer normalisation over the last axis of [rows, cols] and its backward pass.
// Row statistics and the weight/bias gradients are accumulated in double.
#include <cmath>
#include <vector>

#include "common.h"

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
  if (rows == 0) return;
  const float* wp = w.p;
  const float* bp = b.p;
  const int nt = threadsFor(rows * cols);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x.p + r * cols;
    float* yr = out.p + r * cols;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < cols; i++) s += static_cast<double>(xr[i]);
    const double mu = cols > 0 ? s / static_cast<double>(cols) : 0.0;
    double v = 0.0;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < cols; i++) {
      const double d = static_cast<double>(xr[i]) - mu;
      v += d * d;
    }
    const double var = cols > 0 ? v / static_cast<double>(cols) : 0.0;
    const double rs = 1.0 / std::sqrt(var + eps);
    mean.p[r] = static_cast<float>(mu);
    rstd.p[r] = static_cast<float>(rs);
    const float muf = static_cast<float>(mu), rsf = static_cast<float>(rs);
    if (wp && bp) {
#pragma omp simd
      for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - muf) * rsf * wp[i] + bp[i];
    } else if (wp) {
#pragma omp simd
      for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - muf) * rsf * wp[i];
    } else if (bp) {
#pragma omp simd
      for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - muf) * rsf + bp[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - muf) * rsf;
    }
  }
}

// layerNormBackward(dy, x, weight|null, mean, rstd, dx, dweight|null, dbias|null, rows, cols)
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
  check(dy.n == rows * cols && x.n == rows * cols && dx.n == rows * cols, env,
        "layerNormBackward: dy/x/dx size is not rows*cols");
  check(mean.n == rows && rstd.n == rows, env, "layerNormBackward: mean/rstd size is not rows");
  check(!w.p || w.n == cols, env, "layerNormBackward: weight size is not cols");
  check(!dw.p || dw.n == cols, env, "layerNormBackward: dweight size is not cols");
  check(!db.p || db.n == cols, env, "layerNormBackward: dbias size is not cols");
  const bool wantDw = dw.p != nullptr, wantDb = db.p != nullptr;
  const int nt = threadsFor(rows * cols);
  // Per-thread double accumulators for dweight and dbias, reduced in thread order afterwards.
  std::vector<double> accW(wantDw ? static_cast<size_t>(nt) * cols : 0, 0.0);
  std::vector<double> accB(wantDb ? static_cast<size_t>(nt) * cols : 0, 0.0);
  const float* wp = w.p;
  const double invC = cols > 0 ? 1.0 / static_cast<double>(cols) : 0.0;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t chunk = (rows + T - 1) / T;
    const int64_t lo = t * chunk, hi = lo + chunk < rows ? lo + chunk : rows;
    double* aw = wantDw ? accW.data() + static_cast<size_t>(t) * cols : nullptr;
    double* ab = wantDb ? accB.data() + static_cast<size_t>(t) * cols : nullptr;
    for (int64_t r = lo; r < hi; r++) {
      const float* xr = x.p + r * cols;
      const float* gr = dy.p + r * cols;
      float* dr = dx.p + r * cols;
      const float mu = mean.p[r], rs = rstd.p[r];
      double sg = 0.0, sgx = 0.0;
      if (wp) {
#pragma omp simd reduction(+ : sg, sgx)
        for (int64_t i = 0; i < cols; i++) {
          const double g = static_cast<double>(gr[i]) * static_cast<double>(wp[i]);
          const double xh = (static_cast<double>(xr[i]) - mu) * rs;
          sg += g;
          sgx += g * xh;
        }
      } else {
#pragma omp simd reduction(+ : sg, sgx)
        for (int64_t i = 0; i < cols; i++) {
          const double g = static_cast<double>(gr[i]);
          const double xh = (static_cast<double>(xr[i]) - mu) * rs;
          sg += g;
          sgx += g * xh;
        }
      }
      const float mg = static_cast<float>(sg * invC), mgx = static_cast<float>(sgx * invC);
      if (wp) {
#pragma omp simd
        for (int64_t i = 0; i < cols; i++) {
          const float xh = (xr[i] - mu) * rs;
          dr[i] = rs * (gr[i] * wp[i] - mg - xh * mgx);
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < cols; i++) {
          const float xh = (xr[i] - mu) * rs;
          dr[i] = rs * (gr[i] - mg - xh * mgx);
        }
      }
      if (aw) {
#pragma omp simd
        for (int64_t i = 0; i < cols; i++) {
          aw[i] += static_cast<double>(gr[i]) * ((static_cast<double>(xr[i]) - mu) * rs);
        }
      }
      if (ab) {
#pragma omp simd
        for (int64_t i = 0; i < cols; i++) ab[i] += static_cast<double>(gr[i]);
      }
    }
  }
  if (wantDw) {
    for (int64_t i = 0; i < cols; i++) {
      double s = 0.0;
      for (int t = 0; t < nt; t++) s += accW[static_cast<size_t>(t) * cols + i];
      dw.p[i] = static_cast<float>(s);
    }
  }
  if (wantDb) {
    for (int64_t i = 0; i < cols; i++) {
      double s = 0.0;
      for (int t = 0; t < nt; t++) s += accB[static_cast<size_t>(t) * cols + i];
      db.p[i] = static_cast<float>(s);
    }
  }
}

void registerLayerNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm, "layerNorm"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
}

}  // namespace itpn
