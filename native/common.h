// Shared helpers for the itpn_cpu addon: typed-array access without copies, argument checks, and the
// threading policy (OpenMP regions only for work large enough to pay for waking the team).
#pragma once

#include <napi.h>
#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace itpn {

/** Below this many elements (or equivalent work units) a kernel runs on the calling thread. */
constexpr int64_t kParallelThreshold = 32768;
/** Highest rank strided kernels accept. */
constexpr int kMaxRank = 8;

/** Number of threads worth using for `work` units of element-wise work. */
inline int threadsFor(int64_t work) {
  if (work < kParallelThreshold) return 1;
  const int maxT = omp_get_max_threads();
  const int64_t byWork = work / (kParallelThreshold / 2);
  return static_cast<int>(byWork < maxT ? (byWork < 1 ? 1 : byWork) : maxT);
}

/**
 * Splits [0, n) into one contiguous share per thread of an nt-thread team (shares rounded up to multiples of `align`,
 * so vector kernels keep whole vectors) and calls fn(t, lo, hi) for every non-empty share; with nt ≤ 1 it calls
 * fn(0, 0, n) on the calling thread without opening a parallel region.
 */
template <class Fn>
inline void parallelChunks(int64_t n, int nt, int64_t align, Fn fn) {
  if (n <= 0) return;
  if (nt <= 1) {
    fn(0, int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t chunk = ((n + T - 1) / T + align - 1) / align * align;
    const int64_t lo = t * chunk < n ? t * chunk : n, hi = lo + chunk < n ? lo + chunk : n;
    if (lo < hi) fn(t, lo, hi);
  }
}

/**
 * Scratch memory kept between calls that only grows, aligned to `align` bytes (a power of two; kernels are called from
 * the JS thread, one at a time). get(bytes) returns at least that many bytes, or nullptr when out of memory, after
 * which the buffer is empty.
 */
class GrowingBuffer {
 public:
  explicit GrowingBuffer(size_t align) : align_(align) {}
  void* get(size_t bytes) {
    if (!buf_ || bytes > capacity_) {  // never empty on success, even for 0 bytes
      const size_t rounded = bytes == 0 ? align_ : (bytes + align_ - 1) / align_ * align_;
      buf_.reset(std::aligned_alloc(align_, rounded));
      capacity_ = buf_ ? rounded : 0;
      if (!buf_) return nullptr;
    }
    return buf_.get();
  }

 private:
  size_t align_;
  size_t capacity_ = 0;
  std::unique_ptr<void, decltype(&std::free)> buf_{nullptr, &std::free};
};

/**
 * Per-thread double accumulators, `n` values for each of `threads` threads, zeroed: each thread adds into its own
 * of(t), and sumInto writes the per-value totals as floats, summed in thread order (so the result does not depend on
 * which thread finished first).
 */
class ThreadPartials {
 public:
  ThreadPartials(int threads, int64_t n) : n_(n), sums_(static_cast<size_t>(threads) * static_cast<size_t>(n), 0.0) {}
  double* of(int t) { return sums_.data() + static_cast<size_t>(t) * static_cast<size_t>(n_); }
  void sumInto(float* out) const {
    const size_t threads = n_ > 0 ? sums_.size() / static_cast<size_t>(n_) : 0;
    for (int64_t j = 0; j < n_; j++) {
      double s = 0.0;
      for (size_t t = 0; t < threads; t++) s += sums_[t * static_cast<size_t>(n_) + static_cast<size_t>(j)];
      out[j] = static_cast<float>(s);
    }
  }

 private:
  int64_t n_;
  std::vector<double> sums_;
};

[[noreturn]] inline void fail(const Napi::Env& env, const std::string& msg) {
  throw Napi::Error::New(env, "itpn_cpu: " + msg);
}

inline void check(bool ok, const Napi::Env& env, const char* what) {
  if (!ok) fail(env, what);
}

/** A Float32Array argument: pointer into the JS buffer (byteOffset applied) and its length. */
struct F32 {
  float* p = nullptr;
  int64_t n = 0;
};
struct I32 {
  int32_t* p = nullptr;
  int64_t n = 0;
};
/** Any typed array with 4-byte elements (copy-only kernels treat float32 and int32 alike). */
struct Word {
  uint32_t* p = nullptr;
  int64_t n = 0;
};

inline F32 argF32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(info.Env(), std::string(name) + " must be a Float32Array");
  }
  auto a = v.As<Napi::Float32Array>();
  return F32{a.Data(), static_cast<int64_t>(a.ElementLength())};
}

/** Float32Array or null/undefined (optional weight, bias, ...). */
inline F32 argF32Opt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (v.IsNull() || v.IsUndefined()) return F32{};
  return argF32(info, i, name);
}

inline I32 argI32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    fail(info.Env(), std::string(name) + " must be an Int32Array");
  }
  auto a = v.As<Napi::Int32Array>();
  return I32{a.Data(), static_cast<int64_t>(a.ElementLength())};
}

inline Word argWord(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray()) fail(info.Env(), std::string(name) + " must be a Float32Array or Int32Array");
  auto t = v.As<Napi::TypedArray>();
  const napi_typedarray_type ty = t.TypedArrayType();
  if (ty != napi_float32_array && ty != napi_int32_array && ty != napi_uint32_array) {
    fail(info.Env(), std::string(name) + " must be a Float32Array or Int32Array");
  }
  auto bytes = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  return Word{reinterpret_cast<uint32_t*>(bytes), static_cast<int64_t>(t.ElementLength())};
}

inline int64_t argInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  const int64_t r = static_cast<int64_t>(d);
  if (static_cast<double>(r) != d) fail(info.Env(), std::string(name) + " must be an integer");
  return r;
}

inline int64_t argNonNeg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const int64_t r = argInt(info, i, name);
  if (r < 0) fail(info.Env(), std::string(name) + " must be >= 0");
  return r;
}

inline double argNum(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) fail(info.Env(), std::string(name) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool argBool(const Napi::CallbackInfo& info, size_t i) {
  return info[i].ToBoolean().Value();
}

/** A small integer list (shape or strides): a JS array of numbers or an Int32Array. */
inline std::vector<int64_t> argInts(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  std::vector<int64_t> out;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    auto a = v.As<Napi::Int32Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
    return out;
  }
  if (!v.IsArray()) fail(info.Env(), std::string(name) + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  const uint32_t n = a.Length();
  if (n > static_cast<uint32_t>(kMaxRank)) fail(info.Env(), std::string(name) + ": rank above 8 is not supported");
  out.resize(n);
  for (uint32_t k = 0; k < n; k++) {
    const Napi::Value e = a.Get(k);
    if (!e.IsNumber()) fail(info.Env(), std::string(name) + " must be an array of integers");
    out[k] = static_cast<int64_t>(e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

inline int64_t product(const std::vector<int64_t>& v) {
  int64_t n = 1;
  for (int64_t d : v) n *= d;
  return n;
}

/**
 * Merges adjacent axes that are contiguous with each other in every operand (the first operand list is
 * usually the output's contiguous strides) and drops size-1 axes. Always leaves at least one axis.
 */
inline void collapse(std::vector<int64_t>& shape, std::vector<std::vector<int64_t>*> strides) {
  std::vector<int64_t> s;
  std::vector<std::vector<int64_t>> st(strides.size());
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 1) continue;
    bool merge = !s.empty();
    if (merge) {
      for (size_t k = 0; k < strides.size(); k++) {
        if (st[k].back() != (*strides[k])[i] * shape[i]) { merge = false; break; }
      }
    }
    if (merge) {
      s.back() *= shape[i];
      for (size_t k = 0; k < strides.size(); k++) st[k].back() = (*strides[k])[i];
    } else {
      s.push_back(shape[i]);
      for (size_t k = 0; k < strides.size(); k++) st[k].push_back((*strides[k])[i]);
    }
  }
  if (s.empty()) {
    s.push_back(1);
    for (auto& v : st) v.push_back(0);
  }
  shape = s;
  for (size_t k = 0; k < strides.size(); k++) *strides[k] = st[k];
}

inline std::vector<int64_t> contiguousStrides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Smallest and largest element offset a strided view touches (shape has no zero extents). */
inline void offsetRange(int64_t offset, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                        int64_t& lo, int64_t& hi) {
  lo = hi = offset;
  for (size_t i = 0; i < shape.size(); i++) {
    const int64_t span = (shape[i] - 1) * strides[i];
    if (span < 0) lo += span; else hi += span;
  }
}

}  // namespace itpn

// Registration hooks, one per source file (binding.cc calls them all).
namespace itpn {
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerBinary(Napi::Env env, Napi::Object exports);
void registerReduce(Napi::Env env, Napi::Object exports);
void registerGemm(Napi::Env env, Napi::Object exports);
void registerStrided(Napi::Env env, Napi::Object exports);
void registerGather(Napi::Env env, Napi::Object exports);
void registerSoftmax(Napi::Env env, Napi::Object exports);
void registerLayerNorm(Napi::Env env, Napi::Object exports);
void registerAdamW(Napi::Env env, Napi::Object exports);
void registerSimd(Napi::Env env, Napi::Object exports);
void registerAttention(Napi::Env env, Napi::Object exports);
void registerLinear(Napi::Env env, Napi::Object exports);
}  // namespace itpn
