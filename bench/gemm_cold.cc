// Cold-cache GEMM comparison behind the library choice in native/gemm.cc: OpenBLAS sgemm, oneDNN sgemm and the
// oneDNN matmul primitive on the itpn_base training step's shapes, with a 256 MB sweep between runs so operands come
// from memory as they do inside a step (hot-cache numbers: `itpn bench gemm`).
// Build and run (see BENCHMARKS.md):
//   g++ -O2 -fopenmp bench/gemm_cold.cc -o /tmp/gemm_cold -I/usr/include/x86_64-linux-gnu/openblas-openmp -ldnnl -lopenblas
//   OMP_NUM_THREADS=2 /tmp/gemm_cold
#include <cblas.h>
#include <dnnl.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<float> sweep(64 << 20);  // 256 MB, larger than the last-level cache a VM core sees
void evictCaches() {
  for (size_t i = 0; i < sweep.size(); i += 16) sweep[i] += 1.0f;
}

struct Shape {
  int M, N, K;
  bool transA, transB;
};

/** Mean GFLOP/s over runs 3..reps of fn, each after a cache sweep. */
template <class Fn>
double coldGflops(const Shape& s, Fn fn, int reps = 12) {
  double total = 0.0;
  for (int r = 0; r < reps; r++) {
    evictCaches();
    const double t0 = now();
    fn();
    if (r >= 2) total += now() - t0;
  }
  return 2.0 * s.M * s.N * s.K / (total / (reps - 2)) / 1e9;
}

}  // namespace

int main() {
  using dnnl::memory;
  const Shape shapes[] = {
      {2048, 512, 1568, true, false}, {512, 2048, 1568, true, false}, {1536, 512, 1568, true, false},
      {1024, 256, 6272, true, false}, {2048, 512, 392, true, false},  {1568, 512, 2048, false, false},
      {1568, 2048, 512, false, true}, {392, 512, 2048, false, false}, {392, 2048, 512, false, true},
  };
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::printf("%-22s %10s %10s %10s   (GFLOP/s, cold caches)\n", "M x N x K", "OpenBLAS", "oneDNN sgemm", "primitive");
  for (const Shape& s : shapes) {
    std::vector<float> A(static_cast<size_t>(s.M) * s.K, 0.5f), B(static_cast<size_t>(s.K) * s.N, 0.25f),
        C(static_cast<size_t>(s.M) * s.N);
    const int lda = s.transA ? s.M : s.K, ldb = s.transB ? s.K : s.N;
    const double openblas = coldGflops(s, [&] {
      cblas_sgemm(CblasRowMajor, s.transA ? CblasTrans : CblasNoTrans, s.transB ? CblasTrans : CblasNoTrans, s.M, s.N,
                  s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), s.N);
    });
    const double sgemm = coldGflops(s, [&] {
      dnnl_sgemm(s.transA ? 'T' : 'N', s.transB ? 'T' : 'N', s.M, s.N, s.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f,
                 C.data(), s.N);
    });
    const memory::desc ad({s.M, s.K}, memory::data_type::f32, s.transA ? memory::dims{1, s.M} : memory::dims{s.K, 1});
    const memory::desc bd({s.K, s.N}, memory::data_type::f32, s.transB ? memory::dims{1, s.K} : memory::dims{s.N, 1});
    const memory::desc cd({s.M, s.N}, memory::data_type::f32, memory::dims{s.N, 1});
    dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), engine));
    memory ma(ad, engine, A.data()), mb(bd, engine, B.data()), mc(cd, engine, C.data());
    const double primitive = coldGflops(s, [&] {
      mm.execute(stream, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
      stream.wait();
    });
    char name[64];
    std::snprintf(name, sizeof name, "%dx%dx%d%s%s", s.M, s.N, s.K, s.transA ? " tA" : "", s.transB ? " tB" : "");
    std::printf("%-22s %10.0f %10.0f %10.0f\n", name, openblas, sgemm, primitive);
  }
  return 0;
}
