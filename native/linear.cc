// Linear layers: the forward product with its bias (and optionally a residual) fused into the GEMM. oneDNN's matmul
// primitive adds the bias, and a residual through a binary post-op, while each output tile is still in registers,
// where the sgemm path first broadcasts the bias into the output (a full write) and then has the GEMM read it back.

#include <string>

#include "common.h"
#include "gemm.h"
#include "onednn_matmul.h"

namespace itpn {

namespace {

/** The sgemm path (OpenBLAS selected): out = residual + bias broadcast, then the GEMM accumulates onto it. */
void linearSgemm(const float* x, const float* w, const float* bias, const float* residual, float* out, int64_t rows,
                 int64_t inF, int64_t outF) {
  const bool init = bias != nullptr || residual != nullptr;
  if (init) {
#pragma omp parallel for num_threads(threadsFor(rows * outF)) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      float* o = out + r * outF;
      const float* res = residual ? residual + r * outF : nullptr;
      for (int64_t j = 0; j < outF; j++) o[j] = (res ? res[j] : 0.0f) + (bias ? bias[j] : 0.0f);
    }
  }
  sgemm(false, true, rows, outF, inF, 1.0f, x, inF, w, inF, init ? 1.0f : 0.0f, out, outF);
}

// linear(x, w, bias|null, residual|null, out, rows, inF, outF): out [rows, outF] = x [rows, inF] · wᵀ (w [outF, inF])
// + bias [outF] + residual [rows, outF]. out must not alias any input.
void Linear(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 x = argF32(info, 0, "x"), w = argF32(info, 1, "w");
  const F32 bias = argF32Opt(info, 2, "bias"), residual = argF32Opt(info, 3, "residual");
  const F32 out = argF32(info, 4, "out");
  const int64_t rows = argNonNeg(info, 5, "rows"), inF = argNonNeg(info, 6, "inF"), outF = argNonNeg(info, 7, "outF");
  check(x.n == rows * inF, env, "linear: x is not [rows, inF]");
  check(w.n == outF * inF, env, "linear: w is not [outF, inF]");
  check(out.n == rows * outF, env, "linear: out is not [rows, outF]");
  check(!bias.p || bias.n == outF, env, "linear: bias is not [outF]");
  check(!residual.p || residual.n == rows * outF, env, "linear: residual is not [rows, outF]");
  if (out.n == 0) return;
  if (inF == 0) {
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < outF; j++)
        out.p[r * outF + j] = (residual.p ? residual.p[r * outF + j] : 0.0f) + (bias.p ? bias.p[j] : 0.0f);
    return;
  }
  if (gemmUsesOneDnn()) {
    const char* err = onednnMatmul(false, true, rows, outF, inF, x.p, w.p, bias.p, residual.p, out.p);
    if (err) fail(env, std::string("linear: oneDNN: ") + err);
  } else {
    linearSgemm(x.p, w.p, bias.p, residual.p, out.p, rows, inF, outF);
  }
}

}  // namespace

void registerLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("linear", Napi::Function::New(env, Linear, "linear"));
}

}  // namespace itpn
