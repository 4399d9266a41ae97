// Reductions over the middle axis of an [outer, r, inner] view: sum (accumulated in double), max, argmax.
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "simd.h"

namespace itpn {

constexpr int64_t kTile = 512;  // inner elements per accumulator tile (4 KiB of doubles, stays in L1)
constexpr int64_t kRowSliceMaxInner = 4096;  // per-thread double accumulators up to 32 KiB (L1) for row-slice sums

/** Calls tile(o, i0, w) for every outer index and every kTile-wide column block [i0, i0 + w), in parallel. */
template <class Tile>
static void forEachTile(int64_t outer, int64_t r, int64_t inner, Tile tile) {
  const int64_t tilesPerOuter = (inner + kTile - 1) / kTile;
  const int64_t tiles = outer * tilesPerOuter;
  const int nt = threadsFor(outer * r * inner);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t t = 0; t < tiles; t++) {
    const int64_t i0 = (t % tilesPerOuter) * kTile;
    tile(t / tilesPerOuter, i0, inner - i0 < kTile ? inner - i0 : kTile);
  }
}

template <class Acc, class Combine>
static void reduceTiles(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, Acc init, Combine comb) {
  forEachTile(outer, r, inner, [&](int64_t o, int64_t i0, int64_t w) {
    Acc acc[kTile];
    for (int64_t i = 0; i < w; i++) acc[i] = init;
    const float* base = x + o * r * inner + i0;
    for (int64_t k = 0; k < r; k++) {
      const float* row = base + k * inner;
#pragma omp simd
      for (int64_t i = 0; i < w; i++) acc[i] = comb(acc[i], row[i]);
    }
    float* dst = y + o * inner + i0;
    for (int64_t i = 0; i < w; i++) dst[i] = static_cast<float>(acc[i]);
  });
}

static inline float maxf(float m, float v) { return (v > m || v != v) && m == m ? v : m; }

static double sumRow(const float* x, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(x[i]);
  return s;
}

static float maxRow(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  bool nan = false;
#pragma omp simd reduction(max : m) reduction(|| : nan)
  for (int64_t i = 0; i < n; i++) {
    m = x[i] > m ? x[i] : m;
    nan = nan || (x[i] != x[i]);
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

static void sumKernel(const float* x, float* y, int64_t outer, int64_t r, int64_t inner) {
  const int64_t total = outer * r * inner;
  const int nt = threadsFor(total);
  if (inner == 1) {
    if (outer >= nt) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
      for (int64_t o = 0; o < outer; o++) y[o] = static_cast<float>(sumRow(x + o * r, r));
    } else {
      // Few long rows: split each row across the threads, combine partials in thread order.
      for (int64_t o = 0; o < outer; o++) {
        ThreadPartials part(nt, 1);
        const float* row = x + o * r;
        parallelChunks(r, nt, 1, [&](int t, int64_t lo, int64_t hi) { *part.of(t) = sumRow(row + lo, hi - lo); });
        part.sumInto(y + o);
      }
    }
    return;
  }
  const int64_t tilesPerOuter = (inner + kTile - 1) / kTile;
  const int64_t tiles = outer * tilesPerOuter;
  // Column sums of one [r, inner] matrix (bias gradients) whose accumulators fit in L1 stream fastest as row slices
  // per thread (below); column tiles would walk each thread down the rows with a stride of `inner` floats.
  const bool rowSlices = outer == 1 && inner <= kRowSliceMaxInner && r >= 4 * nt;
  if (tiles >= nt && !rowSlices) {
    // column sums of each [r, ≤ kTile] tile into L1-resident double accumulators (ISA-dispatched loop)
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
      const int64_t o = t / tilesPerOuter, i0 = (t % tilesPerOuter) * kTile;
      const int64_t w = inner - i0 < kTile ? inner - i0 : kTile;
      double acc[kTile] = {};
      sumColumns(x + o * r * inner + i0, inner, r, w, acc);
      for (int64_t i = 0; i < w; i++) y[o * inner + i0 + i] = static_cast<float>(acc[i]);
    }
    return;
  }
  // Few tiles but a long reduction axis, or one matrix's column sums: every thread sums a slice of r into its own
  // partial buffer, combined in thread order.
  ThreadPartials part(nt, outer * inner);
  parallelChunks(r, nt, 1, [&](int t, int64_t lo, int64_t hi) {
    double* acc = part.of(t);
    for (int64_t o = 0; o < outer; o++) sumColumns(x + (o * r + lo) * inner, inner, hi - lo, inner, acc + o * inner);
  });
  part.sumInto(y);
}

static void maxKernel(const float* x, float* y, int64_t outer, int64_t r, int64_t inner) {
  const int nt = threadsFor(outer * r * inner);
  if (inner == 1) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t o = 0; o < outer; o++) y[o] = maxRow(x + o * r, r);
    return;
  }
  reduceTiles<float>(x, y, outer, r, inner, -std::numeric_limits<float>::infinity(), maxf);
}

// reduce(op, x, out, outer, r, inner): op 0 = sum, 1 = max
static void Reduce(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t op = argInt(info, 0, "op");
  const F32 x = argF32(info, 1, "x");
  const F32 out = argF32(info, 2, "out");
  const int64_t outer = argNonNeg(info, 3, "outer"), r = argNonNeg(info, 4, "r"), inner = argNonNeg(info, 5, "inner");
  check(x.n == outer * r * inner, env, "reduce: x size is not outer*r*inner");
  check(out.n == outer * inner, env, "reduce: out size is not outer*inner");
  if (out.n == 0) return;
  if (op == 0) sumKernel(x.p, out.p, outer, r, inner);
  else if (op == 1) maxKernel(x.p, out.p, outer, r, inner);
  else fail(env, "unknown reduce op");
}

// argmax(x, out:int32, outer, r, inner): index of the first maximum (comparisons with '>', like the reference).
static void Argmax(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 x = argF32(info, 0, "x");
  const I32 out = argI32(info, 1, "out");
  const int64_t outer = argNonNeg(info, 2, "outer"), r = argNonNeg(info, 3, "r"), inner = argNonNeg(info, 4, "inner");
  check(x.n == outer * r * inner, env, "argmax: x size is not outer*r*inner");
  check(out.n == outer * inner, env, "argmax: out size is not outer*inner");
  if (out.n == 0) return;
  const float* xp = x.p;
  int32_t* yp = out.p;
  forEachTile(outer, r, inner, [&](int64_t o, int64_t i0, int64_t w) {
    float best[kTile];
    int32_t arg[kTile];
    const float* base = xp + o * r * inner + i0;
    for (int64_t i = 0; i < w; i++) { best[i] = base[i]; arg[i] = 0; }
    for (int64_t k = 1; k < r; k++) {
      const float* row = base + k * inner;
      for (int64_t i = 0; i < w; i++) {
        const float v = row[i];
        const bool better = v > best[i];  // a NaN never wins, and a NaN in front is never beaten
        best[i] = better ? v : best[i];
        arg[i] = better ? static_cast<int32_t>(k) : arg[i];
      }
    }
    int32_t* dst = yp + o * inner + i0;
    for (int64_t i = 0; i < w; i++) dst[i] = arg[i];
  });
}

void registerReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  exports.Set("argmax", Napi::Function::New(env, Argmax, "argmax"));
}

}  // namespace itpn
