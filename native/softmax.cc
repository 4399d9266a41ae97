// Softmax and log-softmax over the last axis of [rows, cols], with their backward passes.
// Row sums are accumulated in double; the exp-heavy row loops live in simd_rows.inc (ISA-dispatched).
#include <cmath>
#include <limits>

#include "common.h"
#include "simd.h"

namespace itpn {

static inline double rowDot(const float* a, const float* b, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

template <class RowFn>
static void forEachRow(int64_t rows, int64_t cols, RowFn fn) {
  const int nt = threadsFor(rows * cols);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t r = 0; r < rows; r++) fn(r);
}

struct RowArgs {
  int64_t rows, cols;
};

static RowArgs parseRows(const Napi::CallbackInfo& info, size_t first, std::initializer_list<int64_t> sizes,
                         const char* name) {
  RowArgs a;
  a.rows = argNonNeg(info, first, "rows");
  a.cols = argNonNeg(info, first + 1, "cols");
  for (int64_t s : sizes) {
    check(s == a.rows * a.cols, info.Env(), (std::string(name) + ": operand size is not rows*cols").c_str());
  }
  return a;
}

// softmax(x, out, rows, cols)
static void Softmax(const Napi::CallbackInfo& info) {
  const F32 x = argF32(info, 0, "x");
  const F32 out = argF32(info, 1, "out");
  const RowArgs a = parseRows(info, 2, {x.n, out.n}, "softmax");
  const int64_t cols = a.cols;
  if (cols == 0) return;
  forEachRow(a.rows, cols, [&](int64_t r) {
    const float* xr = x.p + r * cols;
    float* yr = out.p + r * cols;
    const float m = rowMaxAny(xr, cols);
    if (m == -std::numeric_limits<float>::infinity() || m != m || m == std::numeric_limits<float>::infinity()) {
      // Degenerate rows (all -inf, NaN or +inf): fall back to the scalar definition.
      double s = 0.0;
      for (int64_t i = 0; i < cols; i++) s += std::exp(static_cast<double>(xr[i]) - m);
      for (int64_t i = 0; i < cols; i++) yr[i] = static_cast<float>(std::exp(static_cast<double>(xr[i]) - m) / s);
      return;
    }
    softmaxRowFinite(xr, yr, cols, m);
  });
}

// softmaxBackward(y, dy, dx, rows, cols): dx = y ⊙ (dy − Σ dy⊙y)
static void SoftmaxBackward(const Napi::CallbackInfo& info) {
  const F32 y = argF32(info, 0, "y");
  const F32 dy = argF32(info, 1, "dy");
  const F32 dx = argF32(info, 2, "dx");
  const RowArgs a = parseRows(info, 3, {y.n, dy.n, dx.n}, "softmaxBackward");
  const int64_t cols = a.cols;
  if (cols == 0) return;
  forEachRow(a.rows, cols, [&](int64_t r) {
    const float* yr = y.p + r * cols;
    const float* gr = dy.p + r * cols;
    float* dr = dx.p + r * cols;
    // The subtraction runs in double: for peaked rows dy_i − Σ dy⊙y cancels heavily.
    const double dot = rowDot(gr, yr, cols);
#pragma omp simd
    for (int64_t i = 0; i < cols; i++) {
      dr[i] = static_cast<float>(static_cast<double>(yr[i]) * (static_cast<double>(gr[i]) - dot));
    }
  });
}

// logSoftmax(x, out, rows, cols): out = x − max − log Σ exp(x − max)
static void LogSoftmax(const Napi::CallbackInfo& info) {
  const F32 x = argF32(info, 0, "x");
  const F32 out = argF32(info, 1, "out");
  const RowArgs a = parseRows(info, 2, {x.n, out.n}, "logSoftmax");
  const int64_t cols = a.cols;
  if (cols == 0) return;
  forEachRow(a.rows, cols, [&](int64_t r) {
    const float* xr = x.p + r * cols;
    float* yr = out.p + r * cols;
    const float m = rowMaxAny(xr, cols);
    if (m == -std::numeric_limits<float>::infinity() || m != m || m == std::numeric_limits<float>::infinity()) {
      double s = 0.0;
      for (int64_t i = 0; i < cols; i++) s += std::exp(static_cast<double>(xr[i]) - m);
      const double ls = std::log(s);
      for (int64_t i = 0; i < cols; i++) yr[i] = static_cast<float>(static_cast<double>(xr[i]) - m - ls);
      return;
    }
    logSoftmaxRowFinite(xr, yr, cols, m);
  });
}

// logSoftmaxBackward(y, dy, dx, rows, cols): dx = dy − exp(y)·Σ dy
static void LogSoftmaxBackward(const Napi::CallbackInfo& info) {
  const F32 y = argF32(info, 0, "y");
  const F32 dy = argF32(info, 1, "dy");
  const F32 dx = argF32(info, 2, "dx");
  const RowArgs a = parseRows(info, 3, {y.n, dy.n, dx.n}, "logSoftmaxBackward");
  const int64_t cols = a.cols;
  if (cols == 0) return;
  forEachRow(a.rows, cols, [&](int64_t r) {
    const float* yr = y.p + r * cols;
    const float* gr = dy.p + r * cols;
    float* dr = dx.p + r * cols;
    logSoftmaxBackwardRowAny(yr, gr, dr, cols);
  });
}

void registerSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
  exports.Set("logSoftmax", Napi::Function::New(env, LogSoftmax, "logSoftmax"));
  exports.Set("logSoftmaxBackward", Napi::Function::New(env, LogSoftmaxBackward, "logSoftmaxBackward"));
}

}  // namespace itpn
