// AVX-512 kernels for one (batch, head) block of attention (see attention.cc for the formulas and layouts).
// The block's matrices are small (N ≤ a few hundred, D = 32 or 64), where sgemm spends about half its time packing
// and zeroing (measured with perf); here every product is a register tile (R rows × up to four 16-float vectors)
// accumulated from densely packed rows, with kᵀ (forward) and vᵀ (backward) transposed once per block, and the
// scaling, bias, max and softmax of a row tile done while it is in L1.
// Compiled for AVX-512 only; attention.cc calls it when simdLevel() is 2 and D is a multiple of 16 (D ≤ 128).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <iterator>

#include "attention_block.h"
#include "avx512_mask.h"
#include "simd.h"   // softmaxRowFinite
#include "vmath.h"  // fexp's constants (included before the AVX-512 target, like every other user of the header)

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
// GCC 12 flags the AVX-512 intrinsics' internal _mm512_undefined_ps() as (maybe-)uninitialized (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace itpn {
namespace {

constexpr int kR = 6;  // rows per register tile

/**
 * e^x on 16 lanes for x ≤ 0 or NaN (a logit minus its row's finite maximum): the range reduction and polynomial of
 * fexp in vmath.h. x below the float range (−∞ from a masking bias included) gives 0; NaN propagates through the
 * arithmetic because max returns its second operand when either is NaN.
 */
inline __m512 expNonPositive16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(kExpLo);
  const __m512 xc = _mm512_max_ps(lo, x);
  const __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(kLog2e)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(kLn2Hi), xc);
  r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpTaylor[0]);
#pragma GCC unroll 16
  for (size_t k = 1; k < std::size(kExpTaylor); k++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpTaylor[k]));
  // p·2ⁿ by vscalefps: one rounding, as multiplying by the power built from integer bits (n ≥ −126 after the clamp);
  // 0 where x is below the range, NaN kept (an unordered compare counts as in range)
  return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), p, nf);
}

/** Horizontal reduction of 16 lanes by halving (GCC 12's _mm512_reduce_* intrinsics warn about uninitialised values). */
template <class Op>
inline float reduce16(__m512 v) {
  const __m256 h = Op::f(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 q = Op::f(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = Op::f(q, _mm_movehl_ps(q, q));
  q = Op::f(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}
struct MaxOp {
  static __m256 f(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
  static __m128 f(__m128 a, __m128 b) { return _mm_max_ps(a, b); }
};
struct AddOp {
  static __m256 f(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
  static __m128 f(__m128 a, __m128 b) { return _mm_add_ps(a, b); }
};
inline float hmax16(__m512 v) { return reduce16<MaxOp>(v); }
inline float hsum16(__m512 v) { return reduce16<AddOp>(v); }

/**
 * p = softmax(scale·s + b) for one row of n logits s (b optional). Rows whose maximum is not finite (fully masked,
 * overflow) take the scalar definition in softmaxRowAny. The scaled logits are recomputed (one FMA) rather
 * than stored between the max and exp passes, and vector registers hold the running max and sum (an OpenMP simd
 * reduction kept them on the stack, a store-forwarding stall per row).
 */
inline void softmaxScaledRow(const float* s, const float* b, float scale, float* p, int64_t n) {
  const __m512 sc = _mm512_set1_ps(scale);
  auto logits = [&](int64_t j, __mmask16 k) {
    const __m512 v = _mm512_maskz_loadu_ps(k, s + j);
    return b ? _mm512_fmadd_ps(sc, v, _mm512_maskz_loadu_ps(k, b + j)) : _mm512_mul_ps(sc, v);
  };
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(j, n);
    vmax = _mm512_mask_max_ps(vmax, k, logits(j, k), vmax);  // a NaN lane keeps the running max, as the scalar code
  }
  const float m = hmax16(vmax);
  if (!std::isfinite(m)) {
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 k = tailMask(j, n);
      _mm512_mask_storeu_ps(p + j, k, logits(j, k));
    }
    softmaxRowAny(p, p, n);
    return;
  }
  const __m512 vm = _mm512_set1_ps(m);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(j, n);
    const __m512 e = expNonPositive16(_mm512_sub_ps(logits(j, k), vm));
    _mm512_mask_storeu_ps(p + j, k, e);
    vsum = _mm512_mask_add_ps(vsum, k, vsum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / hsum16(vsum));
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tailMask(j, n);
    _mm512_mask_storeu_ps(p + j, k, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(k, p + j)));
  }
}

/** dst[c·ldd + r] = src[r·lds + c] for r, c < 16, in registers; rows from `rows` on are read as zeros. */
void transpose16(const float* src, int64_t lds, int64_t rows, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
  // interleave 32-bit pairs, then 64-bit pairs, then 128-bit lanes twice
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 8; i++) {
    _mm512_storeu_ps(dst + i * ldd, _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88));
    _mm512_storeu_ps(dst + (i + 8) * ldd, _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd));
  }
}

/**
 * xt[d·np + j] = x[j·ld + d] for j < n (zero for n ≤ j < np, np = n rounded up to 16): a row-strided [n, D] block
 * transposed, D a multiple of 16, in 16×16 register transposes (a scalar scatter here was a tenth of the forward).
 */
void packTransposed(const float* x, int64_t ld, int64_t n, int64_t np, int64_t D, float* xt) {
  for (int64_t j0 = 0; j0 < np; j0 += 16)
    for (int64_t d0 = 0; d0 < D; d0 += 16) transpose16(x + j0 * ld + d0, ld, n - j0, xt + d0 * np + j0, np);
}

/**
 * Copies n rows of D floats at stride ld into a dense [n, D] block. The rows of qkv are 3·C floats apart, a stride
 * that maps them onto a handful of L1 sets, so blocks read many times are packed first.
 */
const float* packRows(const float* x, int64_t ld, int64_t n, int64_t D, float* dst) {
  // vector moves, not a memcpy call per 128- or 256-byte row (the calls cost more than the copying)
  for (int64_t j = 0; j < n; j++)
    for (int64_t d = 0; d < D; d += 16) _mm512_storeu_ps(dst + j * D + d, _mm512_loadu_ps(x + j * ld + d));
  return dst;
}

/**
 * out[r][j] = Σ_d a[r·lda + d] · bt[d·np + j] for r < R rows and 16·NV columns, into a dense tile of row stride np:
 * the "rows times a transposed block" product (q·kᵀ, dO·vᵀ).
 */
template <int R, int NV>
void rowsTimesPackedCols(const float* a, int64_t lda, const float* bt, int64_t np, int64_t D, float* out) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NV; c++) acc[r][c] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; d++) {
    const float* b = bt + d * np;
    __m512 bv[NV];
    for (int c = 0; c < NV; c++) bv[c] = _mm512_loadu_ps(b + 16 * c);
    for (int r = 0; r < R; r++) {
      const __m512 av = _mm512_set1_ps(a[r * lda + d]);
      for (int c = 0; c < NV; c++) acc[r][c] = _mm512_fmadd_ps(av, bv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NV; c++) _mm512_storeu_ps(out + r * np + 16 * c, acc[r][c]);
}

/** rowsTimesPackedCols over all np columns (np a multiple of 16), 64 at a time. */
template <int R>
void rowsTimesPacked(const float* a, int64_t lda, const float* bt, int64_t np, int64_t D, float* out) {
  for (int64_t j0 = 0; j0 < np; j0 += 64) {
    switch ((np - j0) >= 64 ? 4 : (np - j0) / 16) {
      case 4: rowsTimesPackedCols<R, 4>(a, lda, bt + j0, np, D, out + j0); break;
      case 3: rowsTimesPackedCols<R, 3>(a, lda, bt + j0, np, D, out + j0); break;
      case 2: rowsTimesPackedCols<R, 2>(a, lda, bt + j0, np, D, out + j0); break;
      default: rowsTimesPackedCols<R, 1>(a, lda, bt + j0, np, D, out + j0); break;
    }
  }
}

/**
 * out[r·ldo + :D] = alpha · Σ_j w[r·ldw + j·wstep] · x[j·ldx + :D] for r < R: a weighted sum of n strided rows
 * (p·v, ds·k with wstep 1; pᵀ·dO, dsᵀ·q with wstep = N, reading a column of the weights).
 */
template <int R, int DV>
void weightedRows(const float* w, int64_t ldw, int64_t wstep, const float* x, int64_t ldx, int64_t n, float alpha,
                  float* out, int64_t ldo) {
  __m512 acc[R][DV];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < DV; c++) acc[r][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j++) {
    __m512 xv[DV];
    for (int c = 0; c < DV; c++) xv[c] = _mm512_loadu_ps(x + j * ldx + 16 * c);
    for (int r = 0; r < R; r++) {
      const __m512 wv = _mm512_set1_ps(w[r * ldw + j * wstep]);
      for (int c = 0; c < DV; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  const __m512 av = _mm512_set1_ps(alpha);
  for (int r = 0; r < R; r++)
    for (int c = 0; c < DV; c++) _mm512_storeu_ps(out + r * ldo + 16 * c, _mm512_mul_ps(av, acc[r][c]));
}

template <int R>
void weightedRowsD(const float* w, int64_t ldw, int64_t wstep, const float* x, int64_t ldx, int64_t n, float alpha,
                   float* out, int64_t ldo, int64_t D) {
  // D = 16·DV; columns in chunks of up to 64 floats (four vectors) so the tile stays in registers.
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    const int64_t dv = (D - d0) >= 64 ? 4 : (D - d0) / 16;
    switch (dv) {
      case 4: weightedRows<R, 4>(w, ldw, wstep, x + d0, ldx, n, alpha, out + d0, ldo); break;
      case 3: weightedRows<R, 3>(w, ldw, wstep, x + d0, ldx, n, alpha, out + d0, ldo); break;
      case 2: weightedRows<R, 2>(w, ldw, wstep, x + d0, ldx, n, alpha, out + d0, ldo); break;
      default: weightedRows<R, 1>(w, ldw, wstep, x + d0, ldx, n, alpha, out + d0, ldo); break;
    }
  }
}

/** Calls tile.template operator()<R>(row0) over [0, n) in tiles of kR rows and one remainder tile. */
template <class Tile>
void forRowTiles(int64_t n, Tile tile) {
  int64_t i = 0;
  for (; i + kR <= n; i += kR) tile.template run<kR>(i);
  switch (n - i) {
    case 5: tile.template run<5>(i); break;
    case 4: tile.template run<4>(i); break;
    case 3: tile.template run<3>(i); break;
    case 2: tile.template run<2>(i); break;
    case 1: tile.template run<1>(i); break;
    default: break;
  }
}

/** Forward row tile: s = q·kᵀ, p = softmax(scale·s + bias), out = p·v. */
struct ForwardTile {
  const AttnBlock& k;  // k.v dense (k.ld = D); q rows at stride qld
  const float* kt;
  float* tile;
  int64_t np;
  int64_t qld;
  template <int R>
  void run(int64_t i0) {
    const int64_t N = k.N;
    rowsTimesPacked<R>(k.q + i0 * qld, qld, kt, np, k.D, tile);
    for (int r = 0; r < R; r++) {
      const float* b = k.bias ? k.bias + (i0 + r) * N : nullptr;
      softmaxScaledRow(tile + r * np, b, k.scale, k.probs + (i0 + r) * N, N);
    }
    weightedRowsD<R>(k.probs + i0 * N, N, 1, k.v, k.ld, N, 1.0f, k.out + i0 * k.ldo, k.ldo, k.D);
  }
};

/** Backward row tile of ds = p ⊙ (dO·vᵀ − rowsum(p ⊙ dO·vᵀ)) (the row sum in double, as softmaxBackward). */
struct DsTile {
  const AttnBlockGrad& k;
  const float* vt;
  float* tile;
  int64_t np;
  template <int R>
  void run(int64_t i0) {
    const int64_t N = k.N;
    rowsTimesPacked<R>(k.dout + i0 * k.ldo, k.ldo, vt, np, k.D, tile);
    for (int r = 0; r < R; r++) softmaxBackwardRows(k.probs + (i0 + r) * N, tile + r * np, k.ds + (i0 + r) * N, N);
  }
};

/** Backward row tile of dq_i = scale·Σ_j ds_ij k_j, dk_i = scale·Σ_j ds_ji q_j, dv_i = Σ_j p_ji dO_j. */
struct GradTile {
  const AttnBlockGrad& k;  // q, k, dout dense (row stride inLd = D); dq/dk/dv at stride k.ld
  int64_t inLd;
  template <int R>
  void run(int64_t i0) {
    const int64_t N = k.N;
    weightedRowsD<R>(k.ds + i0 * N, N, 1, k.k, inLd, N, k.scale, k.dq + i0 * k.ld, k.ld, k.D);
    weightedRowsD<R>(k.ds + i0, 1, N, k.q, inLd, N, k.scale, k.dk + i0 * k.ld, k.ld, k.D);
    weightedRowsD<R>(k.probs + i0, 1, N, k.dout, k.ldo, N, 1.0f, k.dv + i0 * k.ld, k.ld, k.D);
  }
};

}  // namespace

void attentionBlockForwardAvx512(const AttnBlock& k, float* scratch) {
  const int64_t np = (k.N + 15) / 16 * 16;
  float* kt = scratch;  // [D, np]
  float* tile = kt + k.D * np;
  packTransposed(k.k, k.ld, k.N, np, k.D, kt);
  AttnBlock dense = k;  // v rows packed densely (q rows are read once per tile and stay strided)
  dense.v = packRows(k.v, k.ld, k.N, k.D, tile + 6 * np);
  dense.ld = k.D;
  forRowTiles(k.N, ForwardTile{dense, kt, tile, np, k.ld});
}

void attentionBlockBackwardAvx512(const AttnBlockGrad& k, float* scratch) {
  const int64_t np = (k.N + 15) / 16 * 16, N = k.N, D = k.D;
  float* vt = scratch;  // [D, np]
  float* tile = vt + D * np;
  packTransposed(k.v, k.ld, N, np, D, vt);
  float* dense = tile + 6 * np;
  AttnBlockGrad g = k;  // q, k and dO rows packed densely (outputs keep their strides)
  g.q = packRows(k.q, k.ld, N, D, dense);
  g.k = packRows(k.k, k.ld, N, D, dense + N * D);
  g.dout = packRows(k.dout, k.ldo, N, D, dense + 2 * N * D);
  g.ldo = D;
  forRowTiles(N, DsTile{g, vt, tile, np});
  forRowTiles(N, GradTile{g, D});
}

}  // namespace itpn

#pragma GCC pop_options
