// Multi-head self-attention read straight from the qkv Linear's output and written straight into the proj
// Linear's input, so no permute or slice copies exist: per (batch, head) block, q, k and v are row-strided
// views of qkv [B, N, 3, H, D] (row stride 3·C), and sgemm takes the stride as its leading dimension.
//   forward:  P = softmax(scale·Q·Kᵀ + bias), O = P·V
//   backward: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K, dK = scale·dSᵀ·Q
// The (batch, head) blocks run in parallel, one thread each. On AVX-512 CPUs with D a multiple of 16 a block is
// computed by the register-tiled kernels of attention_avx512.cc; otherwise by single-threaded sgemm calls
// (OpenBLAS' OpenMP build runs serially inside a parallel region). With fewer blocks than threads, blocks run one
// by one (on threaded sgemm).
#include <cblas.h>

#include <cmath>
#include <cstring>
#include <string>

#include "attention_block.h"
#include "common.h"
#include "simd.h"

namespace itpn {

struct AttnDims {
  int64_t B, N, H, D, biasBatch;
  float scale;
};

static AttnDims parseDims(const Napi::CallbackInfo& info, size_t first) {
  AttnDims d;
  d.B = argNonNeg(info, first, "B");
  d.N = argNonNeg(info, first + 1, "N");
  d.H = argNonNeg(info, first + 2, "H");
  d.D = argNonNeg(info, first + 3, "D");
  d.scale = static_cast<float>(argNum(info, first + 4, "scale"));
  d.biasBatch = argNonNeg(info, first + 5, "biasBatch");
  check(d.N < (1LL << 20) && d.H * d.D < (1LL << 28), info.Env(), "attention: dimensions too large");
  return d;
}

/**
 * Runs fn(block) for block in [0, B·H): in parallel when there are enough blocks to share out, each thread taking
 * one contiguous range of blocks (they are equal work), i.e. whole images' rows of qkv and of the output. Handing
 * blocks out one at a time (schedule(dynamic, 1)) ran the training step's 49-token encoder blocks 15-20% slower and
 * the itpn_base inference step ~1.5% slower (in-process A/B, 10 pairs: slower in 9, by 15 ms on average).
 */
template <class Fn>
static void forBlocks(const AttnDims& d, Fn fn) {
  const int64_t blocks = d.B * d.H;
  const int maxT = omp_get_max_threads();
  const int64_t work = blocks * d.N * d.N * d.D;
  if (blocks >= maxT && maxT > 1 && work >= kParallelThreshold) {
#pragma omp parallel for num_threads(maxT) schedule(static)
    for (int64_t blk = 0; blk < blocks; blk++) fn(blk);
  } else {
    for (int64_t blk = 0; blk < blocks; blk++) fn(blk);
  }
}

/**
 * Per-call scratch of n floats, kept between calls and 64-byte aligned; fails with a message when out of memory. A
 * fresh zero-filled vector per call cost page faults and a memset of a few hundred KiB for each layer: the attention
 * forward of itpn_base ran 11% slower (2 threads).
 */
static float* scratchFloats(const Napi::Env& env, int64_t n) {
  static GrowingBuffer buf(64);
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  void* p = buf.get(bytes);
  if (!p) fail(env, "attention: out of memory for " + std::to_string(bytes >> 10) + " KiB of scratch");
  return static_cast<float*>(p);
}

static bool useAvx512(int64_t D) { return simdLevel() >= 2 && D % 16 == 0 && D <= 128; }


// attention(qkv, bias|null, out, probs|null, B, N, H, D, scale, biasBatch): without probs (inference) each block's
// probabilities live in per-thread scratch, so they never leave the cache.
static void Attention(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 qkv = argF32(info, 0, "qkv");
  const F32 bias = argF32Opt(info, 1, "bias");
  const F32 out = argF32(info, 2, "out");
  const F32 probs = argF32Opt(info, 3, "probs");
  const AttnDims d = parseDims(info, 4);
  const int64_t C = d.H * d.D, N = d.N;
  check(qkv.n == d.B * N * 3 * C, env, "attention: qkv size is not B*N*3*H*D");
  check(out.n == d.B * N * C, env, "attention: out size is not B*N*H*D");
  check(!probs.p || probs.n == d.B * d.H * N * N, env, "attention: probs size is not B*H*N*N");
  check(!bias.p || ((d.biasBatch == 1 || d.biasBatch == d.B) && bias.n == d.biasBatch * d.H * N * N), env,
        "attention: bias must be [1 or B, H, N, N]");
  if (out.n == 0) return;
  const int n = static_cast<int>(N), hd = static_cast<int>(d.D), ld3 = static_cast<int>(3 * C), ld = static_cast<int>(C);
  const bool fast = useAvx512(d.D);
  const int64_t perThread = (fast ? attentionScratch(N, d.D) : 0) + (probs.p ? 0 : N * N);
  float* scratch = scratchFloats(env, omp_get_max_threads() * perThread);
  forBlocks(d, [&](int64_t blk) {
    const int64_t b = blk / d.H, h = blk % d.H;
    const float* q = qkv.p + b * N * 3 * C + h * d.D;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* mine = scratch + omp_get_thread_num() * perThread;
    float* P = probs.p ? probs.p + blk * N * N : mine;
    const float* bb = bias.p ? bias.p + ((d.biasBatch == 1 ? 0 : b) * d.H + h) * N * N : nullptr;
    if (fast) {
      const AttnBlock blockArgs{q, k, v, 3 * C, bb, P, out.p + b * N * C + h * d.D, C, N, d.D, d.scale};
      attentionBlockForwardAvx512(blockArgs, mine + (probs.p ? 0 : N * N));
      return;
    }
    float beta = 0.0f;
    if (bb) {
      std::memcpy(P, bb, static_cast<size_t>(N * N) * sizeof(float));
      beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, d.scale, q, ld3, k, ld3, beta, P, n);
    for (int64_t i = 0; i < N; i++) softmaxRowAny(P + i * N, P + i * N, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, P, n, v, ld3, 0.0f,
                out.p + b * N * C + h * d.D, ld);
  });
}

// attentionBackward(qkv, probs, dout, dqkv, dlogits|null, B, N, H, D, scale, biasBatch)
static void AttentionBackward(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const F32 qkv = argF32(info, 0, "qkv");
  const F32 probs = argF32(info, 1, "probs");
  const F32 dout = argF32(info, 2, "dout");
  const F32 dqkv = argF32(info, 3, "dqkv");
  const F32 dlogits = argF32Opt(info, 4, "dlogits");
  const AttnDims d = parseDims(info, 5);
  const int64_t C = d.H * d.D, N = d.N;
  check(qkv.n == d.B * N * 3 * C && dqkv.n == qkv.n, env, "attentionBackward: qkv/dqkv size is not B*N*3*H*D");
  check(dout.n == d.B * N * C, env, "attentionBackward: dout size is not B*N*H*D");
  check(probs.n == d.B * d.H * N * N, env, "attentionBackward: probs size is not B*H*N*N");
  check(!dlogits.p || dlogits.n == probs.n, env, "attentionBackward: dlogits size is not B*H*N*N");
  if (dout.n == 0) return;
  const int n = static_cast<int>(N), hd = static_cast<int>(d.D), ld3 = static_cast<int>(3 * C), ld = static_cast<int>(C);
  const int maxT = omp_get_max_threads();
  const bool fast = useAvx512(d.D);
  const int64_t perThread = N * N + (fast ? attentionScratch(N, d.D) : 0);
  float* scratch = scratchFloats(env, maxT * perThread);
  forBlocks(d, [&](int64_t blk) {
    const int64_t b = blk / d.H, h = blk % d.H;
    const int64_t base = b * N * 3 * C + h * d.D;
    const float* q = qkv.p + base;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dq = dqkv.p + base;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    const float* P = probs.p + blk * N * N;
    const float* dO = dout.p + b * N * C + h * d.D;
    float* mine = scratch + omp_get_thread_num() * perThread;
    float* dS = dlogits.p ? dlogits.p + blk * N * N : mine;
    if (fast) {
      const AttnBlockGrad g{q, k, v, 3 * C, P, dO, C, dS, dq, dk, dv, N, d.D, d.scale};
      attentionBlockBackwardAvx512(g, mine + N * N);
      return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, 1.0f, P, n, dO, ld, 0.0f, dv, ld3);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, 1.0f, dO, ld, v, ld3, 0.0f, dS, n);
    for (int64_t i = 0; i < N; i++) softmaxBackwardRows(P + i * N, dS + i * N, dS + i * N, N);  // ds = p ⊙ (dp − Σ p⊙dp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, d.scale, dS, n, k, ld3, 0.0f, dq, ld3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, d.scale, dS, n, q, ld3, 0.0f, dk, ld3);
  });
}

void registerAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward, "attentionBackward"));
}

}  // namespace itpn
