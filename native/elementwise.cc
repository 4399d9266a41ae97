// Element-wise kernels: unary ops, affine, clamp, fill.
#include <cmath>

#include "common.h"
#include "simd.h"

namespace itpn {

// Order must match the `unaryOps` name list exported below (the TS side maps names through that list).
enum UnaryOp {
  U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_TANH, U_SIGMOID, U_ABS, U_SIGN, U_ERF,
  U_GELU, U_GELU_GRAD, U_RELU, U_STEP, U_SQUARE, U_RECIPROCAL, U_COUNT
};
static const char* const kUnaryNames[U_COUNT] = {
  "neg", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "abs", "sign", "erf",
  "gelu", "gelu_grad", "relu", "step", "square", "reciprocal"};

template <class F>
static void mapUnary(const float* __restrict x, float* __restrict y, int64_t n, F f) {
  const int nt = threadsFor(n);
#pragma omp parallel for simd num_threads(nt) if (parallel : nt > 1) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

// Same as mapUnary but without the no-alias promise (in-place calls: x == y).
template <class F>
static void mapUnaryAliased(const float* x, float* y, int64_t n, F f) {
  const int nt = threadsFor(n);
#pragma omp parallel for simd num_threads(nt) if (parallel : nt > 1) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

template <class F>
static void runUnary(const float* x, float* y, int64_t n, F f) {
  if (x == y) mapUnaryAliased(x, y, n, f);
  else mapUnary(x, y, n, f);
}

/** Splits [0, n) into per-thread chunks (multiples of 16 elements) for an ISA-dispatched row kernel. */
static void runRows(void (*fn)(const float*, float*, int64_t), const float* x, float* y, int64_t n) {
  parallelChunks(n, threadsFor(n), 16, [&](int, int64_t lo, int64_t hi) { fn(x + lo, y + lo, hi - lo); });
}

static void unaryKernel(int op, const float* x, float* y, int64_t n) {
  switch (op) {
    case U_NEG: runUnary(x, y, n, [](float v) { return -v; }); break;
    case U_EXP: runUnary(x, y, n, [](float v) { return std::exp(v); }); break;
    case U_LOG: runUnary(x, y, n, [](float v) { return std::log(v); }); break;
    case U_SQRT: runUnary(x, y, n, [](float v) { return std::sqrt(v); }); break;
    case U_RSQRT: runUnary(x, y, n, [](float v) { return 1.0f / std::sqrt(v); }); break;
    case U_TANH: runUnary(x, y, n, [](float v) { return std::tanh(v); }); break;
    case U_SIGMOID: runRows(sigmoidRows, x, y, n); break;
    case U_ABS: runUnary(x, y, n, [](float v) { return std::fabs(v); }); break;
    case U_SIGN: runUnary(x, y, n, [](float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }); break;
    case U_ERF: runRows(erfRows, x, y, n); break;
    case U_GELU: runRows(geluRows, x, y, n); break;
    case U_GELU_GRAD: runRows(geluGradRows, x, y, n); break;
    case U_RELU: runUnary(x, y, n, [](float v) { return v > 0.0f ? v : 0.0f; }); break;
    case U_STEP: runUnary(x, y, n, [](float v) { return v > 0.0f ? 1.0f : 0.0f; }); break;
    case U_SQUARE: runUnary(x, y, n, [](float v) { return v * v; }); break;
    case U_RECIPROCAL: runUnary(x, y, n, [](float v) { return 1.0f / v; }); break;
  }
}

// unary(op, x, out)
static void Unary(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t op = argInt(info, 0, "op");
  check(op >= 0 && op < U_COUNT, env, "unknown unary op");
  const F32 x = argF32(info, 1, "x");
  const F32 out = argF32(info, 2, "out");
  check(x.n == out.n, env, "unary: x and out sizes differ");
  unaryKernel(static_cast<int>(op), x.p, out.p, out.n);
}

// affine(x, out, scale, shift)
static void Affine(const Napi::CallbackInfo& info) {
  const F32 x = argF32(info, 0, "x");
  const F32 out = argF32(info, 1, "out");
  check(x.n == out.n, info.Env(), "affine: x and out sizes differ");
  const float scale = static_cast<float>(argNum(info, 2, "scale"));
  const float shift = static_cast<float>(argNum(info, 3, "shift"));
  runUnary(x.p, out.p, out.n, [scale, shift](float v) { return v * scale + shift; });
}

// clamp(x, out, lo, hi)
static void Clamp(const Napi::CallbackInfo& info) {
  const F32 x = argF32(info, 0, "x");
  const F32 out = argF32(info, 1, "out");
  check(x.n == out.n, info.Env(), "clamp: x and out sizes differ");
  const float lo = static_cast<float>(argNum(info, 2, "lo"));
  const float hi = static_cast<float>(argNum(info, 3, "hi"));
  // min(max(x, lo), hi) with NaN propagating like Math.min/Math.max.
  runUnary(x.p, out.p, out.n, [lo, hi](float v) {
    float r = v < lo ? lo : v;
    r = r > hi ? hi : r;
    return v != v ? v : r;
  });
}

// geluBackward(x, dy, dx, y|null[, colSums|null]): dx = dy · gelu'(x), and y = gelu(x) when given (dx may be dy);
// colSums [cols]: also the column sums of dx as [n / cols, cols], each row added while it is in L1 (the fc1 bias
// gradient). Every thread sums its slice of rows into double partials, combined in thread order: the order of
// reduce's row-slice column sums (cols up to 4096), so for those the same result as reducing dx afterwards.
static void GeluBackward(const Napi::CallbackInfo& info) {
  const F32 x = argF32(info, 0, "x");
  const F32 dy = argF32(info, 1, "dy");
  const F32 dx = argF32(info, 2, "dx");
  const F32 y = argF32Opt(info, 3, "y");
  const F32 sums = info.Length() > 4 ? argF32Opt(info, 4, "colSums") : F32{};
  check(x.n == dy.n && x.n == dx.n && (!y.p || y.n == x.n), info.Env(), "geluBackward: x, dy, dx and y sizes differ");
  if (!sums.p) {
    parallelChunks(x.n, threadsFor(x.n), 16, [&](int, int64_t lo, int64_t hi) {
      geluBackwardRows(x.p + lo, dy.p + lo, dx.p + lo, y.p ? y.p + lo : nullptr, hi - lo);
    });
    return;
  }
  const int64_t cols = sums.n, rows = cols > 0 ? x.n / cols : 0;
  check(cols > 0 && rows * cols == x.n, info.Env(), "geluBackward: dx is not rows of colSums' length");
  const int nt = threadsFor(x.n);
  ThreadPartials part(nt, cols);
  parallelChunks(rows, nt, 1, [&](int t, int64_t lo, int64_t hi) {
    double* acc = part.of(t);
    for (int64_t r = lo; r < hi; r++) {
      const int64_t at = r * cols;
      geluBackwardRows(x.p + at, dy.p + at, dx.p + at, y.p ? y.p + at : nullptr, cols);
      sumColumns(dx.p + at, cols, 1, cols, acc);
    }
  });
  part.sumInto(sums.p);
}

// fill(out, value)
static void Fill(const Napi::CallbackInfo& info) {
  const F32 out = argF32(info, 0, "out");
  const float value = static_cast<float>(argNum(info, 1, "value"));
  float* __restrict y = out.p;
  const int64_t n = out.n;
  const int nt = threadsFor(n);
#pragma omp parallel for simd num_threads(nt) if (parallel : nt > 1) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = value;
}

void registerElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New(env, Unary, "unary"));
  exports.Set("affine", Napi::Function::New(env, Affine, "affine"));
  exports.Set("clamp", Napi::Function::New(env, Clamp, "clamp"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
  Napi::Array names = Napi::Array::New(env, U_COUNT);
  for (uint32_t i = 0; i < U_COUNT; i++) names.Set(i, Napi::String::New(env, kUnaryNames[i]));
  exports.Set("unaryOps", names);
}

}  // namespace itpn
