// Softmax and log-softmax over the last axis of [rows, cols], with their backward passes.
// Row sums are accumulated in double; the exp-heavy row loops live in simd_rows.inc (ISA-dispatched).
#include <cmath>
#include <limits>

#include "common.h"
#include "simd.h"

namespace itpn {

template <class RowFn>
static void forEachRow(int64_t rows, int64_t cols, RowFn fn) {
  const int nt = threadsFor(rows * cols);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t r = 0; r < rows; r++) fn(r);
}

/** True for rows whose maximum is -inf (fully masked), +inf or NaN: they take the scalar definition in double. */
static bool degenerateMax(float m) {
  return m == -std::numeric_limits<float>::infinity() || m != m || m == std::numeric_limits<float>::infinity();
}

/** Σ exp(x_i − m) in double, the scalar definition's normaliser. */
static double expSumD(const float* x, int64_t n, float m) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += std::exp(static_cast<double>(x[i]) - m);
  return s;
}

void softmaxRowAny(const float* x, float* y, int64_t n) {
  const float m = rowMaxAny(x, n);
  if (!degenerateMax(m)) {
    softmaxRowFinite(x, y, n, m);
    return;
  }
  const double s = expSumD(x, n, m);
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - m) / s);
}

static void logSoftmaxRowAny(const float* x, float* y, int64_t n) {
  const float m = rowMaxAny(x, n);
  if (!degenerateMax(m)) {
    logSoftmaxRowFinite(x, y, n, m);
    return;
  }
  const double ls = std::log(expSumD(x, n, m));
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(static_cast<double>(x[i]) - m - ls);
}

/** Validates (rows, cols) at info[first] against the operands' sizes. */
static int64_t parseCols(const Napi::CallbackInfo& info, size_t first, std::initializer_list<int64_t> sizes, const char* name,
                         int64_t& rows) {
  rows = argNonNeg(info, first, "rows");
  const int64_t cols = argNonNeg(info, first + 1, "cols");
  for (int64_t s : sizes) {
    check(s == rows * cols, info.Env(), (std::string(name) + ": operand size is not rows*cols").c_str());
  }
  return cols;
}

/** (x, out, rows, cols): out row r = rowFn(x row r), rows in parallel. */
template <class RowFn>
static void mapRows(const Napi::CallbackInfo& info, const char* name, RowFn rowFn) {
  const F32 x = argF32(info, 0, "x"), out = argF32(info, 1, "out");
  int64_t rows;
  const int64_t cols = parseCols(info, 2, {x.n, out.n}, name, rows);
  if (cols == 0) return;
  forEachRow(rows, cols, [&](int64_t r) { rowFn(x.p + r * cols, out.p + r * cols, cols); });
}

/** (y, dy, dx, rows, cols): dx row r = rowFn(y row r, dy row r), rows in parallel. */
template <class RowFn>
static void mapRowsBackward(const Napi::CallbackInfo& info, const char* name, RowFn rowFn) {
  const F32 y = argF32(info, 0, "y"), dy = argF32(info, 1, "dy"), dx = argF32(info, 2, "dx");
  int64_t rows;
  const int64_t cols = parseCols(info, 3, {y.n, dy.n, dx.n}, name, rows);
  if (cols == 0) return;
  forEachRow(rows, cols, [&](int64_t r) { rowFn(y.p + r * cols, dy.p + r * cols, dx.p + r * cols, cols); });
}

// softmax(x, out, rows, cols)
static void Softmax(const Napi::CallbackInfo& info) { mapRows(info, "softmax", softmaxRowAny); }

// softmaxBackward(y, dy, dx, rows, cols): dx = y ⊙ (dy − Σ dy⊙y)
static void SoftmaxBackward(const Napi::CallbackInfo& info) { mapRowsBackward(info, "softmaxBackward", softmaxBackwardRows); }

// logSoftmax(x, out, rows, cols): out = x − max − log Σ exp(x − max)
static void LogSoftmax(const Napi::CallbackInfo& info) { mapRows(info, "logSoftmax", logSoftmaxRowAny); }

// logSoftmaxBackward(y, dy, dx, rows, cols): dx = dy − exp(y)·Σ dy
static void LogSoftmaxBackward(const Napi::CallbackInfo& info) {
  mapRowsBackward(info, "logSoftmaxBackward", logSoftmaxBackwardRowAny);
}

void registerSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
  exports.Set("logSoftmax", Napi::Function::New(env, LogSoftmax, "logSoftmax"));
  exports.Set("logSoftmaxBackward", Napi::Function::New(env, LogSoftmaxBackward, "logSoftmaxBackward"));
}

}  // namespace itpn
