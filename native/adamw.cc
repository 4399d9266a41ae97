// One AdamW step (decoupled weight decay, as torch.optim.AdamW), in place on param, m and v.
#include <cmath>

#include "common.h"
#include "simd.h"

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
  AdamWStep s;
  s.decay = static_cast<float>(1.0 - lr * wd);
  s.b1 = static_cast<float>(beta1), s.c1 = static_cast<float>(1.0 - beta1);
  s.b2 = static_cast<float>(beta2), s.c2 = static_cast<float>(1.0 - beta2);
  s.stepSize = static_cast<float>(lr / bc1);
  s.invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  s.eps = static_cast<float>(eps);
  // the row kernel is ISA-dispatched (simd.cc): built for the x86-64-v2 baseline, this loop ran 4 lanes wide, and its
  // square root and division kept it from streaming at memory speed
  parallelChunks(p.n, threadsFor(p.n), 16, [&](int, int64_t lo, int64_t hi) {
    adamwRows(p.p + lo, g.p + lo, m.p + lo, v.p + lo, hi - lo, s);
  });
}

void registerAdamW(Napi::Env env, Napi::Object exports) {
  exports.Set("adamw", Napi::Function::New(env, AdamW, "adamw"));
}

}  // namespace itpn
