// oneDNN matmul primitives, cached per shape (see onednn_matmul.h).
#include "onednn_matmul.h"

#include <dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>

namespace itpn {

namespace {

using dnnl::memory;

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

constexpr size_t kMaxCachedPrimitives = 512;

/** transA, transB, M, N, K, has bias, has residual, GELU */
using MatmulKey = std::tuple<bool, bool, int64_t, int64_t, int64_t, bool, bool, bool>;

struct MatmulPrimitive {
  memory::desc a, b, bias, c;
  dnnl::matmul matmul;
};

/** The primitive for one shape, built on first use (building costs far more than running a small product). */
const MatmulPrimitive& primitiveFor(const MatmulKey& key) {
  static std::map<MatmulKey, std::unique_ptr<MatmulPrimitive>> cache;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  // Shapes repeat every step, so the cache stays small; a workload of ever-new shapes (varying batch sizes) is
  // bounded by starting over. Entries are only used inside one onednnMatmul call, so none is referenced here.
  if (cache.size() >= kMaxCachedPrimitives) cache.clear();
  const auto [transA, transB, M, N, K, hasBias, hasResidual, gelu] = key;
  auto p = std::make_unique<MatmulPrimitive>();
  const auto f32 = memory::data_type::f32;
  // a transposed operand is the plain [K, M] (or [N, K]) matrix read with swapped strides
  p->a = memory::desc({M, K}, f32, transA ? memory::dims{1, M} : memory::dims{K, 1});
  p->b = memory::desc({K, N}, f32, transB ? memory::dims{1, K} : memory::dims{N, 1});
  p->c = memory::desc({M, N}, f32, memory::dims{N, 1});
  if (hasBias) p->bias = memory::desc({1, N}, f32, memory::dims{N, 1});
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  if (gelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
  if (hasResidual) ops.append_binary(dnnl::algorithm::binary_add, p->c);
  attr.set_post_ops(ops);
  const dnnl::matmul::desc desc = hasBias ? dnnl::matmul::desc(p->a, p->b, p->bias, p->c) : dnnl::matmul::desc(p->a, p->b, p->c);
  p->matmul = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, cpuEngine()));
  return *cache.emplace(key, std::move(p)).first->second;
}

}  // namespace

const char* onednnMatmul(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                         const float* bias, const float* residual, float* C, bool gelu) {
  try {
    const MatmulPrimitive& p = primitiveFor({transA, transB, M, N, K, bias != nullptr, residual != nullptr, gelu});
    dnnl::engine& engine = cpuEngine();
    // oneDNN takes non-const handles; none of the inputs is written.
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(p.a, engine, const_cast<float*>(A))},
        {DNNL_ARG_WEIGHTS, memory(p.b, engine, const_cast<float*>(B))},
        {DNNL_ARG_DST, memory(p.c, engine, C)},
    };
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine, const_cast<float*>(bias)));
    if (residual) {
      const int index = gelu ? 1 : 0;  // the residual's position in the post-op chain
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, memory(p.c, engine, const_cast<float*>(residual)));
    }
    dnnl::stream stream(engine);
    p.matmul.execute(stream, args);
    stream.wait();
    return nullptr;
  } catch (const dnnl::error& e) {
    return e.what();
  }
}

}  // namespace itpn
