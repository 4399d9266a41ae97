// One AdamW step (decoupled weight decay, as torch.optim.AdamW), in place on param, m and v.
#include <cmath>

#include "common.h"

namespace itpn {

// adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2)
static void AdamW(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 p = argF32(info, 0, "param");
  const F32 g = argF32(info, 1, "grad");
  const F32 m = argF32(info, 2, "m");
  const F32 v = argF32(info, 3, "v");
  check(g.n == p.n && m.n == p.n && v.n == p.n, env, "adamw: param, grad, m and v sizes differ");
  const double lr = argNum(info, 4, "lr");
  const double beta1 = argNum(info, 5, "beta1");
  const double beta2 = argNum(info, 6, "beta2");
  const double eps = argNum(info, 7, "eps");
  const double wd = argNum(info, 8, "weightDecay");
  const double bc1 = argNum(info, 9, "biasCorrection1");
  const double bc2 = argNum(info, 10, "biasCorrection2");
  // param ← param·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
  // param ← param − (lr/bc1)·m / (√v/√bc2 + eps)
  const float decay = static_cast<float>(1.0 - lr * wd);
  const float b1 = static_cast<float>(beta1), c1 = static_cast<float>(1.0 - beta1);
  const float b2 = static_cast<float>(beta2), c2 = static_cast<float>(1.0 - beta2);
  const float stepSize = static_cast<float>(lr / bc1);
  const float invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float epsf = static_cast<float>(eps);
  float* __restrict pp = p.p;
  const float* __restrict gp = g.p;
  float* __restrict mp = m.p;
  float* __restrict vp = v.p;
  const int64_t n = p.n;
  const int nt = threadsFor(n);
#pragma omp parallel for simd num_threads(nt) if (parallel : nt > 1) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = gp[i];
    const float mi = b1 * mp[i] + c1 * gi;
    const float vi = b2 * vp[i] + c2 * gi * gi;
    mp[i] = mi;
    vp[i] = vi;
    const float denom = std::sqrt(vi) * invSqrtBc2 + epsf;
    pp[i] = pp[i] * decay - stepSize * mi / denom;
  }
}

void registerAdamW(Napi::Env env, Napi::Object exports) {
  exports.Set("adamw", Napi::Function::New(env, AdamW, "adamw"));
}

}  // namespace itpn
