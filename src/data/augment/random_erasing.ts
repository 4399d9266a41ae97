// timm RandomErasing in 'pixel' mode (timm/data/random_erasing.py; Zhong et al., arXiv 1708.04896), applied per
// image to the normalised CHW tensor: with probability p, one rectangle of area U(0.02, 1/3)·HW and log-uniform
// aspect ratio in [0.3, 1/0.3] (10 tries to fit) is filled with N(0, 1) noise per pixel and channel.
import { Mulberry32, type UniformRng } from '../rng';
import { roundHalfEven } from '../transforms';

const MIN_AREA = 0.02;
const MAX_AREA = 1 / 3;
const LOG_ASPECT: [number, number] = [Math.log(0.3), Math.log(1 / 0.3)];
const ATTEMPTS = 10;

/** Uniforms one image can consume: the gate, 4 per attempt, and the seed of the noise. */
export const RANDOM_ERASING_UNIFORMS = 1 + ATTEMPTS * 4 + 1;

export interface ErasedBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Erases in place; returns the box, or null when the gate or all tries failed. */
export function randomErasing(chw: Float32Array, channels: number, H: number, W: number, prob: number, rng: UniformRng): ErasedBox | null {
  if (rng.uniform() > prob) return null;
  const area = H * W;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const target = (MIN_AREA + rng.uniform() * (MAX_AREA - MIN_AREA)) * area;
    const aspect = Math.exp(LOG_ASPECT[0] + rng.uniform() * (LOG_ASPECT[1] - LOG_ASPECT[0]));
    const h = roundHalfEven(Math.sqrt(target * aspect));
    const w = roundHalfEven(Math.sqrt(target / aspect));
    if (w < W && h < H) {
      // random.randint is inclusive at both ends
      const top = Math.floor(rng.uniform() * (H - h + 1));
      const left = Math.floor(rng.uniform() * (W - w + 1));
      const noise = new Mulberry32(Math.floor(rng.uniform() * 4294967296));
      for (let c = 0; c < channels; c++) {
        for (let y = top; y < top + h; y++) {
          for (let x = left; x < left + w; x++) chw[(c * H + y) * W + x] = standardNormal(noise);
        }
      }
      return { top, left, height: h, width: w };
    }
  }
  return null;
}

function standardNormal(rng: UniformRng): number {
  const u1 = rng.uniform(), u2 = rng.uniform();
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}
