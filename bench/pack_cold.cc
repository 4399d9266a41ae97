// Cold-cache comparison behind native/pack_b.cc: packing a plain B operand into oneDNN's blocked matmul layout with
// oneDNN's reorder vs packBlocked16x64, on the itpn_base training step's shapes (products of >= 1024 rows with a plain
// B), with a 256 MB sweep before every run so B comes from memory as it does inside a step. Also checks that both
// write the same bytes. Build and run (see BENCHMARKS.md):
//   g++ -O2 -fopenmp -Inative bench/pack_cold.cc native/pack_b.cc -o /tmp/pack_cold -ldnnl
//   OMP_NUM_THREADS=2 /tmp/pack_cold
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "pack_b.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<float> sweep(64 << 20);  // 256 MB, larger than the last-level cache a VM core sees
void evictCaches() {
  for (size_t i = 0; i < sweep.size(); i += 16) sweep[i] += 1.0f;
}

template <class Fn>
double coldMedianMs(Fn fn, int reps = 11) {
  std::vector<double> t;
  for (int r = 0; r < reps; r++) {
    evictCaches();
    const double t0 = now();
    fn();
    t.push_back(now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2] * 1e3;
}

}  // namespace

int main() {
  using dnnl::memory;
  struct Shape {
    int M, N, K;
    bool transA;
  };
  const Shape shapes[] = {{1568, 512, 2048, false}, {1568, 2048, 512, false}, {1568, 512, 1536, false},
                          {2048, 512, 1568, true},  {1536, 512, 392, true},   {1024, 256, 6272, true},
                          {6272, 256, 1024, false}, {1030, 260, 270, false}};
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::printf("%-20s %12s %12s %8s %s\n", "M x N x K", "reorder ms", "ours ms", "ratio", "same bytes");
  for (const Shape& s : shapes) {
    const memory::desc a({s.M, s.K}, memory::data_type::f32, s.transA ? memory::dims{1, s.M} : memory::dims{s.K, 1});
    const memory::desc plain({s.K, s.N}, memory::data_type::f32, memory::dims{s.N, 1});
    const memory::desc c({s.M, s.N}, memory::data_type::f32, memory::dims{s.N, 1});
    const memory::desc any({s.K, s.N}, memory::data_type::f32, memory::format_tag::any);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, any, c), engine);
    const memory::desc packed = pd.weights_desc();
    if (!itpn::isBlocked16x64(packed, s.K, s.N)) {
      std::printf("%dx%dx%d: oneDNN chose another layout; packBlocked16x64 does not apply\n", s.M, s.N, s.K);
      continue;
    }
    dnnl::reorder reorder(dnnl::reorder::primitive_desc(engine, plain, engine, packed));
    std::vector<float> B(static_cast<size_t>(s.K) * s.N);
    for (size_t i = 0; i < B.size(); i++) B[i] = static_cast<float>(rand()) / RAND_MAX - 0.5f;
    const size_t bytes = packed.get_size();
    float* byReorder = static_cast<float*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
    float* byOurs = static_cast<float*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
    std::memset(byReorder, 0x7f, bytes);
    std::memset(byOurs, 0x3f, bytes);
    memory src(plain, engine, B.data()), dst(packed, engine, byReorder);
    const double reorderMs = coldMedianMs([&] {
      reorder.execute(stream, src, dst);
      stream.wait();
    });
    const double oursMs = coldMedianMs([&] { itpn::packBlocked16x64(B.data(), s.N, s.K, s.N, byOurs); });
    const bool same = std::memcmp(byReorder, byOurs, bytes) == 0;
    char name[64];
    std::snprintf(name, sizeof name, "%dx%dx%d%s", s.M, s.N, s.K, s.transA ? " tA" : "");
    std::printf("%-20s %12.3f %12.3f %8.2f %s\n", name, reorderMs, oursMs, reorderMs / oursMs, same ? "yes" : "NO");
    std::free(byReorder);
    std::free(byOurs);
  }
  return 0;
}
