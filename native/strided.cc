// N-D strided copies (rank <= 8): gather a strided view into a contiguous tensor, and the adjoint,
// scatter-accumulate a contiguous tensor into a strided view of a larger one.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "common.h"

namespace itpn {

/**
 * Walks the rows of a collapsed [.., inner] iteration space for row indices [lo, hi), calling
 * fn(viewOffset, contiguousRowStart) per row. `vs` are the view strides (last one is the inner stride).
 */
template <class Fn>
static void forRows(const std::vector<int64_t>& shape, const std::vector<int64_t>& vs, int64_t offset, int64_t lo,
                    int64_t hi, Fn fn) {
  const int rank = static_cast<int>(shape.size());
  const int64_t inner = shape[rank - 1];
  int64_t idx[kMaxRank];
  int64_t off = offset, rem = lo;
  for (int d = rank - 2; d >= 0; d--) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
    off += idx[d] * vs[d];
  }
  for (int64_t r = lo; r < hi; r++) {
    fn(off, r * inner);
    for (int d = rank - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        off += vs[d];
        break;
      }
      idx[d] = 0;
      off -= (shape[d] - 1) * vs[d];
    }
  }
}

/** True when no two indices of the view map to the same element (safe to parallelise a scatter). */
static bool injective(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  std::vector<size_t> order(shape.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return std::llabs(strides[x]) < std::llabs(strides[y]); });
  int64_t reach = 0;  // largest |offset| reachable with the axes seen so far
  for (size_t k : order) {
    if (shape[k] == 1) continue;
    const int64_t s = std::llabs(strides[k]);
    if (s <= reach) return false;
    reach += (shape[k] - 1) * s;
  }
  return true;
}

struct StridedArgs {
  std::vector<int64_t> shape, viewStrides;
  int64_t offset = 0, total = 0;
};

static StridedArgs parseView(const Napi::CallbackInfo& info, int64_t viewLen, int64_t contigLen, size_t offI,
                             size_t stridesI, size_t shapeI, const char* name) {
  const Napi::Env env = info.Env();
  StridedArgs s;
  s.offset = argInt(info, offI, "offset");
  s.viewStrides = argInts(info, stridesI, "strides");
  s.shape = argInts(info, shapeI, "shape");
  check(s.viewStrides.size() == s.shape.size(), env, "strided: strides and shape ranks differ");
  for (int64_t d : s.shape) check(d >= 0, env, "strided: negative extent");
  s.total = product(s.shape);
  check(s.total == contigLen, env, (std::string(name) + ": contiguous operand size does not match shape").c_str());
  if (s.total == 0) return s;
  int64_t lo, hi;
  offsetRange(s.offset, s.shape, s.viewStrides, lo, hi);
  check(lo >= 0 && hi < viewLen, env, (std::string(name) + ": strided view reaches outside its storage").c_str());
  std::vector<int64_t> cs = contiguousStrides(s.shape);
  collapse(s.shape, {&cs, &s.viewStrides});
  return s;
}

// stridedCopy(src, offset, strides, out, shape): out (contiguous) = src[offset + Σ idx·strides].
// Works on any 4-byte element type (float32 and int32 alike).
static void StridedCopy(const Napi::CallbackInfo& info) {
  const Word src = argWord(info, 0, "src");
  const Word out = argWord(info, 3, "out");
  const StridedArgs s = parseView(info, src.n, out.n, 1, 2, 4, "stridedCopy");
  if (s.total == 0) return;
  const uint32_t* sp = src.p;
  uint32_t* op = out.p;
  const int64_t inner = s.shape.back();
  const int64_t si = s.viewStrides.back();
  const int64_t rows = s.total / inner;
  auto copyRow = [&](int64_t from, int64_t to) {
    if (si == 1) {
      std::memcpy(op + to, sp + from, static_cast<size_t>(inner) * sizeof(uint32_t));
    } else if (si == 0) {
      std::fill(op + to, op + to + inner, sp[from]);
    } else {
      for (int64_t i = 0; i < inner; i++) op[to + i] = sp[from + i * si];
    }
  };
  if (rows == 1) {
    if (si == 1) {
      // One long contiguous run: plain (threaded) memcpy.
      parallelChunks(inner, threadsFor(inner / 4), 1, [&](int, int64_t lo, int64_t hi) {
        std::memcpy(op + lo, sp + s.offset + lo, static_cast<size_t>(hi - lo) * sizeof(uint32_t));
      });
      return;
    }
    const int nt = threadsFor(inner);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < inner; i++) op[i] = sp[s.offset + i * si];
    return;
  }
  parallelChunks(rows, threadsFor(s.total), 1, [&](int, int64_t lo, int64_t hi) {
    forRows(s.shape, s.viewStrides, s.offset, lo, hi, copyRow);
  });
}

// stridedAccumulate(src, out, offset, strides, shape): out[offset + Σ idx·strides] += src (contiguous).
// Overlapping views (stride 0, broadcast gradients) are summed in row-major order on one thread, so the
// result is bit-identical to a sequential loop.
static void StridedAccumulate(const Napi::CallbackInfo& info) {
  const F32 src = argF32(info, 0, "src");
  const F32 out = argF32(info, 1, "out");
  const StridedArgs s = parseView(info, out.n, src.n, 2, 3, 4, "stridedAccumulate");
  if (s.total == 0) return;
  const float* sp = src.p;
  float* op = out.p;
  const int64_t inner = s.shape.back();
  const int64_t si = s.viewStrides.back();
  const int64_t rows = s.total / inner;
  auto accRow = [&](int64_t view, int64_t from) {
    if (si == 1) {
      float* __restrict d = op + view;
      const float* __restrict f = sp + from;
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) d[i] += f[i];
    } else if (si == 0) {
      float acc = op[view];
      for (int64_t i = 0; i < inner; i++) acc += sp[from + i];
      op[view] = acc;
    } else {
      for (int64_t i = 0; i < inner; i++) op[view + i * si] += sp[from + i];
    }
  };
  const bool safe = injective(s.shape, s.viewStrides);
  const int nt = safe ? threadsFor(s.total) : 1;
  if (rows == 1) {
    parallelChunks(inner, nt, 1, [&](int, int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) op[s.offset + i * si] += sp[i];
    });
    return;
  }
  parallelChunks(rows, nt, 1, [&](int, int64_t lo, int64_t hi) {
    forRows(s.shape, s.viewStrides, s.offset, lo, hi, accRow);
  });
}

void registerStrided(Napi::Env env, Napi::Object exports) {
  exports.Set("stridedCopy", Napi::Function::New(env, StridedCopy, "stridedCopy"));
  exports.Set("stridedAccumulate", Napi::Function::New(env, StridedAccumulate, "stridedAccumulate"));
}

}  // namespace itpn
