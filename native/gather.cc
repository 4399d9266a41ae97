// Index gather along the middle axis of [outer, n, inner] and its adjoint scatter-add.
#include <algorithm>
#include <cstring>

#include "common.h"

namespace itpn {

struct GatherArgs {
  int64_t outer, n, inner, k;
  bool batched;
};

static GatherArgs parseGather(const Napi::CallbackInfo& info, size_t first, int64_t xLen, int64_t idxLen,
                              int64_t outLen, const char* name) {
  const Napi::Env env = info.Env();
  GatherArgs g;
  g.outer = argNonNeg(info, first, "outer");
  g.n = argNonNeg(info, first + 1, "n");
  g.inner = argNonNeg(info, first + 2, "inner");
  g.k = argNonNeg(info, first + 3, "k");
  g.batched = argBool(info, first + 4);
  const std::string nm(name);
  check(xLen == g.outer * g.n * g.inner, env, (nm + ": [outer, n, inner] operand has the wrong size").c_str());
  check(outLen == g.outer * g.k * g.inner, env, (nm + ": [outer, k, inner] operand has the wrong size").c_str());
  check(idxLen == (g.batched ? g.outer : 1) * g.k || (g.k == 0 && idxLen == 0) || (g.outer == 0 && g.batched),
        env, (nm + ": idx has the wrong size").c_str());
  return g;
}

static void checkIndices(const Napi::Env& env, const int32_t* idx, int64_t count, int64_t n, const char* name) {
  bool bad = false;
  for (int64_t i = 0; i < count; i++) bad |= (idx[i] < 0) | (idx[i] >= n);
  if (bad) fail(env, std::string(name) + ": index out of range");
}

// gather(x, idx, out, outer, n, inner, k, idxBatched): out[o, j, :] = x[o, idx[o|0, j], :].
// Copies 4-byte words, so int32 tensors can be gathered too.
static void Gather(const Napi::CallbackInfo& info) {
  const Word x = argWord(info, 0, "x");
  const I32 idx = argI32(info, 1, "idx");
  const Word out = argWord(info, 2, "out");
  const GatherArgs g = parseGather(info, 3, x.n, idx.n, out.n, "gather");
  if (out.n == 0) return;
  checkIndices(info.Env(), idx.p, (g.batched ? g.outer : 1) * g.k, g.n, "gather");
  const uint32_t* xp = x.p;
  const int32_t* ip = idx.p;
  uint32_t* yp = out.p;
  const int64_t rows = g.outer * g.k;
  const int64_t inner = g.inner;
  const int nt = threadsFor(out.n);
  if (inner == 1) {
    // one word per index; (o, j) stepped along each thread's share (a division per element cost 2.5× the copy)
    parallelChunks(rows, nt, 16, [&](int, int64_t lo, int64_t hi) {
      int64_t o = lo / g.k, j = lo % g.k;
      for (int64_t r = lo; r < hi; r++) {
        yp[r] = xp[o * g.n + ip[(g.batched ? o * g.k : 0) + j]];
        if (++j == g.k) j = 0, o++;
      }
    });
    return;
  }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t o = r / g.k, j = r % g.k;
    const int64_t src = (o * g.n + ip[(g.batched ? o * g.k : 0) + j]) * inner;
    std::memcpy(yp + r * inner, xp + src, static_cast<size_t>(inner) * sizeof(uint32_t));
  }
}

// scatterAdd(src, idx, out, outer, n, inner, k, idxBatched): out[o, idx[o|0, j], :] += src[o, j, :].
// Duplicate indices accumulate in j order, exactly as a sequential loop does.
static void ScatterAdd(const Napi::CallbackInfo& info) {
  const F32 src = argF32(info, 0, "src");
  const I32 idx = argI32(info, 1, "idx");
  const F32 out = argF32(info, 2, "out");
  const GatherArgs g = parseGather(info, 3, out.n, idx.n, src.n, "scatterAdd");
  if (src.n == 0) return;
  checkIndices(info.Env(), idx.p, (g.batched ? g.outer : 1) * g.k, g.n, "scatterAdd");
  const float* sp = src.p;
  const int32_t* ip = idx.p;
  float* yp = out.p;
  const int64_t inner = g.inner, k = g.k, n = g.n;
  const int nt = threadsFor(src.n);
  // Parallel over (outer slice, inner chunk): different tasks never touch the same output element.
  const int64_t chunk = std::max<int64_t>(64, (inner + nt - 1) / nt);
  const int64_t chunksPerOuter = (inner + chunk - 1) / chunk;
  const int64_t tasks = g.outer * chunksPerOuter;
#pragma omp parallel for num_threads(nt) if (nt > 1 && tasks > 1) schedule(static)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t o = t / chunksPerOuter;
    const int64_t i0 = (t % chunksPerOuter) * chunk;
    const int64_t w = std::min(chunk, inner - i0);
    const int32_t* irow = ip + (g.batched ? o * k : 0);
    for (int64_t j = 0; j < k; j++) {
      float* __restrict d = yp + (o * n + irow[j]) * inner + i0;
      const float* __restrict s = sp + (o * k + j) * inner + i0;
#pragma omp simd
      for (int64_t i = 0; i < w; i++) d[i] += s[i];
    }
  }
}

void registerGather(Napi::Env env, Napi::Object exports) {
  exports.Set("gather", Napi::Function::New(env, Gather, "gather"));
  exports.Set("scatterAdd", Napi::Function::New(env, ScatterAdd, "scatterAdd"));
}

}  // namespace itpn
