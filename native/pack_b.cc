// B packing for the oneDNN matmul (see pack_b.h). oneDNN's jit reorder does the same job 1.3-3.0× slower on the
// training step's plain, cold operands (bench/pack_cold.cc); here each thread reads its 16-row blocks of B row by row,
// front to back, and scatters each row to the panels. A transposed B (a Linear's weight) stays with the reorder: a
// packer built on 16×16 register transposes measured 1.1-1.6× slower than it.
#include "pack_b.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>

namespace itpn {

bool isBlocked16x64(const dnnl::memory::desc& packed, int64_t K, int64_t N) {
  const dnnl_memory_desc_t& d = packed.data;
  if (d.ndims != 2 || d.data_type != dnnl_f32 || d.format_kind != dnnl_blocked || d.offset0 != 0) return false;
  const auto& b = d.format_desc.blocking;
  const int64_t Kp = (K + 15) / 16 * 16, Np = (N + 63) / 64 * 64;
  return d.dims[0] == K && d.dims[1] == N && d.padded_dims[0] == Kp && d.padded_dims[1] == Np &&
         d.padded_offsets[0] == 0 && d.padded_offsets[1] == 0 && b.inner_nblks == 2 && b.inner_blks[0] == 16 &&
         b.inner_idxs[0] == 0 && b.inner_blks[1] == 64 && b.inner_idxs[1] == 1 && b.strides[0] == 16 * 64 &&
         b.strides[1] == Kp * 64 && packed.get_size() == static_cast<size_t>(Kp * Np) * sizeof(float);
}

#pragma GCC push_options
#pragma GCC target("avx512f")
static void packRows16x64(const float* B, int64_t ldb, int64_t K, int64_t N, int64_t kb0, int64_t kb1, float* dst) {
  const int64_t Kp = (K + 15) / 16 * 16, panels = (N + 63) / 64;
  for (int64_t k = kb0 * 16; k < kb1 * 16; k++) {
    const float* row = k < K ? B + k * ldb : B;  // padding rows: every lane masked off, nothing read
    float* out = dst + (k / 16) * 1024 + (k % 16) * 64;
    for (int64_t nb = 0; nb < panels; nb++, out += Kp * 64) {
      for (int c = 0; c < 4; c++) {
        const int64_t n = nb * 64 + c * 16;
        const __mmask16 m = k >= K || n >= N ? 0 : N - n >= 16 ? 0xffff : static_cast<__mmask16>((1u << (N - n)) - 1);
        _mm512_store_ps(out + c * 16, _mm512_maskz_loadu_ps(m, row + n));
      }
    }
  }
}
#pragma GCC pop_options

void packBlocked16x64(const float* B, int64_t ldb, int64_t K, int64_t N, float* dst) {
  const int64_t blocks = (K + 15) / 16;
  // one contiguous share of 16-row blocks per thread, threaded from kParallelThreshold's 32768 elements (parallelChunks
  // and that constant live in common.h, which needs napi; bench/pack_cold.cc links this file without it)
#pragma omp parallel if (blocks * 16 * N >= 32768)
  {
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num(), share = (blocks + T - 1) / T;
    const int64_t lo = std::min(blocks, t * share), hi = std::min(blocks, lo + share);
    if (lo < hi) packRows16x64(B, ldb, K, N, lo, hi, dst);
  }
}

}  // namespace itpn
