// Position encodings (spec §1.6): the MAE 2-D sin-cos table, the relative-position index, and the runtime
// bicubic resize of the absolute position embedding.
import { fmtShape } from '../../engine/shape';
import type { Tensor } from '../../engine/tensor';
import { concat, permute, reshape, resize2d, slice } from '../../ops';

/**
 * MAE's get_2d_sincos_pos_embed without cls token: [g·g, D]. The first D/2 channels encode the column index and
 * the last D/2 the row index (MAE's grid[0] is the w grid); each half is [sin(p·ω_k)…, cos(p·ω_k)…],
 * ω_k = 10000^(−k/(D/4)).
 */
export function sincos2d(dim: number, grid: number): Float32Array {
  const out = new Float32Array(grid * grid * dim);
  const quarter = dim / 4;
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      const t = row * grid + col;
      [col, row].forEach((p, half) => {
        for (let k = 0; k < quarter; k++) {
          const omega = 1 / Math.pow(10000, k / quarter);
          // MAE computes omega in float64 and the outer product in float64, then casts to float32
          out[t * dim + half * (dim / 2) + k] = Math.sin(p * omega);
          out[t * dim + half * (dim / 2) + quarter + k] = Math.cos(p * omega);
        }
      });
    }
  }
  return out;
}

/** idx(a, b) = (ra − rb + S − 1)·(2S − 1) + (ca − cb + S − 1) over an S×S grid, as int32 [S², S²]. */
export function relativePositionIndex(S: number): Int32Array {
  const N = S * S;
  const idx = new Int32Array(N * N);
  for (let a = 0; a < N; a++) {
    const ra = Math.floor(a / S), ca = a % S;
    for (let b = 0; b < N; b++) {
      const rb = Math.floor(b / S), cb = b % S;
      idx[a * N + b] = (ra - rb + S - 1) * (2 * S - 1) + (ca - cb + S - 1);
    }
  }
  return idx;
}

/**
 * interpolate_pos_encoding: the [1, N0, C] table resized to an Hp×Wp grid with F.interpolate(bicubic,
 * scale_factor=((Hp+0.1)/√N0, (Wp+0.1)/√N0), align_corners=False). Returned as is only when the number of
 * tokens being processed equals N0 and the grid is square. With token dropping the official code compares the
 * *visible* count, so pixel pre-training always resamples the table (a near-identity bicubic blur at the same
 * size); `tokens` reproduces that.
 */
export function interpolatePosEncoding(pos: Tensor, Hp: number, Wp: number, tokens = Hp * Wp): Tensor {
  const [, N0, C] = pos.shape;
  if (N0 === tokens && Hp === Wp) return pos;
  const s = Math.round(Math.sqrt(N0));
  if (s * s !== N0) throw new Error(`absolute_pos_embed ${fmtShape(pos.shape)} is not a square grid`);
  const grid = permute(reshape(pos, [1, s, s, C]), [0, 3, 1, 2]);
  const resized = resize2d(grid, { mode: 'bicubic', scaleFactor: [(Hp + 0.1) / s, (Wp + 0.1) / s] });
  if (resized.shape[2] !== Hp || resized.shape[3] !== Wp) throw new Error(`position embedding resized to ${fmtShape(resized.shape)}, wanted ${Hp}×${Wp}`);
  return reshape(permute(resized, [0, 2, 3, 1]), [1, Hp * Wp, C]);
}

/** CLIP's positional embedding [1 + g², W] (class position first) bicubic-resized to a gh×gw patch grid. */
export function interpolatePosEncodingWithCls(pos: Tensor, gh: number, gw: number): Tensor {
  const [L, W] = pos.shape;
  const g = Math.round(Math.sqrt(L - 1));
  if (g === gh && g === gw) return pos;
  const cls = slice(pos, 0, 0, 1);
  const grid = permute(reshape(slice(pos, 0, 1, L), [1, g, g, W]), [0, 3, 1, 2]);
  const resized = resize2d(grid, { mode: 'bicubic', size: [gh, gw] });
  return concat([cls, reshape(permute(resized, [0, 2, 3, 1]), [gh * gw, W])], 0);
}
