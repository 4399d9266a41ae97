// One (batch, head) block of attention as the AVX-512 kernels see it (attention.cc fills these in).
#pragma once

#include <cstdint>

namespace itpn {

struct AttnBlock {
  const float* q;     // row i at q + i·ld; k and v likewise
  const float* k;
  const float* v;
  int64_t ld;         // 3·C
  const float* bias;  // [N, N] or null
  float* probs;       // [N, N]
  float* out;         // row i at out + i·ldo
  int64_t ldo;        // C
  int64_t N, D;
  float scale;
};

struct AttnBlockGrad {
  const float *q, *k, *v;
  int64_t ld;
  const float* probs;  // [N, N]
  const float* dout;   // row i at dout + i·ldo
  int64_t ldo;
  float* ds;           // [N, N] scratch or dlogits
  float *dq, *dk, *dv; // rows at + i·ld
  int64_t N, D;
  float scale;
};

/**
 * Scratch floats one block needs: a transposed [D, N rounded to 16] block, a [6, N rounded to 16] tile and up to
 * three contiguous [N, D] copies of q/k/v/dO rows (their stride 3·C maps every row to the same few L1 sets).
 */
inline int64_t attentionScratch(int64_t N, int64_t D) {
  const int64_t np = (N + 15) / 16 * 16;
  return (D + 6) * np + 3 * N * D;
}


void attentionBlockForwardAvx512(const AttnBlock& k, float* scratch);
void attentionBlockBackwardAvx512(const AttnBlockGrad& k, float* scratch);

}  // namespace itpn
