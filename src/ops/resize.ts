// Bicubic and bilinear resizing of NCHW maps with PyTorch's F.interpolate semantics (align_corners=False,
// cubic coefficient A = −0.75, border taps clamped). Both are separable, so a resize is two matmuls with
// interpolation matrices built here; the gradient comes from matmul.
import type { Backend } from '../engine/backend';
import type { DType } from '../engine/dtype';
import { noGrad } from '../engine/scope';
import { record, Tensor } from '../engine/tensor';
import { tensor } from './creation';
import { matmul } from './matmul';

export type ResizeMode = 'bicubic' | 'bilinear';

const A = -0.75;

function cubicWeights(t: number): [number, number, number, number] {
  // Keys' cubic convolution kernel evaluated at distances 1+t, t, 1−t, 2−t.
  const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| ≤ 1
  const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
}

/**
 * The [outSize, inSize] matrix of a 1-D resize. `scale` is input/output, as PyTorch uses it: in/out for a target
 * size, 1/scale_factor when a scale factor is given.
 */
export function interpolationMatrix(inSize: number, outSize: number, scale: number, mode: ResizeMode): Float64Array {
  const m = new Float64Array(outSize * inSize);
  const clampIdx = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    if (mode === 'bicubic') {
      const real = scale * (o + 0.5) - 0.5; // not clamped at 0 for cubic
      const i0 = Math.floor(real);
      const w = cubicWeights(real - i0);
      for (let k = 0; k < 4; k++) m[o * inSize + clampIdx(i0 - 1 + k)] += w[k];
    } else {
      const real = Math.max(scale * (o + 0.5) - 0.5, 0);
      const i0 = Math.floor(real);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = real - i0;
      m[o * inSize + i0] += 1 - l1;
      m[o * inSize + i1] += l1;
    }
  }
  return m;
}

function matrixTensor(backend: Backend, m: Float64Array, rows: number, cols: number, dtype: DType): Tensor {
  const data = dtype === 'float64' ? m : Float32Array.from(m);
  return tensor(backend, data, [rows, cols]);
}

export interface ResizeOptions {
  mode: ResizeMode;
  /** Target size [H, W]; or give scaleFactor. */
  size?: [number, number];
  /** F.interpolate(scale_factor=...): output floor(in·s), coordinates mapped with 1/s. */
  scaleFactor?: [number, number];
}

export function resize2d(x: Tensor, opts: ResizeOptions): Tensor {
  const [H, W] = x.shape.slice(-2);
  let outH: number, outW: number, scaleH: number, scaleW: number;
  if (opts.size) {
    [outH, outW] = opts.size;
    scaleH = H / outH;
    scaleW = W / outW;
  } else if (opts.scaleFactor) {
    outH = Math.floor(H * opts.scaleFactor[0]);
    outW = Math.floor(W * opts.scaleFactor[1]);
    scaleH = 1 / opts.scaleFactor[0];
    scaleW = 1 / opts.scaleFactor[1];
  } else {
    throw new Error('resize2d needs size or scaleFactor');
  }
  if (opts.mode === 'bicubic' && outH === H && outW === W) return sameSizeBicubic(x, scaleH, scaleW);
  const mh = matrixTensor(x.backend, interpolationMatrix(H, outH, scaleH, opts.mode), outH, H, x.dtype);
  const mw = matrixTensor(x.backend, interpolationMatrix(W, outW, scaleW, opts.mode), outW, W, x.dtype);
  const rows = matmul(x, mw, false, true); // [..., H, outW]
  return matmul(mh, rows); // [..., outH, outW]
}

/**
 * PyTorch quirk kept for parity: at equal input and output size, upsample_bicubic2d's forward still resamples
 * with the given scale (a slight blur when a scale factor is passed), but its backward special-cases equal sizes
 * and passes the gradient through unchanged. Pixel pre-training hits this on every step (spec §1.6).
 */
function sameSizeBicubic(x: Tensor, scaleH: number, scaleW: number): Tensor {
  const [H, W] = x.shape.slice(-2);
  const out = noGrad(() => {
    const mh = matrixTensor(x.backend, interpolationMatrix(H, H, scaleH, 'bicubic'), H, H, x.dtype);
    const mw = matrixTensor(x.backend, interpolationMatrix(W, W, scaleW, 'bicubic'), W, W, x.dtype);
    return matmul(mh, matmul(x, mw, false, true));
  });
  return record(out, 'bicubicSameSize', [x], (g) => [g]);
}
