// Batched matrix multiply on a BLAS sgemm (row-major), plus the thread-count controls. Two libraries are linked:
// oneDNN's JIT sgemm (default: 5-10% faster than OpenBLAS on this project's AVX-512 shapes, see BENCHMARKS.md) and
// OpenBLAS (ITPN_GEMM=openblas, or setGemmLibrary), kept so the two can be compared side by side.
#include <cblas.h>
#include <dnnl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"
#include "gemm.h"
#include "onednn_matmul.h"
#include "signals.h"

extern "C" {
// Declared in OpenBLAS' cblas.h; repeated here so a cblas.h from another vendor still compiles.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace itpn {

/** Below this many multiply-adds per matrix a batch is split across threads, each running sgemm alone. */
constexpr int64_t kSmallGemmFlops = 64LL * 64 * 64 * 8;

enum class GemmLibrary { OneDnn, OpenBlas };

static GemmLibrary initialLibrary() {
  const char* env = std::getenv("ITPN_GEMM");
  return env != nullptr && std::strcmp(env, "openblas") == 0 ? GemmLibrary::OpenBlas : GemmLibrary::OneDnn;
}

static GemmLibrary gLibrary = initialLibrary();

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (gLibrary == GemmLibrary::OneDnn) {
    const SignalBlock hold;  // the JIT sgemm moves rsp onto the heap (signals.h)
    dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
  }
}

bool gemmUsesOneDnn() { return gLibrary == GemmLibrary::OneDnn; }

static bool gBf16 = false;

bool gemmUsesBf16() { return gBf16 && gLibrary == GemmLibrary::OneDnn; }

/**
 * oneDNN's sgemm is 15-25% slow on Aᵀ·B products with M > N and a long K (the weight gradients of the wide layers,
 * measured with cold caches as in a training step); its matmul primitive (brgemm) is not, so those go there. So do
 * products of at least kPackMinRows rows, where the primitive runs on a packed B (training step −2%, two in-process
 * A/Bs alternating per step: 2036 → 2003 and 2045 → 2003 ms).
 */
static bool preferPrimitive(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
  if (gLibrary != GemmLibrary::OneDnn || alpha != 1.0f || beta != 0.0f) return false;
  return (transA && !transB && M > N && K >= 1024) || (M >= kPackMinRows && N >= 256 && K >= 256);
}

static void scaleC(float* c, int64_t n, float beta) {
  if (beta == 0.0f) {
    std::fill(c, c + n, 0.0f);
  } else if (beta != 1.0f) {
    for (int64_t i = 0; i < n; i++) c[i] *= beta;
  }
}

// matmul(a, b, out, batch, M, N, K, transA, transB, strideA, strideB, alpha, beta[, offsetA, offsetB, offsetC])
// The optional offsets (elements) select where the first matrix of each operand starts, so a row block of a
// larger tensor can be multiplied in place; out then holds at least offsetC + batch·M·N elements.
static void Matmul(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  F32 a = argF32(info, 0, "a");
  F32 b = argF32(info, 1, "b");
  F32 c = argF32(info, 2, "out");
  const int64_t batch = argNonNeg(info, 3, "batch");
  const int64_t M = argNonNeg(info, 4, "M"), N = argNonNeg(info, 5, "N"), K = argNonNeg(info, 6, "K");
  if (info.Length() > 13) {
    const int64_t offA = argNonNeg(info, 13, "offsetA"), offB = argNonNeg(info, 14, "offsetB");
    const int64_t offC = argNonNeg(info, 15, "offsetC");
    check(offA <= a.n && offB <= b.n && offC <= c.n, env, "matmul: offset beyond its operand");
    a = F32{a.p + offA, a.n - offA};
    b = F32{b.p + offB, b.n - offB};
    c = F32{c.p + offC, c.n - offC};
    check(batch * M * N <= c.n, env, "matmul: out is too small for offsetC + batch*M*N");
    c.n = batch * M * N;
  }
  const bool transA = argBool(info, 7), transB = argBool(info, 8);
  const int64_t strideA = argNonNeg(info, 9, "strideA"), strideB = argNonNeg(info, 10, "strideB");
  const float alpha = static_cast<float>(argNum(info, 11, "alpha"));
  const float beta = static_cast<float>(argNum(info, 12, "beta"));
  check(c.n == batch * M * N, env, "matmul: out size is not batch*M*N");
  if (c.n == 0) return;
  check((batch - 1) * strideA + M * K <= a.n, env, "matmul: a is too small for batch/strideA/M/K");
  check((batch - 1) * strideB + K * N <= b.n, env, "matmul: b is too small for batch/strideB/K/N");
  check(M < (1LL << 31) && N < (1LL << 31) && K < (1LL << 31), env, "matmul: dimension too large");
  if (K == 0 || alpha == 0.0f) {
    scaleC(c.p, c.n, beta);
    return;
  }
  const int64_t lda = transA ? M : K, ldb = transB ? K : N, ldc = N;

  // A batch of row-major [M, K] matrices stored back to back times one shared B is a single [batch·M, K] GEMM.
  if (batch > 1 && !transA && strideA == M * K && strideB == 0 && batch * M < (1LL << 31)) {
    sgemm(transA, transB, batch * M, N, K, alpha, a.p, lda, b.p, ldb, beta, c.p, ldc);
    return;
  }
  const int64_t flopsPer = M * N * K;
  const int maxT = omp_get_max_threads();
  if (batch > 1 && maxT > 1 && flopsPer < kSmallGemmFlops * 8) {
    // Many small products: one single-threaded sgemm per batch item (OpenBLAS' OpenMP build runs serially
    // inside a parallel region), which beats threading each tiny product.
    const int nt = static_cast<int>(std::min<int64_t>(maxT, batch));
    const bool parallel = batch * flopsPer >= kSmallGemmFlops;
#pragma omp parallel for num_threads(nt) if (parallel) schedule(static)
    for (int64_t i = 0; i < batch; i++) {
      sgemm(transA, transB, M, N, K, alpha, a.p + i * strideA, lda, b.p + i * strideB, ldb, beta, c.p + i * M * N, ldc);
    }
    return;
  }
  const bool bf16 = bf16For(M * N * K) && alpha == 1.0f && beta == 0.0f;
  if (batch == 1 && (bf16 || preferPrimitive(transA, transB, M, N, K, alpha, beta))) {
    MatmulCall call;
    call.transA = transA, call.transB = transB, call.M = M, call.N = N, call.K = K;
    call.A = a.p, call.B = b.p, call.C = c.p, call.bf16 = bf16;
    const char* err = onednnMatmul(call);
    if (err) fail(env, std::string("matmul: oneDNN: ") + err);
    return;
  }
  for (int64_t i = 0; i < batch; i++) {
    sgemm(transA, transB, M, N, K, alpha, a.p + i * strideA, lda, b.p + i * strideB, ldb, beta, c.p + i * M * N, ldc);
  }
}

// setNumThreads(n): OpenMP team size for our kernels and OpenBLAS' thread count.
static void SetNumThreads(const Napi::CallbackInfo& info) {
  const int64_t n = argInt(info, 0, "n");
  check(n >= 1 && n <= 1024, info.Env(), "setNumThreads: n must be in [1, 1024]");
  omp_set_num_threads(static_cast<int>(n));
  openblas_set_num_threads(static_cast<int>(n));
  blockSignalsInWorkers(static_cast<int>(n));  // workers a larger team creates (signals.h)
}

// setGemmLibrary('onednn' | 'openblas'): which sgemm every matmul uses from now on (process-wide).
static void SetGemmLibrary(const Napi::CallbackInfo& info) {
  check(info.Length() > 0 && info[0].IsString(), info.Env(), "setGemmLibrary: expected 'onednn' or 'openblas'");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  check(name == "onednn" || name == "openblas", info.Env(), ("setGemmLibrary: expected 'onednn' or 'openblas', got '" + name + "'").c_str());
  gLibrary = name == "onednn" ? GemmLibrary::OneDnn : GemmLibrary::OpenBlas;
}

static Napi::Value GetGemmLibrary(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gLibrary == GemmLibrary::OneDnn ? "onednn" : "openblas");
}

// setBPacking('own' | 'reorder'): who packs a plain B for the oneDNN primitive (see onednn_matmul.h); for tests.
static void SetBPacking(const Napi::CallbackInfo& info) {
  const std::string how = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  check(how == "own" || how == "reorder", info.Env(), "setBPacking: expected 'own' or 'reorder'");
  setOwnPackB(how == "own");
}

static Napi::Value GetBPacking(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ownPackB() ? "own" : "reorder");
}

// setGemmPrecision('float32' | 'bfloat16'): bfloat16 rounds the inputs of every large batch-1 product (Linear
// layers, their gradients) before an AMX / AVX512-BF16 GEMM with float32 accumulation and output, as autocast does;
// with OpenBLAS selected it has no effect.
static void SetGemmPrecision(const Napi::CallbackInfo& info) {
  check(info.Length() > 0 && info[0].IsString(), info.Env(), "setGemmPrecision: expected 'float32' or 'bfloat16'");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  check(name == "float32" || name == "bfloat16", info.Env(),
        ("setGemmPrecision: expected 'float32' or 'bfloat16', got '" + name + "'").c_str());
  if (name == "bfloat16" && gLibrary == GemmLibrary::OneDnn) {
    // probe once: CPUs without AVX-512 have no bf16 matmul in oneDNN; say so here rather than mid-training
    static float a[64 * 64] = {}, b[64 * 64] = {}, c[64 * 64];
    MatmulCall call;
    call.M = call.N = call.K = 64, call.A = a, call.B = b, call.C = c, call.bf16 = true;
    if (const char* err = onednnMatmul(call)) {
      fail(info.Env(), std::string("setGemmPrecision: this CPU has no oneDNN bfloat16 GEMM (") + err + ")");
    }
  }
  gBf16 = name == "bfloat16";
}

static Napi::Value GetGemmPrecision(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gBf16 ? "bfloat16" : "float32");
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

void registerGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("setGemmLibrary", Napi::Function::New(env, SetGemmLibrary, "setGemmLibrary"));
  exports.Set("getGemmLibrary", Napi::Function::New(env, GetGemmLibrary, "getGemmLibrary"));
  exports.Set("setBPacking", Napi::Function::New(env, SetBPacking, "setBPacking"));
  exports.Set("getBPacking", Napi::Function::New(env, GetBPacking, "getBPacking"));
  exports.Set("setGemmPrecision", Napi::Function::New(env, SetGemmPrecision, "setGemmPrecision"));
  exports.Set("getGemmPrecision", Napi::Function::New(env, GetGemmPrecision, "getGemmPrecision"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
}

}  // namespace itpn
