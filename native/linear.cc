// Linear layers: the forward product with its bias (and optionally a residual) fused into the GEMM.
//
// Forward: oneDNN's matmul primitive adds the bias, and a residual through a binary post-op, while each output tile
// is still in registers, where the sgemm path first broadcasts the bias into the output (a full write) and then has
// the GEMM read it back (beta 1). Primitives are built once per shape and kept.
#include <dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>

#include "common.h"
#include "gemm.h"

namespace itpn {

namespace {

using dnnl::memory;

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

/** rows, inF, outF, has bias, has residual */
using LinearKey = std::tuple<int64_t, int64_t, int64_t, bool, bool>;

struct LinearPrimitive {
  memory::desc src, weights, bias, dst;
  dnnl::matmul matmul;
};

/** The matmul primitive for one shape, built on first use (building costs far more than running a small one). */
const LinearPrimitive& linearPrimitive(const LinearKey& key) {
  static std::map<LinearKey, std::unique_ptr<LinearPrimitive>> cache;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  const auto [rows, inF, outF, hasBias, hasResidual] = key;
  auto p = std::make_unique<LinearPrimitive>();
  const auto f32 = memory::data_type::f32;
  p->src = memory::desc({rows, inF}, f32, memory::dims{inF, 1});
  p->weights = memory::desc({inF, outF}, f32, memory::dims{1, inF});  // w [outF, inF] read as its transpose
  p->dst = memory::desc({rows, outF}, f32, memory::dims{outF, 1});
  if (hasBias) p->bias = memory::desc({1, outF}, f32, memory::dims{outF, 1});
  dnnl::primitive_attr attr;
  if (hasResidual) {
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, p->dst);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::desc desc = hasBias ? dnnl::matmul::desc(p->src, p->weights, p->bias, p->dst)
                                          : dnnl::matmul::desc(p->src, p->weights, p->dst);
  p->matmul = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, cpuEngine()));
  return *cache.emplace(key, std::move(p)).first->second;
}

void linearOneDnn(const float* x, const float* w, const float* bias, const float* residual, float* out, int64_t rows,
                  int64_t inF, int64_t outF) {
  const LinearPrimitive& p = linearPrimitive({rows, inF, outF, bias != nullptr, residual != nullptr});
  dnnl::engine& engine = cpuEngine();
  // oneDNN takes non-const handles; none of the inputs is written.
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(p.src, engine, const_cast<float*>(x))},
      {DNNL_ARG_WEIGHTS, memory(p.weights, engine, const_cast<float*>(w))},
      {DNNL_ARG_DST, memory(p.dst, engine, out)},
  };
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine, const_cast<float*>(bias)));
  if (residual) {
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, memory(p.dst, engine, const_cast<float*>(residual)));
  }
  dnnl::stream stream(engine);
  p.matmul.execute(stream, args);
  stream.wait();
}

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
    try {
      linearOneDnn(x.p, w.p, bias.p, residual.p, out.p, rows, inF, outF);
    } catch (const dnnl::error& e) {
      fail(env, std::string("linear: oneDNN: ") + e.what());
    }
  } else {
    linearSgemm(x.p, w.p, bias.p, residual.p, out.p, rows, inF, outF);
  }
}

}  // namespace

void registerLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("linear", Napi::Function::New(env, Linear, "linear"));
}

}  // namespace itpn
