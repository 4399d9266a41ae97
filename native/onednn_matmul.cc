// oneDNN matmul primitives, cached per shape (see onednn_matmul.h).
#include "onednn_matmul.h"

#include <dnnl.hpp>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "pack_b.h"
#include "signals.h"
#include "simd.h"

namespace itpn {

namespace {

using dnnl::memory;

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

/** One in-order stream for every product (calls come from the JS thread, one at a time). */
dnnl::stream& cpuStream() {
  static dnnl::stream stream(cpuEngine());
  return stream;
}

constexpr size_t kMaxCachedPrimitives = 512;

/** transA, transB, M, N, K, has bias, has residual, GELU, bf16 inputs, B packed first */
using MatmulKey = std::tuple<bool, bool, int64_t, int64_t, int64_t, bool, bool, bool, bool, bool>;

struct MatmulPrimitive {
  memory::desc a, b, bias, c;
  dnnl::matmul matmul;
  /** With B packed: the plain float32 B, its packed (blocked, maybe bf16) layout and the reorder between them. */
  memory::desc bPlain, bPacked;
  dnnl::reorder packB;
  /** B is plain and bPacked is the layout packBlocked16x64 writes, so that packs it instead of the reorder. */
  bool ownPack = false;
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
  const auto [transA, transB, M, N, K, hasBias, hasResidual, gelu, bf16, packB] = key;
  auto p = std::make_unique<MatmulPrimitive>();
  const auto f32 = memory::data_type::f32, in = bf16 ? memory::data_type::bf16 : f32;
  // a transposed operand is the plain [K, M] (or [N, K]) matrix read with swapped strides
  p->a = memory::desc({M, K}, in, transA ? memory::dims{1, M} : memory::dims{K, 1});
  p->b = memory::desc({K, N}, in, transB ? memory::dims{1, K} : memory::dims{N, 1});
  if (packB) p->bPlain = memory::desc({K, N}, f32, transB ? memory::dims{1, K} : memory::dims{N, 1});
  p->c = memory::desc({M, N}, f32, memory::dims{N, 1});
  if (hasBias) p->bias = memory::desc({1, N}, f32, memory::dims{N, 1});
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  if (gelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
  if (hasResidual) ops.append_binary(dnnl::algorithm::binary_add, p->c);
  attr.set_post_ops(ops);
  // packed B: the kernel's preferred layout ("any"), filled by one reorder per call
  const memory::desc bDesc = packB ? memory::desc({K, N}, in, memory::format_tag::any) : p->b;
  const dnnl::matmul::desc desc = hasBias ? dnnl::matmul::desc(p->a, bDesc, p->bias, p->c) : dnnl::matmul::desc(p->a, bDesc, p->c);
  const dnnl::matmul::primitive_desc pd(desc, attr, cpuEngine());
  p->matmul = dnnl::matmul(pd);
  if (packB) {
    p->bPacked = pd.weights_desc();
    p->packB = dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), p->bPlain, cpuEngine(), p->bPacked));
    p->ownPack = !bf16 && !transB && simdLevel() >= 2 && isBlocked16x64(p->bPacked, K, N);
  }
  return *cache.emplace(key, std::move(p)).first->second;
}

/**
 * n floats rounded to bfloat16 into dst, split across the threads. This conversion is ~15% of a bf16 training step
 * (every GEMM operand, activations and gradients included, is converted on each use), so AVX512-BF16's conversion
 * instruction is used where the CPU has it (it also flushes float32 subnormals to zero).
 */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16")
/** float → bfloat16 with AVX512-BF16's round-to-nearest-even conversion, 32 values per instruction. */
static void toBf16Avx512Bf16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(reinterpret_cast<__m512i*>(y + i), reinterpret_cast<__m512i>(v));
  }
  if (i < n) toBf16Rows(x + i, y + i, n - i);
}
#pragma GCC pop_options

static const bool kHasBf16Convert = [] { __builtin_cpu_init(); return __builtin_cpu_supports("avx512bf16"); }();

void convertToBf16(const float* src, int64_t n, std::vector<uint16_t>& dst) {
  if (static_cast<int64_t>(dst.size()) < n) dst.resize(static_cast<size_t>(n));
  uint16_t* out = dst.data();
  parallelChunks(n, threadsFor(n), 32, [&](int, int64_t lo, int64_t hi) {
    if (kHasBf16Convert) toBf16Avx512Bf16(src + lo, out + lo, hi - lo);
    else toBf16Rows(src + lo, out + lo, hi - lo);
  });
}

bool gOwnPackB = true;

}  // namespace

void setOwnPackB(bool own) { gOwnPackB = own; }
bool ownPackB() { return gOwnPackB; }

const char* onednnMatmul(const MatmulCall& call) {
  const SignalBlock hold;  // no signal frame on a JIT kernel's stack (signals.h)
  try {
    // With many rows to multiply, B is packed into the kernel's blocked layout in a 4 KiB-aligned buffer (by
    // packBlocked16x64 where B is plain and the layout is the one it writes, else by oneDNN's reorder): for a Linear
    // (transposed weight) 3-6% faster than letting the kernel copy it at 1568 rows (`itpn bench infer`: −4%), even
    // from about 600 to 1280 rows, but 10% slower at 392 rows and 2.5× slower for a single row, where the packing is
    // not paid back. The buffer must be aligned: at the 16-byte offset of a large typed array's memory, the packed
    // kernel ran 5% slower than unpacked.
    const bool packB = call.M >= kPackMinRows;
    const MatmulPrimitive& p = primitiveFor({call.transA, call.transB, call.M, call.N, call.K, call.bias != nullptr,
                                             call.residual != nullptr, call.gelu, call.bf16, packB});
    dnnl::engine& engine = cpuEngine();
    void* a = const_cast<float*>(call.A);  // oneDNN takes non-const handles; no input is written
    void* b = const_cast<float*>(call.B);
    // buffers kept between calls (calls are not concurrent)
    static std::vector<uint16_t> a16, b16;
    static GrowingBuffer packed(4096);
    if (call.bf16) {
      // A's bfloat16 copy in the same layout; B's too unless the packing reorder converts it
      convertToBf16(call.A, call.M * call.K, a16);
      a = a16.data();
      if (!packB) {
        convertToBf16(call.B, call.K * call.N, b16);
        b = b16.data();
      }
    }
    if (packB) {
      void* buf = packed.get(p.bPacked.get_size());
      if (!buf) throw dnnl::error(dnnl_out_of_memory, "out of memory for the packed B operand");
      if (p.ownPack && gOwnPackB) {
        packBlocked16x64(static_cast<const float*>(b), call.N, call.K, call.N, static_cast<float*>(buf));
      } else {
        memory plain(p.bPlain, engine, b), dst(p.bPacked, engine, buf);
        p.packB.execute(cpuStream(), plain, dst);
      }
      b = buf;
    }
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(p.a, engine, a)},
        {DNNL_ARG_WEIGHTS, memory(packB ? p.bPacked : p.b, engine, b)},
        {DNNL_ARG_DST, memory(p.c, engine, call.C)},
    };
    if (call.bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine, const_cast<float*>(call.bias)));
    if (call.residual) {
      const int index = call.gelu ? 1 : 0;  // the residual's position in the post-op chain
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1,
                   memory(p.c, engine, const_cast<float*>(call.residual)));
    }
    p.matmul.execute(cpuStream(), args);
    cpuStream().wait();
    return nullptr;
  } catch (const dnnl::error& e) {
    return e.what();
  }
}

}  // namespace itpn
