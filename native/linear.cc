// Linear layers: the forward product with its bias (and optionally a residual) fused into the GEMM. oneDNN's matmul
// primitive adds the bias, and a residual through a binary post-op, while each output tile is still in registers,
// where the sgemm path first broadcasts the bias into the output (a full write) and then has the GEMM read it back.

#include <string>

#include "common.h"
#include "gemm.h"
#include "onednn_matmul.h"
#include "simd.h"

namespace itpn {

namespace {

/** Fills out with bias broadcast over rows (zeros without a bias). */
void broadcastBias(const float* bias, float* out, int64_t rows, int64_t outF) {
#pragma omp parallel for num_threads(threadsFor(rows * outF)) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t j = 0; j < outF; j++) out[r * outF + j] = bias ? bias[j] : 0.0f;
  }
}

/** GELU in place over n floats, split across the threads. */
void geluInPlace(float* out, int64_t n) {
  parallelChunks(n, threadsFor(n), 16, [&](int, int64_t lo, int64_t hi) { geluRows(out + lo, out + lo, hi - lo); });
}

/** out += residual. */
void addResidual(const float* residual, float* out, int64_t n) {
#pragma omp parallel for simd num_threads(threadsFor(n)) schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] += residual[i];
}

/**
 * The sgemm path (OpenBLAS selected, or K = 0): out = bias broadcast, the GEMM accumulates onto it, then GELU and the
 * residual in separate passes.
 */
void linearSgemm(const float* x, const float* w, const float* bias, const float* residual, float* out, int64_t rows,
                 int64_t inF, int64_t outF, bool gelu) {
  if (bias || inF == 0) broadcastBias(bias, out, rows, outF);
  if (inF > 0) sgemm(false, true, rows, outF, inF, 1.0f, x, inF, w, inF, bias ? 1.0f : 0.0f, out, outF);
  if (gelu) geluInPlace(out, rows * outF);
  if (residual) addResidual(residual, out, rows * outF);
}

// linear(x, w, bias|null, residual|null, out, rows, inF, outF[, activation, xOffset, outOffset]):
// out [rows, outF] = act(x [rows, inF] · wᵀ + bias [outF]) + residual [rows, outF], w [outF, inF]; activation 0 is the
// identity, 1 the exact GELU; x starts xOffset elements into its array, out and residual (laid out like out) outOffset
// elements into theirs (a row block of larger tensors). out must not alias any input.
void Linear(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 x = argF32(info, 0, "x"), w = argF32(info, 1, "w");
  const F32 bias = argF32Opt(info, 2, "bias"), residual = argF32Opt(info, 3, "residual");
  const F32 out = argF32(info, 4, "out");
  const int64_t rows = argNonNeg(info, 5, "rows"), inF = argNonNeg(info, 6, "inF"), outF = argNonNeg(info, 7, "outF");
  const int64_t activation = info.Length() > 8 ? argNonNeg(info, 8, "activation") : 0;
  const int64_t xOff = info.Length() > 9 ? argNonNeg(info, 9, "xOffset") : 0;
  const int64_t outOff = info.Length() > 10 ? argNonNeg(info, 10, "outOffset") : 0;
  check(activation <= 1, env, "linear: activation must be 0 (none) or 1 (gelu)");
  check(xOff + rows * inF <= x.n, env, "linear: x is smaller than xOffset + rows*inF");
  check(w.n == outF * inF, env, "linear: w is not [outF, inF]");
  check(outOff + rows * outF <= out.n, env, "linear: out is smaller than outOffset + rows*outF");
  check(!bias.p || bias.n == outF, env, "linear: bias is not [outF]");
  check(!residual.p || residual.n == out.n, env, "linear: residual is not shaped like out");
  if (rows == 0 || outF == 0) return;
  const bool gelu = activation == 1;
  const float* xp = x.p + xOff;
  float* op = out.p + outOff;
  const float* rp = residual.p ? residual.p + outOff : nullptr;
  if (gemmUsesOneDnn() && inF > 0) {
    MatmulCall call;
    call.transB = true, call.M = rows, call.N = outF, call.K = inF;
    call.A = xp, call.B = w.p, call.bias = bias.p, call.residual = rp, call.C = op, call.gelu = gelu;
    call.bf16 = bf16For(rows * outF * inF);
    const char* err = onednnMatmul(call);
    if (err) fail(env, std::string("linear: oneDNN: ") + err);
  } else {
    linearSgemm(xp, w.p, bias.p, rp, op, rows, inF, outF, gelu);
  }
}

}  // namespace

void registerLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("linear", Napi::Function::New(env, Linear, "linear"));
}

}  // namespace itpn
