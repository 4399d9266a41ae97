// Binary element-wise ops with NumPy-style broadcasting expressed as strides (0 on broadcast axes).
// The output is contiguous. Axes are collapsed first; the innermost loop is specialised for the stride
// patterns that dominate training (both contiguous, one operand constant along the row).
#include <cmath>
#include <cstring>

#include "common.h"

namespace itpn {

enum BinaryOp { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW, B_GT, B_GE, B_LT, B_LE, B_EQ, B_COUNT };
static const char* const kBinaryNames[B_COUNT] = {"add", "sub", "mul", "div", "max", "min", "pow",
                                                  "gt", "ge", "lt", "le", "eq"};

struct OpAdd { static float f(float a, float b) { return a + b; } };
struct OpSub { static float f(float a, float b) { return a - b; } };
struct OpMul { static float f(float a, float b) { return a * b; } };
struct OpDiv { static float f(float a, float b) { return a / b; } };
// NaN-propagating like Math.max / Math.min.
struct OpMax { static float f(float a, float b) { return (a > b || a != a) ? a : b; } };
struct OpMin { static float f(float a, float b) { return (a < b || a != a) ? a : b; } };
// Math.pow semantics computed in double, rounded once (powf differs from Math.pow on a few edge cases).
struct OpPow { static float f(float a, float b) { return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b))); } };
struct OpGt { static float f(float a, float b) { return a > b ? 1.0f : 0.0f; } };
struct OpGe { static float f(float a, float b) { return a >= b ? 1.0f : 0.0f; } };
struct OpLt { static float f(float a, float b) { return a < b ? 1.0f : 0.0f; } };
struct OpLe { static float f(float a, float b) { return a <= b ? 1.0f : 0.0f; } };
struct OpEq { static float f(float a, float b) { return a == b ? 1.0f : 0.0f; } };

/** One contiguous output row of length n; a and b advance by sa and sb. */
template <class Op>
static inline void row(const float* a, int64_t sa, const float* b, int64_t sb, float* y, int64_t n) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = Op::f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = Op::f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = Op::f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = Op::f(a[i * sa], b[i * sb]);
  }
}

template <class Op>
static void binaryKernel(const float* a, const std::vector<int64_t>& as, const float* b,
                         const std::vector<int64_t>& bs, float* y, const std::vector<int64_t>& shape) {
  const int rank = static_cast<int>(shape.size());
  const int64_t total = product(shape);
  const int64_t inner = shape[rank - 1];
  const int64_t sa = as[rank - 1], sb = bs[rank - 1];
  if (rank == 1) {
    // One long row: split it across threads.
    parallelChunks(total, threadsFor(total), 1, [&](int, int64_t lo, int64_t hi) {
      row<Op>(a + lo * sa, sa, b + lo * sb, sb, y + lo, hi - lo);
    });
    return;
  }
  const int64_t rows = total / inner;
  parallelChunks(rows, threadsFor(total), 1, [&](int, int64_t lo, int64_t hi) {
    // Decompose the first row index into an outer multi-index, then step it like an odometer.
    int64_t idx[kMaxRank];
    int64_t offA = 0, offB = 0, rem = lo;
    for (int d = rank - 2; d >= 0; d--) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
      offA += idx[d] * as[d];
      offB += idx[d] * bs[d];
    }
    for (int64_t r = lo; r < hi; r++) {
      row<Op>(a + offA, sa, b + offB, sb, y + r * inner, inner);
      for (int d = rank - 2; d >= 0; d--) {
        if (++idx[d] < shape[d]) {
          offA += as[d];
          offB += bs[d];
          break;
        }
        idx[d] = 0;
        offA -= (shape[d] - 1) * as[d];
        offB -= (shape[d] - 1) * bs[d];
      }
    }
  });
}

// binary(op, a, aStrides, b, bStrides, out, shape)
static void Binary(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t op = argInt(info, 0, "op");
  check(op >= 0 && op < B_COUNT, env, "unknown binary op");
  const F32 a = argF32(info, 1, "a");
  std::vector<int64_t> as = argInts(info, 2, "aStrides");
  const F32 b = argF32(info, 3, "b");
  std::vector<int64_t> bs = argInts(info, 4, "bStrides");
  const F32 out = argF32(info, 5, "out");
  std::vector<int64_t> shape = argInts(info, 6, "shape");
  check(as.size() == shape.size() && bs.size() == shape.size(), env, "binary: strides and shape ranks differ");
  for (int64_t d : shape) check(d >= 0, env, "binary: negative extent");
  const int64_t total = product(shape);
  check(total == out.n, env, "binary: out size does not match shape");
  if (total == 0) return;
  int64_t lo, hi;
  offsetRange(0, shape, as, lo, hi);
  check(lo >= 0 && hi < a.n, env, "binary: a strides reach outside a");
  offsetRange(0, shape, bs, lo, hi);
  check(lo >= 0 && hi < b.n, env, "binary: b strides reach outside b");
  std::vector<int64_t> ys = contiguousStrides(shape);
  collapse(shape, {&ys, &as, &bs});
  switch (op) {
    case B_ADD: binaryKernel<OpAdd>(a.p, as, b.p, bs, out.p, shape); break;
    case B_SUB: binaryKernel<OpSub>(a.p, as, b.p, bs, out.p, shape); break;
    case B_MUL: binaryKernel<OpMul>(a.p, as, b.p, bs, out.p, shape); break;
    case B_DIV: binaryKernel<OpDiv>(a.p, as, b.p, bs, out.p, shape); break;
    case B_MAX: binaryKernel<OpMax>(a.p, as, b.p, bs, out.p, shape); break;
    case B_MIN: binaryKernel<OpMin>(a.p, as, b.p, bs, out.p, shape); break;
    case B_POW: binaryKernel<OpPow>(a.p, as, b.p, bs, out.p, shape); break;
    case B_GT: binaryKernel<OpGt>(a.p, as, b.p, bs, out.p, shape); break;
    case B_GE: binaryKernel<OpGe>(a.p, as, b.p, bs, out.p, shape); break;
    case B_LT: binaryKernel<OpLt>(a.p, as, b.p, bs, out.p, shape); break;
    case B_LE: binaryKernel<OpLe>(a.p, as, b.p, bs, out.p, shape); break;
    case B_EQ: binaryKernel<OpEq>(a.p, as, b.p, bs, out.p, shape); break;
  }
}

void registerBinary(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  Napi::Array names = Napi::Array::New(env, B_COUNT);
  for (uint32_t i = 0; i < B_COUNT; i++) names.Set(i, Napi::String::New(env, kBinaryNames[i]));
  exports.Set("binaryOps", names);
}

}  // namespace itpn
